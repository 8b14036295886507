"""The definition language: YAML -> validated, immutable workflow definition.

A definition is checked twice. The schema (pydantic, unknown keys forbidden) catches shape
errors; `_semantic_problems` catches what a schema cannot: unknown states and triggers,
unreachable states, dead ends, an expiry trigger that is not valid where the deadline runs.
Every problem names the file, line and field to edit.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints, ValidationError,
                      model_serializer, model_validator)

from engine.time.calendar import Unit, parse_offset
from engine.errors import DefinitionError, Problem
from engine.language.yamlsource import LineMap, dotted, load_yaml_file, locate

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
SYSTEM_ROLE = "system"
ANY_OPEN_STATE = "*"
OPEN_EVENT = "open"  # the event that opens a case; deadlines may be opened_by it


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """A piece of case data the workflow knows about; undeclared data is refused."""

    type: Literal["text", "choice", "date", "integer", "boolean"]
    description: str = ""
    choices: list[str] | None = None

    @model_validator(mode="after")
    def _choices_for_choice(self) -> "FieldSpec":
        if self.type == "choice" and not self.choices:
            raise ValueError("a field of type 'choice' needs a non-empty 'choices' list")
        if self.type != "choice" and self.choices is not None:
            raise ValueError(f"'choices' is only allowed on type 'choice', not '{self.type}'")
        return self


_OPERATORS = ("equals", "not_equals", "in", "not_in", "is_set", "at_least", "at_most")


class Condition(_Strict):
    """A declarative test on case data: one field, one operator. No code is evaluated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    field: Name
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    is_set: StrictBool | None = None
    at_least: StrictInt | None = None
    at_most: StrictInt | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> "Condition":
        used = self.operators()
        if len(used) != 1:
            raise ValueError(
                f"a condition needs exactly one of {', '.join(_OPERATORS)}; found {len(used)}"
            )
        return self

    @model_serializer(mode="plain")
    def _as_written(self) -> dict[str, Any]:
        """Only the operator in use, so a stored definition reloads and hashes the same."""
        return {"field": self.field, self.operator: self.operand}

    def operators(self) -> list[str]:
        names = {"in_": "in"}
        return [names.get(k, k) for k in self.model_fields_set if k != "field"]

    @property
    def operator(self) -> str:
        return self.operators()[0]

    @property
    def operand(self) -> Any:
        return getattr(self, "in_" if self.operator == "in" else self.operator)

    def holds(self, data: dict[str, Any]) -> bool:
        value = data.get(self.field)
        op, operand = self.operator, self.operand
        if op == "equals":
            return value == operand
        if op == "not_equals":
            return value != operand
        if op == "in":
            return value in operand
        if op == "not_in":
            return value not in operand
        if op == "at_least":
            return isinstance(value, int) and value >= operand
        if op == "at_most":
            return isinstance(value, int) and value <= operand
        return (value is not None) == operand

    def describe(self) -> str:
        if self.operator == "is_set":
            return f"{self.field} {'is set' if self.operand else 'is not set'}"
        symbol = {"equals": "=", "not_equals": "!=", "in": "in", "not_in": "not in", "at_least": ">=", "at_most": "<="}[self.operator]
        return f"{self.field} {symbol} {self.operand!r}"


class StateSpec(_Strict):
    description: str = ""
    role: Name | None = None
    final: StrictBool = False


class StartSpec(_Strict):
    """Open a case of another workflow in the same transaction (e.g. a red RAG rating opens a DRP)."""

    workflow: Name
    case_ref: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    state: Name | None = None
    when: list[Condition] = []
    data: dict[Name, Any] = {}


class TransitionSpec(_Strict):
    trigger: Name
    source: str | list[str]
    dest: str | None = None
    description: str = ""
    conditions: list[Condition] = []
    roles: list[Name] = []
    requires: list[Name] = []
    increments: list[Name] = []
    starts: "StartSpec | None" = None

    @property
    def internal(self) -> bool:
        """No dest: the case stays where it is and no state is exited or entered."""
        return self.dest is None


