"""Definition validation: every bad file names the exact file, line and field to edit.

Each file in definitions/bad/ is definitions/good/minimal.yaml with one thing broken (its first
line says what). The expected problems below were worked out by reading the files, not by running
the loader: line numbers are those of the bad file itself, and a missing key is reported at the
line of the mapping it is missing from.
"""

from __future__ import annotations

import json
import re
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
    # a negative amount is "before" its anchor: fine from a date field, an instant expiry from entry or event
    ("negative_entry_amount.yaml", None, [
        (36, "deadlines.start_soon.due.amount", ("counts back from the entry", "expire as soon as it opens"))]),
    ("negative_event_amount.yaml", None, [
        (45, "deadlines.finish_in_time.due.amount", ("counts back from the event", "expire as soon as it opens"))]),
    # strict types: YAML's true and a quoted "5" are not whole numbers; "yes" is not a boolean
    ("amount_true.yaml", None, [(36, "deadlines.start_soon.due.amount", "must be a whole number, written without quotes")]),
    ("amount_quoted.yaml", None, [(36, "deadlines.start_soon.due.amount", "must be a whole number, written without quotes")]),
    ("final_quoted.yaml", None, [(19, "states.done.final", "must be true or false, written without quotes")]),
    # `start` requires started_on (line 25); the expiry that fires it (line 40) brings no data
    ("expiry_lacks_required_data.yaml", None, [
        (40, "deadlines.start_soon.on_expiry.trigger",
         ("trigger 'start' (transitions[0]) requires 'started_on'", "would fail every time"))]),
    ("expiry_data_unknown_field.yaml", None, [
        (40, "deadlines.start_soon.on_expiry.data.knd", "unknown data field 'knd'"),
        (40, "deadlines.start_soon.on_expiry.data.kind", "for field 'kind'"),
    ]),
    ("starts_unknown.yaml", None, [
        (32, "transitions[1].starts.workflow", "unknown workflow 'dpr' (known: minimal)"),
        (41, "transitions[2].starts.state", "a 'minimal' case cannot be opened at 'done' (allowed: waiting)"),
        (42, "transitions[2].starts.data.colour", "'minimal' has no data field 'colour'"),
        (42, "transitions[2].starts.data.started_on", "for field 'started_on' of 'minimal'"),
        (42, "transitions[2].starts.data", "'minimal' needs 'kind' to open a case"),
    ]),
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
    listed = {c[0] for c in CASES} | {"overlay_remove_stage.yaml", "overlay_many.yaml"}
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


def test_an_overlay_with_problems_in_every_phase_reports_them_all_at_once():
    """Removing what is not there, schema and semantic problems used to take one run per phase."""
    new_transition = len(yaml.safe_load(DRP.read_text())["transitions"])
    problems = load_problems("overlay_many.yaml", "bundled")
    assert sorted((p.line, p.field) for p in problems) == [
        (4, "owner"),
        (6, "remove.states"),
        (7, "remove.triggers"),
        (10, "deadlines.stage_1_response.due.amount"),
        (14, "deadlines.local_check.due.amount"),
        (19, f"transitions[{new_transition}].dest"),
        (20, f"transitions[{new_transition}].roles[0]"),
    ]
    assert {p.file for p in problems} == {str(BAD / "overlay_many.yaml")}


def test_semantic_checks_run_beside_schema_problems_without_echoing_them(tmp_path):
    """A refused transition or state is set aside: what refers to it is not reported again."""
    text = GOOD.read_text()
    text = text.replace("    dest: working\n    roles: [worker]\n", "    dest: working\n    roles: [worker]\n    colour: red\n")
    text = text.replace("  working:\n    description: Being worked on.\n", "  working:\n    description: Being worked on.\n    final: 1\n")
    text = text.replace("    source: working\n    dest: waiting\n", "    source: working\n    dest: waitin\n")
    path = tmp_path / "minimal.yaml"
    path.write_text(text)
    with pytest.raises(DefinitionError) as info:
        Registry.load([path])
    # transitions[0] is set aside, so nothing about what it leads to (working unreachable) is reported,
    # and `pause` (second of those left) is still named by its place in the file, transitions[2]
    assert sorted((p.line, p.field, p.message.split(" (")[0]) for p in info.value.problems) == [
        (18, "states.working.final", "must be true or false, written without quotes"),
        (26, "transitions[0].colour", "unknown key 'colour'"),
        (33, "transitions[2].dest", "unknown state 'waitin'"),
    ]


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


# ---- the YAML reader: untrusted bytes give a located problem, never a traceback ----------------


def read_problems(tmp_path: Path, content: bytes) -> list[Problem]:
    path = tmp_path / "wf.yaml"
    path.write_bytes(content)
    with pytest.raises(DefinitionError) as info:
        Registry.load([path])
    return info.value.problems


@pytest.mark.parametrize("char", [b"\x07", b"\x00", b"\x1b"])
def test_a_control_character_is_a_located_problem(tmp_path, char):
    (problem,) = read_problems(tmp_path, b"name: minimal\ntitle: x" + char + b"\n")
    assert (problem.line, problem.column) == (2, 9)
    assert f"character U+{char[0]:04X} is not allowed" in problem.message
    assert str(problem).startswith(f"{tmp_path / 'wf.yaml'}:2:9: not valid YAML")


def test_bytes_that_are_not_utf8_are_a_located_problem(tmp_path):
    (problem,) = read_problems(tmp_path, b"name: minimal\ntitle: caf\xe9\n")
    assert (problem.line, problem.column, problem.message) == (2, 11, "not valid UTF-8: save the file as UTF-8")


