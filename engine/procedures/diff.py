"""What a change to a procedure does, in plain words: states, transitions and deadlines added,
removed and changed ("stage_2_response: 5 -> 10 working days").

Both sides are compared as resolved workflows: an overlay (`extends:`) or an authority profile
is first applied to the bundled workflows, so the diff shows what cases would actually run.
A side is a file, a workflow's name (as the registry runs it now), or a version stored in the
database's definitions table (`drp@3f2a9c0d1e4b`, or the version alone).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from engine.errors import DefinitionError, Problem
from engine.language.definition import DeadlineSpec, Workflow, WorkflowSpec

VERSION = re.compile(r"^(?:(?P<workflow>[a-z][a-z0-9_]*)@)?(?P<version>[0-9a-f]{6,32})$")


def resolve(side: str, *, registry_for: Callable[[str | None], Any], authority: str | None,
            stored: Callable[[str], Any]) -> dict[str, Workflow]:
    """The workflows a side of a diff names, by name. `registry_for(authority)` loads a registry;
    `stored(version)` reads a stored definition row (or None)."""
    path = Path(side)
    if path.exists():
        return _from_file(path)
    found = VERSION.match(side)
    if found:
        row = stored(found["version"])
        if row is None or (found["workflow"] and row.workflow != found["workflow"]):
            raise DefinitionError([Problem(side, None, "version", "no such definition version is stored in the database")])
        return {row.workflow: Workflow(WorkflowSpec.model_validate(row.body), origin=f"stored {row.version}")}
    registry = registry_for(authority)
    return {side: registry.get(side)}


def _from_file(path: Path) -> dict[str, Workflow]:
    """A workflow file as it would run beside the bundled workflows (replacing the one of its
    name), or a profile as the bundled workflows run under it."""
    from engine.language.bundled import bundled_dir, workflow_files
    from engine.language.definition import read_located
    from engine.language.profiles import is_profile_file
    from engine.language.registry import Registry

    if is_profile_file(path):
        registry = Registry.load(authority=path.stem, profiles=path.parent)
        touched = set(registry.profile.spec.workflows) | set(registry.profile.spec.new_workflows)
        return {n: registry.get(n) for n in registry.names() if n in touched}
    name = read_located(path).data.get("name")
    beside = [p for p in workflow_files([bundled_dir("workflows")])
              if p.resolve() != path.resolve() and read_located(p).data.get("name") != name]
    registry = Registry.load([*beside, path])
    return {name: registry.get(name)}


def diff(old: Workflow, new: Workflow) -> list[str]:
    """Every difference between two versions of a workflow, one plain sentence each."""
    out: list[str] = []
    o, n = old.spec, new.spec
    if o.initial != n.initial:
        out.append(f"cases start at {n.initial} instead of {o.initial}")
    if o.open.at != n.open.at:
        out.append(f"cases may be opened at: {_names(o.open.at)} -> {_names(n.open.at)}")
    _mapping(out, "role", o.roles, n.roles, lambda a, b: [f"title '{a}' -> '{b}'"] if a != b else [])
    _mapping(out, "data field", o.data, n.data, _field_changes)
    _mapping(out, "state", o.states, n.states, _state_changes)
    old_t, new_t = _transitions(old), _transitions(new)
    lines = [f"transition removed: {_transition(k, old_t[k])}" for k in old_t.keys() - new_t.keys()]
    lines += [f"transition added: {_transition(k, new_t[k])}" for k in new_t.keys() - old_t.keys()]
    for key in old_t.keys() & new_t.keys():
        trig, source, _conds = key
        for part, a, b in zip(("to", "roles", "requires"), old_t[key], new_t[key]):
            if a != b:
                lines.append(f"transition {trig} from {source}: {part} {_value(a)} -> {_value(b)}")
    out.extend(sorted(lines))
    _mapping(out, "deadline", o.deadlines, n.deadlines, _deadline_changes, describe=_deadline_summary)
    return out


def _mapping(out: list[str], kind: str, old: dict, new: dict, changes: Callable[[Any, Any], list[str]],
             describe: Callable[[Any], str] | None = None) -> None:
    """Added, removed and changed entries of one section, in the order the new version lists them."""
    out.extend(f"{kind} removed: {name}" for name in old if name not in new)
    out.extend(f"{kind} added: {name}" + (f" ({describe(new[name])})" if describe else "") for name in new if name not in old)
    for name in new:
        if name in old:
            label = name if kind == "deadline" else f"{kind} {name}"
            out.extend(f"{label}: {c}" for c in changes(old[name], new[name]))


def _field_changes(a, b) -> list[str]:
    changes = []
    if a.type != b.type:
        changes.append(f"type {a.type} -> {b.type}")
    if (a.choices or []) != (b.choices or []):
        gone, added = set(a.choices or []) - set(b.choices or []), set(b.choices or []) - set(a.choices or [])
        changes.append("choices" + (f" removed {_names(sorted(gone))}" if gone else "")
                       + (f" added {_names(sorted(added))}" if added else "") + ("" if gone or added else " reordered"))
    return changes


def _state_changes(a, b) -> list[str]:
    changes = []
    if a.role != b.role:
        changes.append(f"responsible role {a.role or 'none'} -> {b.role or 'none'}")
    if a.final != b.final:
        changes.append("now final" if b.final else "no longer final")
    return changes


def _transitions(wf: Workflow) -> dict[tuple, tuple]:
    """(trigger, source, conditions) -> (destination, roles, requires), '*' expanded."""
    table = {}
    for t in wf.spec.transitions:
        conds = tuple(c.describe() for c in t.conditions)
        for s in wf.sources(t):
            table[(t.trigger, s, conds)] = (wf.dest_of(t, s), tuple(t.roles), tuple(t.requires))
    return table


def _transition(key: tuple, value: tuple) -> str:
    trigger, source, conds = key
    text = f"{trigger} in {source} (the case stays)" if value[0] == source else f"{trigger} from {source} to {value[0]}"
    return text + (f" when {' and '.join(conds)}" if conds else "")


def _due(d: DeadlineSpec) -> str:
    unit = d.due.unit.value if hasattr(d.due.unit, "value") else str(d.due.unit)
    words = unit.replace("_", " ")
    if abs(d.due.amount) == 1:
        words = words[:-1]
    return f"{d.due.amount} {words}"


def _deadline_summary(d: DeadlineSpec) -> str:
    where = f"in {_names(d.states)}" if d.states else f"opened by {_names(d.opened_by)}"
    return f"{_due(d)} from {d.anchor}, {where}"


def _deadline_changes(a: DeadlineSpec, b: DeadlineSpec) -> list[str]:
    changes = []
    if (a.due.amount, a.due.unit) != (b.due.amount, b.due.unit):
        if a.due.unit == b.due.unit:
            changes.append(f"{a.due.amount} -> {_due(b)}")
        else:
            changes.append(f"{_due(a)} -> {_due(b)}")
    if a.anchor != b.anchor:
        changes.append(f"counted from {a.anchor} -> {b.anchor}")
    if a.due.anchor_is_day_one != b.due.anchor_is_day_one:
        changes.append("the anchor is now day 1" if b.due.anchor_is_day_one else "the anchor is now day 0")
    for key, label in (("states", "open in"), ("opened_by", "opened by"), ("closed_by", "closed by"),
                       ("cancelled_by", "cancelled by"), ("remind", "reminders"), ("late_requires", "late requires")):
        if list(getattr(a, key)) != list(getattr(b, key)):
            changes.append(f"{label} {_names(getattr(a, key))} -> {_names(getattr(b, key))}")
    if [c.describe() for c in a.when] != [c.describe() for c in b.when]:
        changes.append(f"only when {_names([c.describe() for c in a.when])} -> {_names([c.describe() for c in b.when])}")
    ea, eb = a.on_expiry, b.on_expiry
    if (ea and ea.trigger) != (eb and eb.trigger):
        changes.append(f"on expiry fires {(ea and ea.trigger) or 'nothing'} -> {(eb and eb.trigger) or 'nothing'}")
    if (ea.notify if ea else []) != (eb.notify if eb else []):
        changes.append(f"on expiry notifies {_names(ea.notify if ea else [])} -> {_names(eb.notify if eb else [])}")
    for key in ("title", "role"):
        if getattr(a, key) != getattr(b, key):
            changes.append(f"{key} {_quoted(getattr(a, key))} -> {_quoted(getattr(b, key))}")
    if a.source != b.source:
        changes.append("source changed: " + b.source)
    return changes


def _names(items) -> str:
    items = list(items)
    return ", ".join(str(i) for i in items) if items else "none"


def _quoted(v: str | None) -> str:
    return "none" if v is None else f"'{v}'"


def _value(v: Any) -> str:
    return _names(v) if isinstance(v, tuple) else str(v)