class Due(_Strict):
    amount: StrictInt = Field(ge=-3660, le=3660)
    unit: Unit
    anchor: str | None = None
    anchor_is_day_one: StrictBool = False


class OnExpiry(_Strict):
    trigger: Name | None = None
    data: dict[str, Any] = {}
    notify: list[Name] = []

    @model_validator(mode="after")
    def _does_something(self) -> "OnExpiry":
        if self.trigger is None and not self.notify:
            raise ValueError("on_expiry needs a 'trigger', a 'notify' list, or both")
        return self


class DeadlineSpec(_Strict):
    title: str
    description: str = ""
    state: str | list[str] | None = None
    opened_by: list[Name] = []
    closed_by: list[Name] = []
    cancelled_by: list[Name] = []
    when: list[Condition] = []
    due: Due
    on_expiry: OnExpiry | None = None
    remind: list[str] = []
    late_requires: list[Name] = []
    role: Name | None = None
    source: Annotated[str, StringConstraints(min_length=3, strip_whitespace=True)]

    @property
    def states(self) -> list[str]:
        if self.state is None:
            return []
        return [self.state] if isinstance(self.state, str) else list(self.state)

    @property
    def anchor(self) -> str:
        return self.due.anchor or ("entry" if self.state is not None else "event")


class OpenSpec(_Strict):
    at: list[str] = []
    requires: list[Name] = []


class WorkflowSpec(_Strict):
    name: Name
    title: str
    description: str = ""
    initial: str
    open: OpenSpec = OpenSpec()
    roles: dict[Name, str] = {}
    data: dict[Name, FieldSpec] = {}
    states: dict[Name, StateSpec]
    transitions: list[TransitionSpec]
    deadlines: dict[Name, DeadlineSpec] = {}


# ---------------------------------------------------------------------------------------------
# the validated definition


