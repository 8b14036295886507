"""Definition validation: every bad file names the exact file, line and field to edit.

Each file in definitions/bad/ is definitions/good/minimal.yaml with one thing broken (its first
line says what). The expected problems below were worked out by reading the files, not by running
the loader: line numbers are those of the bad file itself, and a missing key is reported at the
line of the mapping it is missing from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.language.definition import json_schema, load_workflow_file
from engine.errors import DefinitionError, Problem
from engine.language.bundled import bundled_dir
from engine.language.registry import Registry

HERE = Path(__file__).resolve().parent
GOOD = HERE / "definitions" / "good" / "minimal.yaml"
BAD = HERE / "definitions" / "bad"
BUNDLED = bundled_dir("workflows")
DRP = BUNDLED / "drp.yaml"
SCHEMA_DOC = HERE.parent / "docs" / "workflow.schema.json"

UNIT_CHOICES = "'working_days', 'days', 'weeks' or 'months'"
UNREACHABLE = "cannot be reached from the initial or opening states"

# filename, what else is loaded with it, and every problem expected as (line, field, message fragment);
# a tuple of fragments means each must appear.
# "with": None = the file alone; "bundled" = the bundled workflows first (for overlays of drp);
# "minimal" = good/minimal.yaml first.
CASES: list[tuple[str, str | None, list[tuple[int, str, str | tuple[str, ...]]]]] = [
    # line 3 is `title: Minimal: workflow`: the second ': ' starts a mapping inside a plain value
    ("yaml_syntax.yaml", None, [(3, "", "not valid YAML: mapping values are not allowed here")]),
    ("empty.yaml", None, [(1, "", "the file is empty")]),
    # the second `working:` is line 20; the first is line 16
    ("duplicate_state.yaml", None, [(20, "states.working", "duplicate key 'working' (first defined on line 16)")]),
    ("unknown_top_key.yaml", None, [(5, "owner", "unknown key 'owner'")]),
    ("unknown_state_key.yaml", None, [(16, "states.waiting.colour", "unknown key 'colour'")]),
    ("unknown_transition_key.yaml", None, [(23, "transitions[0].target", "unknown key 'target'")]),
    ("unknown_deadline_key.yaml", None, [(37, "deadlines.start_soon.reminder", "unknown key 'reminder'")]),
    # line 40 (`source:`) deleted: reported at the deadline's own key, line 33
    ("missing_deadline_source.yaml", None, [(33, "deadlines.start_soon.source", "is required")]),
    # line 4 (`initial:`) deleted: reported at the top-level mapping, which starts at `name:` on line 2
    ("missing_initial.yaml", None, [(2, "initial", "is required")]),
    ("unknown_dest.yaml", None, [(31, "transitions[2].dest", "unknown state 'waitin' (states: waiting, working, done)")]),
    ("unknown_source.yaml", None, [(30, "transitions[2].source", "unknown state 'workin' (states: waiting, working, done)")]),
    # with no valid initial state nothing is reachable, so every state is also reported (lines 14, 16, 18)
    # reachability is not reported while the starting state is unknown: it would only be noise
    ("unknown_initial.yaml", None, [
        (4, "initial", "unknown state 'wating' (states: waiting, working, done)"),
    ]),
    ("unreachable_state.yaml", None, [(20, "states.limbo", f"state 'limbo' {UNREACHABLE}")]),
    # `stuck` (line 20) is entered by `stall` (transitions[3]) and left by nothing
    ("dead_end_state.yaml", None, [(20, "states.stuck", "state 'stuck' is not final but no transition leaves it")]),
    ("leaves_final.yaml", None, [(33, "transitions[3].source", "'done' is final: no transition may leave it")]),
    ("unknown_opened_by.yaml", None, [
        (43, "deadlines.finish_in_time.opened_by[0]", "unknown trigger 'strat' (triggers: start, finish, pause)")]),
    ("unknown_closed_by.yaml", None, [
        (44, "deadlines.finish_in_time.closed_by[0]", "unknown trigger 'finsh' (triggers: start, finish, pause)")]),
    ("expiry_trigger_invalid.yaml", None, [
        (39, "deadlines.start_soon.on_expiry.trigger",
         "trigger 'finish' is not valid in state 'waiting', where this deadline can be open (valid there: start)")]),
    ("bad_unit.yaml", None, [(36, "deadlines.start_soon.due.unit", UNIT_CHOICES)]),
    ("bad_remind.yaml", None, [(37, "deadlines.start_soon.remind[0]", "cannot read offset '2 days'")]),
    ("bad_remind_negative.yaml", None, [
        (37, "deadlines.start_soon.remind[0]", "a reminder is a positive offset before the due date, not '-2wd'")]),
    ("state_and_opened_by.yaml", None, [
        (33, "deadlines.start_soon", "either 'state' (open while in it) or 'opened_by' triggers, not both")]),
    ("condition_unknown_field.yaml", None, [
        (28, "transitions[1].conditions[0].field", "unknown data field 'knd' (declare it under 'data'; known: kind, started_on)")]),
    ("condition_two_operators.yaml", None, [
        (28, "transitions[1].conditions[0]", ("a condition needs exactly one of equals, not_equals, in, not_in, is_set", "; found 2"))]),
    ("condition_bad_choice.yaml", None, [(28, "transitions[1].conditions[0].equals", "'c' is not one of a, b for field 'kind'")]),
    ("unknown_role.yaml", None, [
        (24, "transitions[0].roles[0]", "unknown role 'wroker' (declare it under 'roles'; known: system, worker)")]),
    ("anchor_not_date.yaml", None, [
        (45, "deadlines.finish_in_time.due.anchor", "anchor field 'kind' must be of type date, not choice")]),
    ("reserved_open.yaml", None, [(29, "transitions[2].trigger", "'open' is reserved for opening a case")]),
    # `state: [waiting, done]` on line 35: index 1 is the final state
    ("deadline_in_final_state.yaml", None, [
        (35, "deadlines.start_soon.state[1]", "'done' is final: a deadline cannot run there")]),
    ("extends_unknown.yaml", "bundled", [(3, "extends", "unknown base workflow 'dpr' (known: ")]),
    # drp.yaml has 11 transitions, so the overlay's first one is transitions[11]; its `source:` is line 6
    ("overlay_leaves_final.yaml", "bundled", [(6, "transitions[11].source", "'resolved' is final: no transition may leave it")]),
    ("overlay_bad_unit.yaml", "bundled", [(6, "deadlines.stage_1_response.due.unit", UNIT_CHOICES)]),
    ("duplicate_name.yaml", "minimal", [(2, "name", f"workflow 'minimal' is also defined in {GOOD}")]),
    # several problems in one file: all of them, not just the first
    ("multi_semantic.yaml", None, [
        (24, "transitions[0].roles[0]", "unknown role 'wroker'"),
        (31, "transitions[2].dest", "unknown state 'waitin'"),
        (37, "deadlines.start_soon.remind[0]", "cannot read offset '2 days'"),
    ]),
    ("multi_schema.yaml", None, [
        (5, "owner", "unknown key 'owner'"),
        (37, "deadlines.start_soon.due.unit", UNIT_CHOICES),
        (34, "deadlines.start_soon.source", "is required"),
    ]),
]


XFAIL: dict[str, str] = {}  # known engine bugs: filename -> reason (strict xfail)


def load_problems(filename: str, with_: str | None) -> list[Problem]:
    path = BAD / filename
    paths = {None: [path], "bundled": [BUNDLED, path], "minimal": [GOOD, path]}[with_]
    with pytest.raises(DefinitionError) as info:
        Registry.load(paths)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return info.value.problems


@pytest.mark.parametrize(("filename", "with_", "expected"), [
    pytest.param(*c, id=c[0], marks=[pytest.mark.xfail(reason=XFAIL[c[0]], strict=True)] if c[0] in XFAIL else [])
    for c in CASES
])
def test_bad_definition(filename, with_, expected):
    problems = load_problems(filename, with_)
    got = sorted(((p.file, p.line, p.field), p.message) for p in problems)
    want = sorted(((str(BAD / filename), line, field), fragment) for line, field, fragment in expected)
    assert [where for where, _ in got] == [where for where, _ in want], "\n".join(map(str, problems))
    for (where, message), (_, fragments) in zip(got, want):
        for fragment in (fragments,) if isinstance(fragments, str) else fragments:
            assert fragment in message, f"{where}: {message!r} lacks {fragment!r}"


def test_every_bad_file_is_in_the_table():
    listed = {c[0] for c in CASES} | {"overlay_remove_stage.yaml"}
    assert {p.name for p in BAD.glob("*.yaml")} == listed


def test_load_workflow_file_raises_the_same_problems():
    with pytest.raises(DefinitionError) as info:
        load_workflow_file(BAD / "unknown_dest.yaml")
    assert [(p.line, p.field) for p in info.value.problems] == [(31, "transitions[2].dest")]


def test_a_problem_prints_as_file_line_field_message():
    (problem,) = load_problems("unknown_role.yaml", None)
    assert str(problem) == (
        f"{BAD / 'unknown_role.yaml'}:24: transitions[0].roles[0]: "
        "unknown role 'wroker' (declare it under 'roles'; known: system, worker)"
    )


def test_overlay_removing_a_state_reports_what_is_left_broken():
    """Removing stage_3 leaves stage_2_response expiring by `escalate`, which no longer leaves
    stage_2: a real problem of this overlay, located where the expiry was written (drp.yaml:168)."""
    problems = load_problems("overlay_remove_stage.yaml", "bundled")
    assert (str(DRP), 168, "deadlines.stage_2_response.on_expiry.trigger") in {(p.file, p.line, p.field) for p in problems}


def test_overlay_removing_a_state_also_removes_it_from_open_at():
    problems = load_problems("overlay_remove_stage.yaml", "bundled")
    assert [p.field for p in problems if p.field.startswith("open.")] == []


# ---- the good file, versions -------------------------------------------------------------------


def test_minimal_loads():
    wf = load_workflow_file(GOOD)
    assert wf.name == "minimal"
    assert list(wf.spec.states) == ["waiting", "working", "done"]
    assert wf.final_states == {"done"}
    assert wf.triggers == ["start", "finish", "pause"]
    assert set(wf.spec.deadlines) == {"start_soon", "finish_in_time"}
    assert Registry.load([GOOD]).get("minimal").version == wf.version


def test_version_is_stable_across_loads_and_ignores_comments(tmp_path):
    first, second = load_workflow_file(GOOD), load_workflow_file(GOOD)
    assert first is not second and first.version == second.version
    assert len(first.version) == 12 and int(first.version, 16) >= 0
    copy = tmp_path / "minimal.yaml"
    copy.write_text("# a comment changes nothing\n" + GOOD.read_text().replace("  kind:\n", "  kind:   # the kind\n"))
    assert load_workflow_file(copy).version == first.version


@pytest.mark.parametrize("old, new", [
    ("due: {amount: 5, unit: working_days}", "due: {amount: 6, unit: working_days}"),
    ("due: {amount: 5, unit: working_days}", "due: {amount: 5, unit: days}"),
    ("anchor: data.started_on}", "anchor: data.started_on, anchor_is_day_one: true}"),
])
def test_version_changes_when_a_timescale_changes(tmp_path, old, new):
    text = GOOD.read_text()
    assert text.count(old) == 1
    changed = tmp_path / "minimal.yaml"
    changed.write_text(text.replace(old, new))
    assert load_workflow_file(changed).version != load_workflow_file(GOOD).version


def test_a_stored_definition_rebuilds_to_the_same_version():
    wf = load_workflow_file(GOOD)
    registry = Registry({})
    assert registry.remember(json.loads(json.dumps(wf.canonical))).version == wf.version


# ---- JSON Schema -------------------------------------------------------------------------------


def test_json_schema_describes_the_top_level():
    schema = json_schema()
    assert {"name", "title", "initial", "states", "transitions", "deadlines", "data", "roles", "open",
            "extends", "remove"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_json_schema_accepts_drp_and_minimal_and_rejects_a_bad_unit():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    for path in (DRP, GOOD):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], f"{path}: {errors}"
    bad = yaml.safe_load((BAD / "bad_unit.yaml").read_text())
    assert [list(e.absolute_path) for e in validator.iter_errors(bad)] == [["deadlines", "start_soon", "due", "unit"]]


def test_committed_schema_is_current():
    """docs/workflow.schema.json is `caseclock schema` output; regenerate it when the language changes."""
    assert json.loads(SCHEMA_DOC.read_text(encoding="utf-8")) == json_schema(), (
        "docs/workflow.schema.json is stale: run `caseclock schema > docs/workflow.schema.json`"
    )
