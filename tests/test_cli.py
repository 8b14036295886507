"""The `caseclock` console script, end to end, on a temporary SQLite file.

The CLI's clock is the system clock, so every effective date is in the past. Each command spawns a
process (~1 s), so one DRP story is run once per module and its outputs are checked by several
tests. All due dates below are worked out by hand on the England and Wales calendar: DRP stages are
5 working days and the formal process 20, counted with the day of entry as day 0.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.language.registry import Registry
from engine.time.calendar import WorkingCalendar

REPO = Path(__file__).resolve().parent.parent
BAD = REPO / "tests" / "definitions" / "bad"
UTC = dt.timezone.utc
LONDON = ZoneInfo("Europe/London")
# distinctive, so that finding it anywhere in the logs is unambiguous
CONCERN = "Sibling-contact-stopped-without-review-7Q"
REASON = "Team-manager-unavailable-9Z"
# the test DRP whose informal stage escalates itself (the base DRP's only notifies the IRO)
ESCALATING_ENV = {"CASECLOCK_WORKFLOWS": str(REPO / "tests" / "workflows")}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASECLOCK_")}
    env["COLUMNS"] = "200"  # rich wraps tables and error boxes at the terminal width
    return env


def caseclock(*args: str, db: Path | None = None, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    database = ["--database", f"sqlite:///{db}"] if db else []
    return subprocess.run(["caseclock", *database, *args], capture_output=True, text=True, env={**_env(), **(env or {})},
                          cwd=cwd, timeout=60)


def london(day: str) -> dt.datetime:
    """The start of a day in Europe/London, as --at YYYY-MM-DD means."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(0), tzinfo=LONDON)


