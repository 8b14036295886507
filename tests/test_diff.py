"""`caseclock diff`: what a change to a procedure does, in plain words, on hand-made pairs."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import yaml

from engine.language.registry import Registry
from engine.procedures.diff import diff, resolve

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "workflows" / "drp.yaml").read_text())


def side(text, stored=lambda version: None, authority=None):
    return resolve(str(text), registry_for=lambda a: Registry.load(authority=a), authority=authority, stored=stored)


def edited(tmp_path: Path, change, name: str = "drp.yaml") -> Path:
    data = copy.deepcopy(BASE)
    change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_same_procedure_has_no_difference(tmp_path):
    assert diff(side("drp")["drp"], side(edited(tmp_path, lambda d: None))["drp"]) == []


def test_a_longer_stage_is_one_line_in_plain_words(tmp_path):
    def longer(d):
        d["deadlines"]["stage_2_response"]["due"]["amount"] = 10
    assert diff(side("drp")["drp"], side(edited(tmp_path, longer))["drp"]) == ["stage_2_response: 5 -> 10 working days"]


def test_a_new_unit_and_anchor_are_named(tmp_path):
    def monthly(d):
        d["deadlines"]["stage_3_response"]["due"] = {"amount": 1, "unit": "months"}
        d["deadlines"]["stage_1_response"]["due"]["anchor_is_day_one"] = True
        d["deadlines"]["stage_1_response"]["on_expiry"]["trigger"] = None
    assert diff(side("drp")["drp"], side(edited(tmp_path, monthly))["drp"]) == [
        "stage_1_response: the anchor is now day 1",
        "stage_1_response: on expiry fires escalate -> nothing",
        "stage_3_response: 5 working days -> 1 month",
    ]


def test_an_overlay_is_compared_as_the_workflow_it_resolves_to(tmp_path):
    overlay = tmp_path / "two_stages.yaml"
    overlay.write_text("name: drp_two_stages\nextends: drp\ntitle: Two stages\nremove: {states: [stage_3]}\n"
                       "deadlines: {stage_2_response: {on_expiry: {trigger: null}}}\n")
    lines = diff(side("drp")["drp"], side(overlay)["drp_two_stages"])
    assert "state removed: stage_3" in lines
    assert "stage_2_response: on expiry fires escalate -> nothing" in lines
    assert "deadline removed: stage_3_response" in lines
    assert "transition removed: escalate from stage_2 to stage_3" in lines
    assert "transition removed: escalate_to from informal to stage_3 when target_stage = 'stage_3'" in lines
    assert "formal_resolution: open in stage_1, stage_2, stage_3 -> stage_1, stage_2" in lines
    assert "cases may be opened at: stage_1, stage_2, stage_3 -> stage_1, stage_2" in lines


def test_a_profile_is_compared_as_the_workflows_it_overlays():
    sunderland = side(REPO / "config" / "authorities" / "sunderland.yaml")
    assert sorted(sunderland) == ["cla_review", "drp"]
    lines = diff(side("drp")["drp"], sunderland["drp"])
    assert "state removed: stage_1" in lines and "state added: stage_5" in lines
    assert "deadline added: stage_5_response (5 working days from entry, in stage_5)" in lines
    assert "state stage_3: responsible role director -> service_manager" in lines
    assert "transition escalate from informal: to stage_1 -> stage_2" in lines
    cla = diff(side("cla_review")["cla_review"], sunderland["cla_review"])
    assert "second_review: 3 months -> 91 days" in cla


def test_a_stored_version_is_compared_with_a_file(tmp_path, engine, clock):
    from .conftest import at

    view = engine.open_case("drp", "DRP-1", at=at("2026-03-02"), data={"theme": "safety", "concern": "x"})
    def longer(d):
        d["deadlines"]["stage_2_response"]["due"]["amount"] = 10
    old = side(f"drp@{view.version}", stored=engine.store.definition)["drp"]
    assert old.version == view.version
    assert diff(old, side(edited(tmp_path, longer))["drp"]) == ["stage_2_response: 5 -> 10 working days"]


def test_caseclock_diff_prints_the_differences_and_refuses_an_unknown_version(tmp_path):
    def longer(d):
        d["deadlines"]["stage_2_response"]["due"]["amount"] = 10
    new = edited(tmp_path, longer)
    ran = subprocess.run(["caseclock", "diff", "drp", str(new)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "1 difference(s)" in ran.stdout and "  stage_2_response: 5 -> 10 working days" in ran.stdout
    db = tmp_path / "c.db"
    subprocess.run(["caseclock", "--database", f"sqlite:///{db}", "migrate"], check=True,
                   capture_output=True, cwd=tmp_path)
    ran = subprocess.run(["caseclock", "--database", f"sqlite:///{db}", "diff",
                          "drp@0123456789ab", str(new)], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 1
    assert "drp@0123456789ab: version: no such definition version is stored in the database" in ran.stderr
    assert "Traceback" not in ran.stderr