def test_a_billion_laughs_is_refused_at_once(tmp_path):
    import time

    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghi", "bcdefghij"):
        rows.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    started = time.perf_counter()
    problems = read_problems(tmp_path, "\n".join(rows).encode())
    assert time.perf_counter() - started < 2
    assert [(p.line, p.column) for p in problems] == [(n, 8) for n in range(2, 11)]
    assert "alias '*a' repeats a mapping or list" in problems[0].message


def test_an_alias_of_a_plain_value_is_allowed(tmp_path):
    text = GOOD.read_text()
    assert text.count("source: Local procedure para 1") == 1 and text.count("source: Local procedure para 2") == 1
    text = text.replace("source: Local procedure para 1", "source: &para Local procedure para 1")
    path = tmp_path / "minimal.yaml"
    path.write_text(text.replace("source: Local procedure para 2", "source: *para"))
    first, second = (d.source for d in load_workflow_file(path).spec.deadlines.values())
    assert first == second == "Local procedure para 1"


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    from engine.language.yamlsource import MAX_BYTES

    (problem,) = read_problems(tmp_path, b"# " + b"x" * MAX_BYTES + b"\n")
    assert problem.message == f"the file is larger than {MAX_BYTES // 1024} KB"


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting_is_a_problem_not_a_recursion_error(tmp_path, opening):
    (problem,) = read_problems(tmp_path, ("a: " + opening * 50_000).encode())
    assert problem.message == "not valid YAML: mappings and lists are nested too deeply"


def test_a_negative_amount_from_a_date_field_is_valid(tmp_path):
    """"20 working days before the review is due": counting back from a date the case records."""
    path = tmp_path / "minimal.yaml"
    old = "due: {amount: 10, unit: working_days, anchor: data.started_on}"
    path.write_text(GOOD.read_text().replace(old, old.replace("10", "-10")))
    assert load_workflow_file(path).spec.deadlines["finish_in_time"].due.amount == -10


# ---- checking files as `caseclock validate` does -------------------------------------------------


def test_a_checked_copy_of_a_bundled_workflow_replaces_it(tmp_path):
    from engine.language.registry import check_files

    copy = tmp_path / "drp.yaml"
    copy.write_text(DRP.read_text())
    assert check_files([copy]) == [(copy, [])]
    text = DRP.read_text()
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "due: {amount: " in row)
    copy.write_text(re.sub(r"due: \{amount: (-?\d+),", r'due: {amount: "\1",', text, count=1))
    ((path, problems),) = check_files([copy])
    assert [(p.file, p.line, p.message) for p in problems] == [
        (str(copy), line, "must be a whole number, written without quotes")]


def test_a_profile_is_checked_as_the_registry_applies_it(tmp_path):
    from engine.language.registry import check_files

    profile = tmp_path / "testshire.yaml"
    profile.write_text(
        "name: testshire\ntitle: Testshire\ncalendar: {nation: england-and-wales}\n"
        "workflows:\n  drp:\n    deadlines:\n      stage_1_response:\n        due: {amount: true, unit: working_days}\n"
    )
    ((path, problems),) = check_files([profile])
    assert [(p.file, p.line, p.field) for p in problems] == [(str(profile), 8, "deadlines.stage_1_response.due.amount")]


def test_a_profile_reports_its_schema_and_overlay_problems_together(tmp_path):
    from engine.language.registry import check_files

    profile = tmp_path / "testshire.yaml"
    profile.write_text(
        "name: testshire\ntitle: Testshire\ncalendar: {nation: atlantis}\nroles: {clerk: Clerk}\n"
        "workflows:\n  drp:\n    remove: {states: [nope]}\n    deadlines:\n      stage_1_response:\n"
        "        due: {amount: true, unit: working_days}\n"
    )
    ((path, problems),) = check_files([profile])
    assert sorted((p.line, p.field) for p in problems) == [
        (3, "calendar.nation"), (4, "roles.clerk"), (7, "remove.states"),
        (10, "deadlines.stage_1_response.due.amount"),
    ]


def test_an_unreadable_file_does_not_hide_the_problems_of_the_others(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_bytes(b"name: x\x07\n")
    with pytest.raises(DefinitionError) as info:
        Registry.load([broken, BAD / "unknown_dest.yaml"])
    assert [(Path(p.file).name, p.line) for p in info.value.problems] == [("broken.yaml", 1), ("unknown_dest.yaml", 31)]


@pytest.mark.parametrize("body", [
    "name: a\ntitle: t\ninitial: s\nstates: [s]\ntransitions: x\n",
    "name: a\ntitle: t\nstates: {s: 3, d: {final: true}}\ntransitions: [3, {trigger: go, source: s, dest: d}]\n",
    "name: a\ntitle: t\nstates: 1\ntransitions: []\n",
    "name: A B\ntitle: [1]\ninitial: 3\nstates: {s: {}, d: {final: true}}\ntransitions: [{trigger: go, source: s, dest: d}]\n"
    "deadlines: 4\ndata: {x: {type: nope}}\nroles: {R: 1}\nopen: {at: 3}\n",
    "name: a\nextends: drp\nremove: [x]\ntransitions: {a: 1}\n",
    "name: a\nextends: drp\nremove: {states: x, triggers: [1]}\ndeadlines: {stage_1_response: 5}\n",
])
def test_a_malformed_definition_is_reported_not_raised(tmp_path, body):
    path = tmp_path / "wf.yaml"
    path.write_text(body)
    with pytest.raises(DefinitionError) as info:
        Registry.load([BUNDLED, path])
    assert info.value.problems and {p.file for p in info.value.problems} == {str(path)}