def moment(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    assert value.tzinfo is not None, f"{text} has no timezone"
    return value


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Two DRP cases on one database; every command's result, by name (11 processes)."""
    db = tmp_path_factory.mktemp("cli") / "c.db"
    r: dict[str, subprocess.CompletedProcess] = {}
    # DRP-1: raised informally on Monday 5 January 2026, escalated to stage 1 the next day
    r["open"] = caseclock("--log-json", "open", "drp", "DRP-1", "--at", "2026-01-05", "--set", "theme=practice",
                          "--set", f"concern={CONCERN}", "--actor", "iro.a", "--create", db=db)
    r["fire"] = caseclock("--log-json", "fire", "DRP-1", "escalate", "--at", "2026-01-06", "--role", "iro",
                          "--actor", "iro.a", "--reason", REASON, db=db)
    # three refused commands: none may store anything
    r["bad_trigger"] = caseclock("fire", "DRP-1", "bogus", "--at", "2026-01-07", "--role", "iro", db=db)
    r["bad_field"] = caseclock("fire", "DRP-1", "escalate", "--at", "2026-01-07", "--role", "iro",
                               "--set", "thme=safety", db=db)
    r["backdated"] = caseclock("fire", "DRP-1", "escalate", "--at", "2026-01-05T12:00", "--role", "iro", db=db)
    r["show"] = caseclock("show", "DRP-1", "--json", db=db)
    # DRP-2: raised informally on Monday 15 December 2025 under the test DRP whose informal stage
    # escalates itself; nobody responds, the timer escalates it
    r["open2"] = caseclock("open", "drp_escalating", "DRP-2", "--at", "2025-12-15", "--set", "theme=safety",
                           "--set", "concern=placement", db=db, env=ESCALATING_ENV)
    r["tick"] = caseclock("tick", "--at", "2025-12-24", db=db, env=ESCALATING_ENV)
    r["show2"] = caseclock("show", "DRP-2", "--json", db=db)
    r["overdue"] = caseclock("overdue", "--at", "2026-01-14", "--json", db=db)
    r["upcoming"] = caseclock("upcoming", "--within", "10wd", "--at", "2026-01-12", "--json", db=db)
    r["overdue_all"] = caseclock("overdue", "--at", "2026-01-14", "--all", "--json", db=db)
    r["overdue_table"] = caseclock("overdue", "--at", "2026-01-14", "--workflow", "drp", "--limit", "1", db=db)
    return r


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    no_traceback(result)
    return result


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    no_traceback(result)
    assert result.stderr.startswith("error: case DRP-1: "), result.stderr
    return result.stderr


# ---- calendar ----------------------------------------------------------------------------------


def test_calendar_add_working_days_over_christmas():
    # Mon 14 Dec 2026 + 20wd: Dec 15-18 (4), 21-24 (8); 25 Christmas, 28 Boxing Day (substitute);
    # 29-31 (11); 1 Jan; Jan 4-8 (16), 11-14 (20)
    result = ok(caseclock("calendar", "add", "2026-12-14", "20wd"))
    assert result.stdout == "2027-01-14\n"


def test_calendar_add_in_scotland_skips_2_january():
    # Wed 31 Dec 2025 + 2wd. England: 1 Jan holiday, Fri 2 Jan (1), Mon 5 Jan (2) -> 2026-01-05.
    # Scotland also keeps Fri 2 January: Mon 5 (1), Tue 6 (2) -> 2026-01-06.
    result = ok(caseclock("calendar", "add", "2025-12-31", "2wd", "--nation", "scotland"))
    assert result.stdout == "2026-01-06\n"


# ---- the calendar a case is counted on ---------------------------------------------------------
# From Mon 29 Dec 2025, 5 working days: Tue 6 Jan in England and Wales (30, 31, 2, 5, 6), Wed 7 Jan
# in Scotland (2 January is a Scottish bank holiday); 20 working days: 27 Jan in England.


def _due(db: Path, case_ref: str, name: str) -> str:
    body = json.loads(ok(caseclock("show", case_ref, "--json", db=db)).stdout)
    return next(x["due_on"] for x in body["deadlines"] if x["name"] == name and x["status"] == "open")


def test_a_plain_recompute_moves_nothing_a_scottish_process_opened(tmp_path):
    db = tmp_path / "c.db"
    scotland = {"CASECLOCK_NATION": "scotland"}
    ok(caseclock("open", "drp", "S-1", "--at", "2025-12-29", "--set", "theme=safety", "--set", "concern=x", "--create", db=db, env=scotland))
    assert "0 deadline(s) moved" in ok(caseclock("recompute", db=db)).stdout
    english = caseclock("recompute", db=db, env={"CASECLOCK_NATION": "england-and-wales"})
    assert english.returncode == 1
    no_traceback(english)
    assert "counts cases with no authority on the scotland calendar" in english.stderr
    assert "caseclock calendar set-nation england-and-wales" in english.stderr
    assert _due(db, "S-1", "informal_response") == "2026-01-07"


def test_a_profile_case_is_recounted_on_its_authority_calendar_without_the_authority(tmp_path):
    db = tmp_path / "c.db"
    assert "scotland calendar" in ok(caseclock("migrate", "--nation", "scotland", db=db)).stdout
    ok(caseclock("--authority", "sunderland", "open", "cla_review", "CLA-1", "--at", "2025-12-29",
                 "--set", "became_looked_after=2025-12-29", db=db))
    assert "0 deadline(s) moved" in ok(caseclock("recompute", db=db)).stdout
    ok(caseclock("open", "drp", "S-1", "--at", "2025-12-29", "--set", "theme=safety", "--set", "concern=x", db=db))
    changed = ok(caseclock("calendar", "set-nation", "england-and-wales", db=db)).stdout
    assert "S-1: informal_response: 2026-01-07 -> 2026-01-06" in changed
    assert "1 deadline(s) moved" in changed
    assert _due(db, "CLA-1", "first_review") == "2026-01-27"  # Sunderland counts on England and Wales
    again = caseclock("migrate", "--nation", "scotland", db=db)
    assert again.returncode == 1 and "set-nation scotland" in again.stderr


def test_calendar_add_bad_offset_is_a_usage_error():
    result = caseclock("calendar", "add", "2026-12-14", "20 fortnights")
    assert result.returncode != 0
    no_traceback(result)
    assert result.stdout == ""
    assert "cannot read offset '20 fortnights'" in result.stderr


# ---- definitions -------------------------------------------------------------------------------


def test_validate_bundled_drp():
    result = ok(caseclock("validate", "workflows/drp.yaml"))
    assert "ok  workflows/drp.yaml" in result.stdout


def test_validate_bad_file_prints_file_line_field_message():
    path = BAD / "unknown_dest.yaml"
    result = caseclock("validate", str(path))
    assert result.returncode == 1
    no_traceback(result)
    assert result.stderr.splitlines() == [
        f"{path}:31: transitions[2].dest: unknown state 'waitin' (states: waiting, working, done)"
    ]


def test_validate_overlay_broken_in_inherited_lines_fails():
    # removing stage_3 leaves stage_2_response's expiry trigger (escalate) with nowhere to go;
    # `Registry.load` refuses this overlay (see test_validation), so `validate` must not say it is fine
    result = caseclock("validate", str(BAD / "overlay_remove_stage.yaml"))
    no_traceback(result)
    assert result.returncode == 1 and "stage_2_response.on_expiry.trigger" in result.stderr


def test_validate_accepts_profiles_and_copies_of_bundled_workflows_and_locates_bad_bytes(tmp_path):
    """A profile is checked as the registry runs it (not as a workflow); an unmodified copy of a
    bundled workflow replaces it rather than clashing; a control character is a located problem."""
    copies = tmp_path / "mine"
    copies.mkdir()
    drp = copies / "drp.yaml"
    drp.write_text((REPO / "workflows" / "drp.yaml").read_text())
    profile = copies / "croydon.yaml"  # outside an authorities folder: known by its keys
    profile.write_text((REPO / "config" / "authorities" / "croydon.yaml").read_text())
    bell = tmp_path / "bell.yaml"
    bell.write_bytes(b"name: x\x07\n")
    result = caseclock("validate", "config/authorities/sunderland.yaml", str(drp), str(profile), str(bell))
    no_traceback(result)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"ok  {p}" for p in ("config/authorities/sunderland.yaml", drp, profile)]
    assert result.stderr.splitlines() == [
        f"{bell}:1:8: not valid YAML: character U+0007 is not allowed "
        "(write it as an escape in a double-quoted string, or remove it)"
    ]


