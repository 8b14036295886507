"""Export the dates caseclock holds in the returns' own layouts, so an authority can check its
return against caseclock: the SSDA903 Reviews table (CSV: CHILD, DOB, REVIEW, REVIEW_CODE, dates
dd/mm/yyyy) and the CIN census child protection elements (an XML fragment of <Child> elements:
Section47 with S47ActualStartDate, InitialCPCtarget and DateOfInitialCPC, ChildProtectionPlans
with CPPstartDate, CPPendDate and Reviews/CPPreviewDate).

The child's id is the case's child reference; for a case without one it is read from the case
reference an import gives (CLA-<child>-<yyyymmdd>, CP-<child>-<yyyymmdd>). caseclock holds no date
of birth or participation code: they are taken from a 903 extract when one is given, else left blank.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from engine.time.calendar import local_date

CATEGORY_CODES = {"neglect": "NEG", "emotional": "EMO", "physical": "PHY", "sexual": "SAB"}  # CIN census codes
_REF = re.compile(r"^(?:CLA|CP)-(?P<child>.+)-(?P<start>\d{8})$")


def child_of(view) -> str | None:
    """The child id of a case: its child_ref, else the one an import's case reference carries."""
    ref = getattr(view, "child_ref", None)
    if ref:
        return ref
    match = _REF.match(view.case_ref)
    return match.group("child") if match else None


@dataclass(frozen=True)
class ReviewRow:
    child: str
    dob: str
    review: dt.date
    review_code: str


def review_rows(engine, details: dict[tuple[str, dt.date], str] | None = None,
                dobs: dict[str, dt.date] | None = None) -> list[ReviewRow]:
    """Every review held on a cla_review case, as caseclock holds it."""
    details, dobs = details or {}, dobs or {}
    rows = []
    for ref in engine.store.case_refs("cla_review"):
        view = engine.case(ref)
        child = child_of(view)
        if child is None:
            continue
        for entry in engine.history(ref):
            if entry.trigger == "review_held":
                on = local_date(entry.effective_at)
                dob = dobs.get(child)
                rows.append(ReviewRow(child, dob.strftime("%d/%m/%Y") if dob else "", on, details.get((child, on), "")))
    rows.sort(key=lambda r: (r.child, r.review))
    return rows


def write_903_reviews(rows: list[ReviewRow], out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["CHILD", "DOB", "REVIEW", "REVIEW_CODE"])
    for r in rows:
        writer.writerow([r.child, r.dob, r.review.strftime("%d/%m/%Y"), r.review_code])


def cin_cp_fragment(engine) -> ET.Element:
    """<Children> with one <Child> per child and one <CINdetails> per child protection case."""
    root = ET.Element("Children")
    by_child: dict[str, ET.Element] = {}
    for ref in engine.store.case_refs("child_protection"):
        view = engine.case(ref)
        child = child_of(view)
        if child is None:
            continue
        element = by_child.get(child)
        if element is None:
            element = by_child[child] = ET.SubElement(root, "Child")
            ET.SubElement(ET.SubElement(element, "ChildIdentifiers"), "LAchildID").text = child
        details = ET.SubElement(element, "CINdetails")
        s47 = ET.SubElement(details, "Section47")
        ET.SubElement(s47, "S47ActualStartDate").text = view.data["strategy_discussion_on"].isoformat()
        icpc = next((d for d in view.deadlines if d.name == "icpc"), None)
        if icpc is not None:
            ET.SubElement(s47, "InitialCPCtarget").text = icpc.due_on.isoformat()
        history = engine.history(ref)
        held = next((e for e in history if e.trigger == "icpc_held"), None)
        if held is not None:
            ET.SubElement(s47, "DateOfInitialCPC").text = local_date(held.effective_at).isoformat()
        if held is not None and held.to_state == "child_protection_plan":
            plan = ET.SubElement(details, "ChildProtectionPlans")
            ET.SubElement(plan, "CPPstartDate").text = local_date(held.effective_at).isoformat()
            conferences = [e for e in history if e.trigger in ("rcpc_held", "designated_conference_held")]
            ended = next((e for e in conferences if e.to_state == "plan_ended"), None)
            if ended is not None:
                ET.SubElement(plan, "CPPendDate").text = local_date(ended.effective_at).isoformat()
            if held.data.get("category"):  # the category the initial conference gave
                ET.SubElement(plan, "InitialCategoryOfAbuse").text = CATEGORY_CODES[held.data["category"]]
            if conferences:
                reviews = ET.SubElement(plan, "Reviews")
                for e in conferences:
                    ET.SubElement(reviews, "CPPreviewDate").text = local_date(e.effective_at).isoformat()
    return root


def write_cin_cp(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