@dataclass(frozen=True)
class Workflow:
    """A validated workflow definition, identified by the hash of its content (its version)."""

    spec: WorkflowSpec
    origin: str = ""
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def canonical(self) -> dict[str, Any]:
        return json.loads(self.spec.model_dump_json(by_alias=True, exclude_defaults=False))

    @cached_property
    def version(self) -> str:
        text = json.dumps(self.canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @cached_property
    def final_states(self) -> frozenset[str]:
        return frozenset(n for n, s in self.spec.states.items() if s.final)

    def sources(self, transition: TransitionSpec) -> list[str]:
        """The states a transition leaves from, with '*' expanded to every non-final state."""
        raw = [transition.source] if isinstance(transition.source, str) else transition.source
        if ANY_OPEN_STATE in raw:
            return [s for s in self.spec.states if s not in self.final_states]
        return list(raw)

    @cached_property
    def transitions_from(self) -> dict[str, list[TransitionSpec]]:
        table: dict[str, list[TransitionSpec]] = {s: [] for s in self.spec.states}
        for t in self.spec.transitions:
            for s in self.sources(t):
                if s in table:
                    table[s].append(t)
        return table

    def valid_triggers(self, state: str) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.transitions_from.get(state, []):
            seen[t.trigger] = None
        return list(seen)

    def dest_of(self, transition: TransitionSpec, source: str) -> str:
        return source if transition.internal else transition.dest  # type: ignore[return-value]

    @cached_property
    def openable_states(self) -> list[str]:
        return list(dict.fromkeys([self.spec.initial, *self.spec.open.at]))

    @cached_property
    def triggers(self) -> list[str]:
        return list(dict.fromkeys(t.trigger for t in self.spec.transitions))


# ---------------------------------------------------------------------------------------------
# loading


def load_workflow_file(path: Path) -> Workflow:
    """Load and validate one self-contained workflow file (`Registry.load` resolves `extends:`)."""
    return validate(read_located(path))


@dataclass
class Located:
    """Raw YAML data with its line map: what overlays merge before validation."""

    data: Any
    lines: LineMap
    file: str


def read_located(path: Path) -> Located:
    data, lines = load_yaml_file(path)
    if not isinstance(data, dict):
        raise DefinitionError([Problem(str(path), 1, "", "a workflow must be a mapping")])
    return Located(data, lines, str(path))


def apply_overlay(base: Located, overlay: Located, prefix: tuple = ()) -> tuple[Located, list[Problem]]:
    """Merge an overlay onto a base: mappings merge by key, `transitions` are appended,
    `remove:` drops states (with their transitions and deadlines), deadlines or triggers.

    `prefix` is where the overlay sits in its own file (a profile nests workflow overlays).
    Problems with `remove:` are returned beside the merge (which skips what it cannot remove),
    so that the merged definition is still checked and every problem reported in one run.
    """
    data = copy.deepcopy(base.data)
    lines: LineMap = dict(base.lines)
    ov = overlay.data
    if not isinstance(ov, dict):
        file, line = locate(overlay.lines, prefix, overlay.file)
        raise DefinitionError([Problem(file, line, dotted(prefix), "an overlay must be a mapping")])

    def ov_line(path: tuple) -> tuple[str, int]:
        return locate(overlay.lines, prefix + path, overlay.file)

    problems: list[Problem] = []
    remove = ov.get("remove") or {}
    if not isinstance(remove, dict):
        file, line = ov_line(("remove",))
        problems.append(Problem(file, line, "remove", "must be a mapping of states/deadlines/triggers lists"))
        remove = {}
    for key in remove:
        if key not in ("states", "deadlines", "triggers"):
            file, line = ov_line(("remove", key))
            problems.append(Problem(file, line, f"remove.{key}", "unknown key; expected states, deadlines or triggers"))
    def names(kind: str) -> set:
        value = remove.get(kind) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            file, line = ov_line(("remove", kind))
            problems.append(Problem(file, line, f"remove.{kind}", "must be a list of names"))
            return set()
        return set(value)

    gone_states, gone_triggers, gone_deadlines = names("states"), names("triggers"), names("deadlines")
    for kind, names, table in (
        ("states", gone_states, data.get("states", {})),
        ("deadlines", gone_deadlines, data.get("deadlines", {})),
    ):
        for n in sorted(names - set(table)):
            file, line = ov_line(("remove", kind))
            problems.append(Problem(file, line, f"remove.{kind}", f"'{n}' is not in the base workflow"))
    for n in sorted(gone_triggers - {t.get("trigger") for t in data.get("transitions", []) if isinstance(t, dict)}):
        file, line = ov_line(("remove", "triggers"))
        problems.append(Problem(file, line, "remove.triggers", f"'{n}' is not a trigger of the base workflow"))
    gone_states &= set(data.get("states", {}))
    gone_deadlines &= set(data.get("deadlines", {}))

    for s in gone_states:
        del data["states"][s]
    if isinstance(data.get("open"), dict) and isinstance(data["open"].get("at"), list):
        data["open"] = {**data["open"], "at": [s for s in data["open"]["at"] if s not in gone_states]}
    kept: list[tuple[int, dict]] = []
    for i, t in enumerate(data.get("transitions", [])):
        if not isinstance(t, dict) or t.get("trigger") in gone_triggers or t.get("dest") in gone_states:
            continue
        src = t.get("source")
        if isinstance(src, list):
            src = [s for s in src if s not in gone_states]
            if not src:
                continue
            t = {**t, "source": src}
        elif src in gone_states:
            continue
        kept.append((i, t))
    for name, d in list(data.get("deadlines", {}).items()):
        states = d.get("state") if isinstance(d, dict) else None
        states = [states] if isinstance(states, str) else (states or [])
        if name in gone_deadlines or (states and all(s in gone_states for s in states)):
            del data["deadlines"][name]
        elif states and any(s in gone_states for s in states):
            d["state"] = [s for s in states if s not in gone_states]

    # renumber the kept transitions' line entries, then append the overlay's
    new_lines: LineMap = {p: loc for p, loc in lines.items() if not (p and p[0] == "transitions")}
    for new_i, (old_i, _) in enumerate(kept):
        for p, loc in lines.items():
            if len(p) >= 2 and p[0] == "transitions" and p[1] == old_i:
                new_lines[("transitions", new_i) + p[2:]] = loc
    transitions = [t for _, t in kept]
    added = ov.get("transitions") or []
    if not isinstance(added, list):
        file, line = ov_line(("transitions",))
        problems.append(Problem(file, line, "transitions", "must be a list of transitions to add"))
        added = []
    for j, t in enumerate(added):
        for p, loc in overlay.lines.items():
            if p[: len(prefix) + 2] == prefix + ("transitions", j):
                new_lines[("transitions", len(transitions)) + p[len(prefix) + 2 :]] = loc
        transitions.append(t)
    data["transitions"] = transitions
    if ("transitions",) not in new_lines:
        new_lines[("transitions",)] = lines.get(("transitions",), (base.file, 1))

    def merge(target: dict, source: dict, path: tuple) -> None:
        for key, value in source.items():
            here = path + (key,)
            if not path and key in ("transitions", "remove", "extends"):
                continue
            for p, loc in overlay.lines.items():
                if p[: len(prefix) + len(here)] == prefix + here:
                    new_lines[p[len(prefix):]] = loc
            if isinstance(value, dict) and isinstance(target.get(key), dict) and key != "on_expiry" or (
                key == "on_expiry" and isinstance(value, dict) and isinstance(target.get(key), dict)
            ):
                merge(target[key], value, here)
            else:
                target[key] = copy.deepcopy(value)

    merge(data, ov, ())
    return Located(data, new_lines, overlay.file), problems


def validate(located: Located) -> Workflow:
    """Schema check, then semantic check; raise one DefinitionError listing every problem.

    When the schema refuses parts of the file, the semantic checks still run on the rest (with
    the refused parts set aside), so one run reports every problem rather than one phase's."""
    data, lines, file = located.data, located.lines, located.file
    problems: list[Problem] = []
    gaps = _Gaps()
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = _data_path(data, err["loc"])
            f, line = locate(lines, path, file)
            problems.append(Problem(f, line, dotted(path), _schema_message(err, path)))
        spec = _without_refused_parts(data, exc.errors(), gaps)
    if spec is not None:
        for path, message in _semantic_problems(Workflow(spec, origin=file), gaps):
            f, line = locate(lines, path, file)
            problems.append(Problem(f, line, dotted(path), message))
    if problems:
        raise DefinitionError(_dedupe(problems))
    return Workflow(spec, origin=file)


def _schema_message(err: Any, path: tuple) -> str:
    if err["type"] == "extra_forbidden":
        return f"unknown key '{path[-1]}'"
    if err["type"] == "missing":
        return "is required"
    if err["type"] == "string_pattern_mismatch":
        return f"'{err['input']}' is not a valid name: use lower_snake_case (a-z, 0-9, _), starting with a letter"
    if err["type"] == "int_parsing":
        return f"'{err['input']}' is not a whole number"
    if err["type"] == "int_type":
        return "must be a whole number, written without quotes"
    if err["type"] == "bool_type":
        return "must be true or false, written without quotes"
    return err["msg"].removeprefix("Value error, ")


@dataclass
class _Gaps:
    """Names the schema refused, so the semantic checks do not report their consequences again."""

    states: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    triggers: set[str] = field(default_factory=set)
    deadlines: set[str] = field(default_factory=set)
    kept_transitions: list[int] | None = None  # original index of each transition left
    no_initial: bool = False
    partial: bool = False  # states, transitions or opening states are incomplete: skip reachability


def _without_refused_parts(data: dict, errors: list, gaps: _Gaps) -> WorkflowSpec | None:
    """The definition minus every part the schema refused, or None when too little is left."""
    data = copy.deepcopy(data)
    dropped_transitions: set[int] = set()
    for err in errors:
        path = _data_path(data, err["loc"]) if err["type"] != "missing" or len(err["loc"]) > 1 else tuple(err["loc"])
        if not path:
            return None
        top, key = path[0], (path[1] if len(path) > 1 else None)
        if top in ("name", "title", "description") and len(path) == 1:
            data[top] = "unnamed" if top == "name" else ""
        elif top == "initial" and len(path) == 1:
            if not isinstance(data.get("states"), dict) or not data["states"]:
                return None
            data["initial"], gaps.no_initial, gaps.partial = next(iter(data["states"])), True, True
        elif top == "transitions" and isinstance(key, int):
            dropped_transitions.add(key)
            trigger = data["transitions"][key].get("trigger") if isinstance(data["transitions"][key], dict) else None
            if isinstance(trigger, str):
                gaps.triggers.add(trigger)
            gaps.partial = True
        elif top == "transitions" and key is None and "transitions" not in data:
            data["transitions"], gaps.partial = [], True
        elif top in ("states", "data", "roles", "deadlines") and key is not None and isinstance(data.get(top), dict):
            data[top].pop(key, None)
            {"states": gaps.states, "data": gaps.fields, "roles": gaps.roles, "deadlines": gaps.deadlines}.get(top, set()).add(key)
            gaps.partial = gaps.partial or top == "states"
        elif top == "open":
            data["open"], gaps.partial = {}, True
        elif len(path) == 1 and err["type"] == "extra_forbidden":
            data.pop(top, None)
        else:
            return None
    if dropped_transitions:
        gaps.kept_transitions = [i for i in range(len(data["transitions"])) if i not in dropped_transitions]
        data["transitions"] = [data["transitions"][i] for i in gaps.kept_transitions]
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError:
        return None


def _data_path(data: Any, loc: tuple) -> tuple:
    """Pydantic locations include union member tags; keep only the parts that index the data."""
    path: list[Any] = []
    node = data
    for part in loc:
        if part == "in_":
            part = "in"
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not any(c in part for c in "[]-,"):
            path.append(part)  # a missing or unknown key: name it
            node = None
    return tuple(path)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# ---------------------------------------------------------------------------------------------
# semantic checks


def _semantic_problems(wf: Workflow, gaps: _Gaps | None = None) -> list[tuple[tuple, str]]:
    gaps = gaps or _Gaps()
    spec = wf.spec

    def written(i: int) -> int:
        """A transition's index in the file, where refused transitions were set aside."""
        return gaps.kept_transitions[i] if gaps.kept_transitions is not None else i

    out: list[tuple[tuple, str]] = []
    states = spec.states
    roles = set(spec.roles) | {SYSTEM_ROLE}
    fields = spec.data
    triggers = set(wf.triggers)

    def check_state(name: str, path: tuple) -> bool:
        if name in gaps.states:
            return False
        if name not in states:
            out.append((path, f"unknown state '{name}' (states: {', '.join(states)})"))
            return False
        return True

    def check_role(name: str | None, path: tuple) -> None:
        if name is not None and name not in roles and name not in gaps.roles:
            out.append((path, f"unknown role '{name}' (declare it under 'roles'; known: {', '.join(sorted(roles))})"))

    def check_field(name: str, path: tuple) -> FieldSpec | None:
        if name in gaps.fields:
            return None
        if name not in fields:
            known = ", ".join(fields) or "none declared"
            out.append((path, f"unknown data field '{name}' (declare it under 'data'; known: {known})"))
            return None
        return fields[name]

    def check_condition(cond: Condition, path: tuple) -> None:
        spec_ = check_field(cond.field, path + ("field",))
        if spec_ is None or cond.operator == "is_set":
            return
        if cond.operator in ("at_least", "at_most"):
            if spec_.type != "integer":
                out.append((path + (cond.operator,), f"'{cond.operator}' needs an integer field; '{cond.field}' is {spec_.type}"))
            return
        values = cond.operand if cond.operator in ("in", "not_in") else [cond.operand]
        for v in values:
            problem = value_problem(spec_, v)
            if problem:
                out.append((path + (cond.operator,), f"'{v}' {problem} for field '{cond.field}'"))

    def check_trigger(name: str, path: tuple) -> None:
        if name not in triggers and name not in gaps.triggers:
            out.append((path, f"unknown trigger '{name}' (triggers: {', '.join(wf.triggers)})"))

    if not states:
        out.append((("states",), "a workflow needs at least one state"))
        return out
    if not wf.final_states and not gaps.states:
        out.append((("states",), "a workflow needs at least one final state"))
    if not gaps.no_initial and check_state(spec.initial, ("initial",)) and spec.initial in wf.final_states:
        out.append((("initial",), f"the initial state '{spec.initial}' is final"))
    for i, s in enumerate(spec.open.at):
        if check_state(s, ("open", "at", i)) and s in wf.final_states:
            out.append((("open", "at", i), f"a case cannot be opened at final state '{s}'"))
    for i, f in enumerate(spec.open.requires):
        check_field(f, ("open", "requires", i))
    for name, st in states.items():
        check_role(st.role, ("states", name, "role"))

    seen: dict[tuple, int] = {}
    for i, t in enumerate(spec.transitions):
        path = ("transitions", written(i))
        if t.trigger == OPEN_EVENT:
            out.append((path + ("trigger",), f"'{OPEN_EVENT}' is reserved for opening a case; deadlines may use it in opened_by"))
        raw = [t.source] if isinstance(t.source, str) else t.source
        if not raw:
            out.append((path + ("source",), "needs at least one source state"))
        for j, s in enumerate(raw):
            if s == ANY_OPEN_STATE:
                continue
            sp = path + ("source",) if isinstance(t.source, str) else path + ("source", j)
            if check_state(s, sp) and s in wf.final_states:
                out.append((sp, f"'{s}' is final: no transition may leave it"))
        if t.dest is not None:
            check_state(t.dest, path + ("dest",))
        for j, r in enumerate(t.roles):
            check_role(r, path + ("roles", j))
        for j, f in enumerate(t.requires):
            check_field(f, path + ("requires", j))
        for j, c in enumerate(t.conditions):
            check_condition(c, path + ("conditions", j))
        for j, f in enumerate(t.increments):
            fs = check_field(f, path + ("increments", j))
            if fs is not None and fs.type != "integer":
                out.append((path + ("increments", j), f"only integer fields can be incremented; '{f}' is {fs.type}"))
        if t.starts is not None:
            for j, c in enumerate(t.starts.when):
                check_condition(c, path + ("starts", "when", j))
            for key, value in t.starts.data.items():
                for ref in placeholders(value):
                    check_field(ref, path + ("starts", "data", key))
            for ref in placeholders(t.starts.case_ref):
                if ref not in ("case_ref", "seq", "trigger"):
                    out.append((path + ("starts", "case_ref"), f"unknown placeholder '{{{ref}}}' (use case_ref, seq, trigger)"))
        for s in wf.sources(t):
            key = (t.trigger, s)
            conds = tuple(c.describe() for c in t.conditions)
            if (key, conds) in seen:
                first = seen[(key, conds)]
                out.append(
                    (path, f"trigger '{t.trigger}' from '{s}' is already defined by transitions[{written(first)}] "
                     "with the same conditions: the second could never fire")
                )
            else:
                seen[(key, conds)] = i

    for name, d in spec.deadlines.items():
        path = ("deadlines", name)
        tied = d.state is not None
        if tied == bool(d.opened_by):
            out.append((path, "a deadline needs either 'state' (open while in it) or 'opened_by' triggers, not both"))
            continue
        open_in: set[str] = set()
        if tied:
            for j, s in enumerate(d.states):
                sp = path + ("state",) if isinstance(d.state, str) else path + ("state", j)
                if check_state(s, sp):
                    if s in wf.final_states:
                        out.append((sp, f"'{s}' is final: a deadline cannot run there"))
                    else:
                        open_in.add(s)
        else:
            for j, trig in enumerate(d.opened_by):
                if trig == OPEN_EVENT:
                    open_in.update(wf.openable_states)
                    continue
                check_trigger(trig, path + ("opened_by", j))
                for t in spec.transitions:
                    if t.trigger == trig:
                        for s in wf.sources(t):
                            open_in.add(wf.dest_of(t, s))
            open_in -= wf.final_states
        for key in ("closed_by", "cancelled_by"):
            for j, trig in enumerate(getattr(d, key)):
                check_trigger(trig, path + (key, j))
        for j, c in enumerate(d.when):
            check_condition(c, path + ("when", j))
        if d.due.anchor_is_day_one and d.due.amount < 1:
            out.append((path + ("due", "anchor_is_day_one"), "counting the anchor as day 1 needs an amount of at least 1"))
        anchor = d.anchor
        if anchor == "entry" and not tied:
            out.append((path + ("due", "anchor"), "anchor 'entry' needs a state-tied deadline; use 'event' or 'data.<field>'"))
        elif anchor.startswith("data."):
            fs = check_field(anchor[5:], path + ("due", "anchor"))
            if fs is not None and fs.type != "date":
                out.append((path + ("due", "anchor"), f"anchor field '{anchor[5:]}' must be of type date, not {fs.type}"))
        elif anchor.startswith("deadline."):
            if anchor[len("deadline."):] not in gaps.deadlines:  # a refused deadline is reported already
                out.extend(_deadline_anchor_problems(spec, name, d, path + ("due", "anchor")))
        elif anchor not in ("entry", "event"):
            out.append((path + ("due", "anchor"),
                        f"unknown anchor '{anchor}' (use entry, event, data.<field> or deadline.<name>)"))
        if anchor in ("entry", "event") and d.due.amount < 0:
            out.append((path + ("due", "amount"),
                        f"a negative amount counts back from the {anchor}, so the deadline would expire as soon as "
                        "it opens; count back only from a date field (anchor: data.<field>)"))
        for j, r in enumerate(d.remind):
            try:
                amount, _unit = parse_offset(r)
                if amount <= 0:
                    raise ValueError(f"a reminder is a positive offset before the due date, not '{r}'")
            except ValueError as exc:
                out.append((path + ("remind", j), str(exc)))
        check_role(d.role, path + ("role",))
        for j, f in enumerate(d.late_requires):
            check_field(f, path + ("late_requires", j))
        if d.on_expiry is not None:
            for j, r in enumerate(d.on_expiry.notify):
                check_role(r, path + ("on_expiry", "notify", j))
            for key, value in d.on_expiry.data.items():
                fs = check_field(key, path + ("on_expiry", "data", key))
                problem = value_problem(fs, value) if fs is not None else None
                if problem:
                    out.append((path + ("on_expiry", "data", key), f"{problem} for field '{key}'"))
            trig = d.on_expiry.trigger
            if trig is not None:
                if trig not in triggers:
                    check_trigger(trig, path + ("on_expiry", "trigger"))
                elif not gaps.partial:
                    for i, t in enumerate(spec.transitions):
                        if t.trigger != trig or not open_in & set(wf.sources(t)):
                            continue
                        for f in t.requires:
                            if f not in d.on_expiry.data:
                                out.append(
                                    (path + ("on_expiry", "trigger"),
                                     f"trigger '{trig}' (transitions[{i}]) requires '{f}', which an expiry does not "
                                     f"supply, so it would fail every time: set it under on_expiry.data")
                                )
                    for s in sorted(open_in):
                        if trig not in wf.valid_triggers(s):
                            out.append(
                                (path + ("on_expiry", "trigger"),
                                 f"trigger '{trig}' is not valid in state '{s}', where this deadline can be open "
                                 f"(valid there: {', '.join(wf.valid_triggers(s)) or 'none'})")
                            )

    # reachability and dead ends (meaningless while the starting states or transitions are unknown)
    if gaps.partial or any(s not in states for s in wf.openable_states):
        return out
    reached = set()
    queue = deque(s for s in wf.openable_states if s in states)
    while queue:
        s = queue.popleft()
        if s in reached:
            continue
        reached.add(s)
        for t in wf.transitions_from.get(s, []):
            nxt = wf.dest_of(t, s)
            if nxt in states and nxt not in reached:
                queue.append(nxt)
    for name in states:
        if name not in reached:
            out.append((("states", name), f"state '{name}' cannot be reached from the initial or opening states"))
        elif name not in wf.final_states:
            leaving = [t for t in wf.transitions_from.get(name, []) if wf.dest_of(t, name) != name]
            if not leaving:
                out.append((("states", name), f"state '{name}' is not final but no transition leaves it"))
    return out


def placeholders(value: Any) -> list[str]:
    """The {field} names in a template string."""
    import string

    if not isinstance(value, str):
        return []
    return [name for _, name, _, _ in string.Formatter().parse(value) if name]


def value_problem(spec: FieldSpec, value: Any) -> str | None:
    """Why a value does not fit the field, or None when it does: the rule, never the value
    (case data is personal), e.g. "is not one of a, b"."""
    if spec.type == "choice":
        if value not in (spec.choices or []):
            return f"is not one of {', '.join(spec.choices or [])}"
    elif spec.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return "is not a whole number"
    elif spec.type == "boolean":
        if not isinstance(value, bool):
            return "is not true or false"
    elif spec.type == "date":
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            return "is not a date (YYYY-MM-DD)"
    elif spec.type == "text":
        if not isinstance(value, str):
            return "is not text"
    return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file, for editors."""
    schema = WorkflowSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "caseclock workflow definition"
    schema.setdefault("properties", {})["extends"] = {"type": "string", "description": "Name of a base workflow this one overlays"}
    schema["properties"]["remove"] = {
        "type": "object",
        "properties": {k: {"type": "array", "items": {"type": "string"}} for k in ("states", "deadlines", "triggers")},
        "additionalProperties": False,
    }
    return schema


_CALENDAR_UNITS = ("days", "weeks", "months")


def _deadline_anchor_problems(spec: "WorkflowSpec", name: str, d: "DeadlineSpec", path: tuple) -> list:
    """`anchor: deadline.<other>` counts from the due date of another deadline opened by the same
    event (e.g. "plan the review 20 working days before it goes out of timescale"). The other
    deadline must be open whenever this one opens, so it is opened by exactly the same triggers
    under no more conditions, and its date must be one no calendar change can move (counted in
    calendar units from the event), so the stored anchor stays true on a recompute."""
    other_name = d.anchor[len("deadline."):]
    other = spec.deadlines.get(other_name)
    if other is None:
        return [(path, f"anchor deadline '{other_name}' is not a deadline of this workflow")]
    if other_name == name:
        return [(path, "a deadline cannot be anchored on itself")]
    problems = []
    if d.state is not None or other.state is not None:
        problems.append((path, "a deadline anchor joins two deadlines opened by triggers ('opened_by'), not by states"))
    elif sorted(set(d.opened_by)) != sorted(set(other.opened_by)):
        problems.append((path, f"anchor deadline '{other_name}' must be opened by the same triggers as this one "
                               f"({', '.join(sorted(set(other.opened_by)))} vs {', '.join(sorted(set(d.opened_by)))})"))
    if any(c not in d.when for c in other.when):
        problems.append((path, f"every 'when' condition of '{other_name}' must also be a condition of this deadline, "
                               "so that it is open whenever this one opens"))
    if other.anchor != "event" or other.due.unit not in _CALENDAR_UNITS:
        problems.append((path, f"anchor deadline '{other_name}' must be counted in days, weeks or months from the "
                               "event, so that no calendar change moves the date counted from"))
    return problems