@pytest.fixture(scope="module")
def diagram() -> str:
    return ok(caseclock("diagram", "drp")).stdout


def test_diagram_is_mermaid(diagram):
    lines = [line.strip() for line in diagram.splitlines()]
    assert "stateDiagram-v2" in lines
    assert "[*] --> informal" in lines
    assert "[*] --> stage_2: open at" in lines
    assert "resolved --> [*]" in lines and "withdrawn --> [*]" in lines
    assert any(line.startswith("informal --> stage_1: escalate") for line in lines)


def test_diagram_front_matter_is_yaml(diagram):
    assert diagram.splitlines()[:3] == ["---", "title: IRO Dispute Resolution Process", "---"]


# ---- a case through the CLI --------------------------------------------------------------------


def test_open_and_fire_succeed(story):
    assert "DRP-1: opened drp at informal" in ok(story["open"]).stdout
    assert "DRP-1: escalate: informal -> stage_1" in ok(story["fire"]).stdout


def test_show_json(story):
    body = json.loads(ok(story["show"]).stdout)
    assert {"case_ref", "workflow", "version", "state", "data", "deadlines", "history"} <= set(body)
    assert body["case_ref"] == "DRP-1"
    assert body["workflow"] == "drp"
    assert body["version"] == Registry.load().get("drp").version
    assert body["state"] == "stage_1"
    assert body["data"] == {"theme": "practice", "concern": CONCERN}

    for d in body["deadlines"]:
        assert {"name", "due_on", "status", "source"} <= set(d)
        assert d["source"].startswith("IRO Handbook 2010 para 6.2")
    deadlines = {d["name"]: (d["due_on"], d["status"]) for d in body["deadlines"]}
    assert len(body["deadlines"]) == 3
    assert deadlines == {
        # opened Mon 5 Jan (day 0): 6, 7, 8, 9, 12 -> Mon 12 Jan; escalated on the 6th, in time
        "informal_response": ("2026-01-12", "met"),
        # entered stage 1 on Tue 6 Jan: 7, 8, 9, 12, 13 -> Tue 13 Jan
        "stage_1_response": ("2026-01-13", "open"),
        # 20 working days from Tue 6 Jan: Jan 7-9 (3), 12-16 (8), 19-23 (13), 26-30 (18), Feb 2-3 (20)
        "formal_resolution": ("2026-02-03", "open"),
    }

    history = body["history"]
    for h in history:
        assert {"trigger", "from", "to", "effective_at", "actor", "reason"} <= set(h)
    # the three refused commands stored nothing: still exactly the open and the escalation
    assert [(h["trigger"], h["from"], h["to"], h["actor"], h["reason"]) for h in history] == [
        ("open", None, "informal", "iro.a", None),
        ("escalate", "informal", "stage_1", "iro.a", REASON),
    ]
    assert [moment(h["effective_at"]) for h in history] == [london("2026-01-05"), london("2026-01-06")]

    # an open deadline past its due day says by how many working days, as the overdue list does
    today = dt.datetime.now(LONDON).date()
    late = {d["name"]: d["working_days_overdue"] for d in body["deadlines"]}
    assert late == {"informal_response": None,
                    "stage_1_response": WorkingCalendar().working_days_between(dt.date(2026, 1, 13), today),
                    "formal_resolution": WorkingCalendar().working_days_between(dt.date(2026, 2, 3), today)}


def test_show_table_says_overdue_and_by_how_much(tmp_path):
    db = tmp_path / "c.db"
    ok(caseclock("open", "drp", "DRP-9", "--at", "2026-01-05", "--set", "theme=practice", "--set", "concern=x", "--create", db=db))
    table = ok(caseclock("show", "DRP-9", db=db)).stdout
    today = dt.datetime.now(LONDON).date()
    days = WorkingCalendar().working_days_between(dt.date(2026, 1, 12), today)
    assert f"open: OVERDUE by {days} working days" in table


def test_invalid_trigger_names_state_and_valid_triggers(story):
    message = refused(story["bad_trigger"])
    assert "trigger 'bogus' is not valid in state 'stage_1'" in message
    assert "valid triggers: escalate, escalate_to, resolve, withdraw, refer_to_cafcass" in message


def test_unknown_set_field_is_named(story):
    message = refused(story["bad_field"])
    assert "data field 'thme': not a field of workflow 'drp'" in message


def test_event_before_the_previous_transition_is_refused(story):
    message = refused(story["backdated"])
    assert "is before the case's previous transition" in message


def test_tick_escalates_an_expired_informal_stage(story):
    # DRP-2 opened Mon 15 Dec 2025: 16, 17, 18, 19, 22 -> informal response due Mon 22 Dec,
    # passed at the start of Tue 23 Dec; tick as at Wed 24 Dec escalates it, effective 23 Dec 00:00
    assert "DRP-2: opened drp_escalating at informal" in ok(story["open2"]).stdout
    out = ok(story["tick"]).stdout
    assert "expired 1, fired 1," in out and "failed 0" in out

    body = json.loads(ok(story["show2"]).stdout)
    assert body["state"] == "stage_1"
    last = body["history"][-1]
    assert (last["trigger"], last["from"], last["to"], last["actor"]) == ("escalate", "informal", "stage_1", "system")
    assert moment(last["effective_at"]) == london("2025-12-23")
    assert {d["name"]: (d["due_on"], d["status"]) for d in body["deadlines"]} == {
        "informal_response": ("2025-12-22", "missed"),
        # stage 1 from Tue 23 Dec: 24 (1); 25-26 holidays; 29, 30, 31 (4); 1 Jan; Fri 2 Jan (5)
        "stage_1_response": ("2026-01-02", "open"),
        # 20 from 23 Dec: 24, 29, 30, 31, Jan 2 (5), 5-9 (10), 12-16 (15), 19-23 (20)
        "formal_resolution": ("2026-01-23", "open"),
    }


def test_overdue_json(story):
    page = json.loads(ok(story["overdue"]).stdout)
    assert (page["total"], page["by_workflow"], page["limit"], page["offset"]) == (2, {"drp": 1, "drp_escalating": 1}, 100, 0)
    assert page["by_age"] == {"0-5": 1, "6-10": 1, "11-20": 0, "21+": 0}
    items = page["items"]
    for i in items:
        assert {"case_ref", "workflow", "state", "deadline", "due_on", "working_days_overdue"} <= set(i)
        assert (i["workflow"], i["state"]) == ({"DRP-1": "drp", "DRP-2": "drp_escalating"}[i["case_ref"]], "stage_1")
    # as at the start of Wed 14 Jan 2026, most overdue first:
    #   DRP-2 stage 1 due Fri 2 Jan (no tick since): Jan 5-9, 12-14 -> 8 working days over
    #   DRP-1 stage 1 due Tue 13 Jan, passed at midnight: Jan 14 -> 1
    assert [(i["case_ref"], i["deadline"], i["due_on"], i["working_days_overdue"]) for i in items] == [
        ("DRP-2", "stage_1_response", "2026-01-02", 8),
        ("DRP-1", "stage_1_response", "2026-01-13", 1),
    ]


def test_overdue_all_streams_every_row_as_json_lines(story):
    lines = ok(story["overdue_all"]).stdout.splitlines()
    assert [json.loads(line)["case_ref"] for line in lines] == ["DRP-2", "DRP-1"]


def test_overdue_table_shows_the_page_and_the_counts(story):
    text = ok(story["overdue_table"]).stdout
    assert "Overdue (1-1 of 1)" in text and "DRP-1" in text and "DRP-2" not in text
    assert "by workflow: drp 1" in text and "0-5: 1" in text


def test_upcoming_json(story):
    page = json.loads(ok(story["upcoming"]).stdout)
    assert page["total"] == 2 and page["by_age"] is None
    items = page["items"]
    # as at the start of Mon 12 Jan 2026, 10 working days ahead is Mon 26 Jan:
    #   DRP-1 stage 1 due Tue 13 Jan: 1 working day left
    #   DRP-2 formal process due Fri 23 Jan: Jan 13-16, 19-23 -> 9 left
    # not DRP-2's stage 1 (overdue since 2 Jan), not DRP-1's formal process (3 Feb, beyond the window)
    assert [(i["case_ref"], i["deadline"], i["due_on"], i["working_days_left"]) for i in items] == [
        ("DRP-1", "stage_1_response", "2026-01-13", 1),
        ("DRP-2", "formal_resolution", "2026-01-23", 9),
    ]


def test_logs_never_contain_the_concern(story):
    for name in ("open", "fire"):
        stderr = story[name].stderr
        events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        assert events, f"{name}: no JSON log lines on stderr:\n{stderr}"
        assert all(e.get("case_ref") == "DRP-1" for e in events if "case_ref" in e)
        assert CONCERN not in stderr and REASON not in stderr, stderr
    opened = [json.loads(line) for line in story["open"].stderr.splitlines() if line.startswith("{")]
    assert any(e["event"] == "case opened" for e in opened)


# ---- demo --------------------------------------------------------------------------------------


def test_demo_prints_the_overdue_table(tmp_path):
    result = ok(caseclock("demo", cwd=tmp_path))
    assert (tmp_path / "caseclock-demo.db").is_file()
    out = result.stdout
    assert "Overdue now" in out
    overdue = out[out.index("Overdue now"):out.index("Due within")]
    rows = [re.split(r"\s*│\s*", line.strip(" │")) for line in overdue.splitlines() if "DRP-" in line]
    # as at Wed 21 Jan 2026 09:00, after the demo's tick:
    #   DRP-0003 escalated to stage 3 on Thu 8 Jan: 9, 12, 13, 14, 15 -> due 15 Jan; over by 16, 19, 20, 21 = 4
    #   DRP-0001 escalated itself informal -> 1 -> 2 -> 3; stage 3 entered Sat 10 Jan at midnight:
    #   12-16 -> due Fri 16 Jan; over by 19, 20, 21 = 3
    assert rows == [
        ["DRP-0003", "stage_3", "stage_3_response", "2026-01-15", "4"],
        ["DRP-0001", "stage_3", "stage_3_response", "2026-01-16", "3"],
    ]


def test_tick_applies_the_mark_missed_catch_up_policy(tmp_path):
    db = tmp_path / "policy.db"
    ok(caseclock("open", "drp_escalating", "OLD-1", "--at", "2025-01-06", "--set", "theme=safety", "--set", "concern=c",
                 "--create", db=db, env=ESCALATING_ENV))
    # informal response due Mon 13 Jan 2025 (7, 8, 9, 10, 13): far more than 30 days ago
    ok(caseclock("tick", db=db, env={"CASECLOCK_EXPIRY_POLICY": "mark_missed"}))
    shown = json.loads(ok(caseclock("show", "OLD-1", "--json", db=db)).stdout)
    assert shown["state"] == "informal"  # not escalated
    [expired] = [d for d in shown["deadlines"] if d["name"] == "informal_response"]
    assert expired["expiry_outcome"].startswith("skipped: due 2025-01-13")


# ---- moments (--at) and bad input --------------------------------------------------------------


@pytest.mark.parametrize(("command", "value"), [
    (("open", "drp", "B1", "--set", "theme=safety", "--set", "concern=x"), "0001-01-01T00:00:00+14:00"),
    (("overdue",), "9999-12-31T23:00:00-14:00"),
    (("upcoming",), "0001-01-01T00:00:00+00:00"),
])
def test_moments_at_the_edge_of_the_range_are_a_usage_error_naming_at(tmp_path, command, value):
    result = caseclock(*command, "--at", value, db=tmp_path / "c.db")
    assert result.returncode == 2
    no_traceback(result)
    assert "Invalid value for '--at'" in result.stderr and "outside the range of representable dates" in result.stderr


def test_a_local_time_the_clocks_skip_is_refused(tmp_path):
    result = caseclock("open", "drp", "B1", "--at", "2026-03-29T01:30", "--set", "theme=safety", "--set", "concern=x",
                       db=tmp_path / "c.db")
    assert result.returncode == 2
    no_traceback(result)
    assert "'2026-03-29T01:30' does not exist in London: the clocks go forward" in " ".join(result.stderr.split())


def test_open_and_fire_default_to_now(tmp_path):
    db = tmp_path / "c.db"
    before = dt.datetime.now(UTC)
    ok(caseclock("open", "drp", "N1", "--set", "theme=safety", "--set", "concern=x", "--create", db=db))
    ok(caseclock("fire", "N1", "escalate", "--role", "iro", db=db))
    history = json.loads(ok(caseclock("show", "N1", "--json", db=db)).stdout)["history"]
    assert [h["trigger"] for h in history] == ["open", "escalate"]
    assert all(before <= moment(h["effective_at"]) <= dt.datetime.now(UTC) for h in history)


def test_tick_refuses_a_future_at_and_expires_nothing(tmp_path):
    db = tmp_path / "c.db"
    ok(caseclock("open", "drp", "T1", "--set", "theme=safety", "--set", "concern=x", "--create", db=db))
    future = (dt.datetime.now(LONDON) + dt.timedelta(days=60)).date().isoformat()
    result = caseclock("tick", "--at", future, db=db)
    assert result.returncode == 2
    no_traceback(result)
    assert "Invalid value for '--at'" in result.stderr and "is in the future" in result.stderr
    body = json.loads(ok(caseclock("show", "T1", "--json", db=db)).stdout)
    assert (body["state"], [d["status"] for d in body["deadlines"]]) == ("informal", ["open"])


def test_rejected_values_are_not_echoed(tmp_path):
    db = tmp_path / "c.db"
    secret = "Jane-Doe-disclosed-at-school-4K"
    result = caseclock("open", "drp", "E1", "--set", "theme=safety", "--set", f"concern{secret}", "--create", db=db)
    assert result.returncode == 2 and "--set" in result.stderr and "key=value" in result.stderr
    result = caseclock("open", "drp", "E1", "--set", f"theme={secret}", "--set", "concern=x", "--create", db=db)
    assert result.returncode == 1 and "data field 'theme': the value is not one of" in result.stderr
    result = caseclock("open", "drp", "E1", "--at", secret * 3, "--set", "theme=safety", "--set", "concern=x", "--create", db=db)
    assert result.returncode == 2 and "Invalid value for '--at'" in result.stderr
    long_ref = "R" * 10_000
    result = caseclock("open", "drp", long_ref, "--set", "theme=safety", "--set", "concern=x", "--create", db=db)
    assert result.returncode == 1 and "this one has 10000" in result.stderr and len(result.stderr) < 500
    for r in (result,):
        no_traceback(r)
    assert secret not in result.stderr
