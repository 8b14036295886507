"""CIN census XML (the DfE schema, as the data-to-insight csc-validator-be-cin reads it) ->
child histories.

Per <Child>: <ChildIdentifiers><LAchildID>; per <CINdetails>: <Section47> (S47ActualStartDate,
InitialCPCtarget, DateOfInitialCPC, ICPCnotRequired) and <ChildProtectionPlans> (CPPstartDate,
CPPendDate, InitialCategoryOfAbuse, <Reviews><CPPreviewDate>). A plan belongs to the enquiry
whose initial conference was held the day the plan started. Dates are yyyy-mm-dd. Origins are
the XML line of the element.
"""

from __future__ import annotations

import datetime as dt
import xml.sax
from dataclasses import dataclass, field
from pathlib import Path

from engine.exchange.history import (
    CP,
    CP_REVIEW,
    ENQUIRY_CLOSED,
    ICPC,
    PLAN_ENDED,
    PLAN_STARTED,
    S47_STARTED,
    ChildHistory,
    Extract,
    ExtractError,
    Fact,
    Origin,
    Spell,
    category,
    check_child_id,
    check_order,
    parse_date,
)

MAX_FILE_BYTES = 2 * 1024**3


@dataclass
class Node:
    tag: str
    line: int
    text: str = ""
    children: list["Node"] = field(default_factory=list)

    def all(self, tag: str) -> list["Node"]:
        return [c for c in self.children if c.tag == tag]

    def first(self, tag: str) -> "Node | None":
        return next((c for c in self.children if c.tag == tag), None)


class _Builder(xml.sax.ContentHandler):
    """A small tree with line numbers (the standard ElementTree keeps none)."""

    def __init__(self):
        super().__init__()
        self.stack: list[Node] = [Node("#document", 0)]
        self.locator = None

    def setDocumentLocator(self, locator):
        self.locator = locator

    def startElement(self, name, attrs):
        node = Node(name.split(":")[-1], self.locator.getLineNumber() if self.locator else 0)
        self.stack[-1].children.append(node)
        self.stack.append(node)

    def endElement(self, name):
        node = self.stack.pop()
        node.text = node.text.strip()

    def characters(self, content):
        self.stack[-1].text += content


def _parse(path: Path) -> Node:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ExtractError(f"{path.name}: larger than 2 GB")
        parser = xml.sax.make_parser()
        parser.setFeature(xml.sax.handler.feature_external_ges, False)  # no external entities
        parser.setFeature(xml.sax.handler.feature_external_pes, False)
        builder = _Builder()
        parser.setContentHandler(builder)
        parser.parse(str(path))
    except xml.sax.SAXParseException as exc:
        raise ExtractError(f"{path.name}: line {exc.getLineNumber()}: not well-formed XML ({exc.getMessage()})") from None
    except OSError as exc:
        raise ExtractError(f"{path.name}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    return builder.stack[0]


def _walk(node: Node, tag: str):
    for child in node.children:
        if child.tag == tag:
            yield child
        else:
            yield from _walk(child, tag)


def read(path: Path, today: dt.date) -> Extract:
    root = _parse(path)
    children = []
    for element in _walk(root, "Child"):
        ident = element.first("ChildIdentifiers")
        id_node = ident.first("LAchildID") if ident else None
        origin = Origin(path.name, (id_node or element).line, "LAchildID")
        child = ChildHistory(id_node.text if id_node else "", origin)
        if id_node is None or not id_node.text:
            child.child_id = f"<line {element.line}>"
            child.refuse(origin, "LAchildID is missing")
        elif check_child_id(child, "LAchildID"):
            _read_child(child, element, path.name)
            if child.problem is None:
                for spell in child.spells:
                    spell.facts.sort(key=lambda f: (f.on or dt.date.max, _ORDER[f.kind]))
                check_order(child, today)
        children.append(child)
    if not children:
        raise ExtractError(f"{path.name}: no <Child> elements (is it a CIN census file?)")
    return Extract("cin", children)


_ORDER = {S47_STARTED: 0, ICPC: 1, PLAN_STARTED: 2, CP_REVIEW: 3, PLAN_ENDED: 4, ENQUIRY_CLOSED: 5}


def _date(child: ChildHistory, node: Node | None, file: str, tag: str, parent: Node) -> dt.date | None:
    if node is None or not node.text:
        return None
    try:
        return parse_date(node.text, dmy=False)
    except ValueError as exc:
        child.refuse(Origin(file, node.line, tag), str(exc))
        return None


def _read_child(child: ChildHistory, element: Node, file: str) -> None:
    for details in element.all("CINdetails"):
        spells_by_icpc: dict[dt.date, Spell] = {}
        for s47 in details.all("Section47"):
            start_node = s47.first("S47ActualStartDate")
            start = _date(child, start_node, file, "S47ActualStartDate", s47)
            if start is None:
                child.refuse(Origin(file, s47.line, "S47ActualStartDate"), "S47ActualStartDate is missing")
                return
            origin = Origin(file, start_node.line, "S47ActualStartDate")
            spell = Spell(CP, start, origin, [Fact(S47_STARTED, start, origin)])
            target_node, icpc_node = s47.first("InitialCPCtarget"), s47.first("DateOfInitialCPC")
            target = _date(child, target_node, file, "InitialCPCtarget", s47)
            held = _date(child, icpc_node, file, "DateOfInitialCPC", s47)
            not_required = (s47.first("ICPCnotRequired").text.lower() in ("true", "1")) if s47.first("ICPCnotRequired") else False
            if held is not None or target is not None:
                spell.facts.append(Fact(ICPC, held, Origin(file, (icpc_node or s47).line, "DateOfInitialCPC"), due_on=target,
                                        due_origin=Origin(file, target_node.line, "InitialCPCtarget") if target_node else None,
                                        values=(("outcome", "no_plan"),)))
            if held is not None:
                spells_by_icpc[held] = spell
            elif not_required:
                spell.facts.append(Fact(ENQUIRY_CLOSED, start, Origin(file, s47.line, "ICPCnotRequired")))
            child.spells.append(spell)
        for plan in details.all("ChildProtectionPlans"):
            start_node = plan.first("CPPstartDate")
            start = _date(child, start_node, file, "CPPstartDate", plan)
            if start is None:
                child.refuse(Origin(file, plan.line, "CPPstartDate"), "CPPstartDate is missing")
                return
            spell = spells_by_icpc.get(start)
            if spell is None:
                child.refuse(Origin(file, start_node.line, "CPPstartDate"),
                             "no section 47 enquiry in this CINdetails has its initial conference (DateOfInitialCPC) on this date")
                return
            cat_node = plan.first("InitialCategoryOfAbuse")
            chosen = category(cat_node.text) if cat_node is not None else None
            if chosen is None:
                child.refuse(Origin(file, (cat_node or plan).line, "InitialCategoryOfAbuse"),
                             "unknown or missing category of abuse (expected NEG, EMO, PHY or SAB)")
                return
            for i, fact in enumerate(spell.facts):
                if fact.kind == ICPC:
                    spell.facts[i] = Fact(ICPC, fact.on, fact.origin, fact.due_on, fact.due_origin,
                                          values=(("outcome", "plan"), ("category", chosen)))
            spell.facts.append(Fact(PLAN_STARTED, start, Origin(file, start_node.line, "CPPstartDate")))
            seen: set[dt.date] = set()
            for reviews in plan.all("Reviews"):
                for review in reviews.all("CPPreviewDate"):
                    on = _date(child, review, file, "CPPreviewDate", reviews)
                    if on is None:
                        child.refuse(Origin(file, review.line, "CPPreviewDate"), "CPPreviewDate is empty")
                        return
                    if on in seen:
                        child.notes.append(f"{file}, line {review.line}: duplicate review date (ignored)")
                        continue
                    seen.add(on)
                    spell.facts.append(Fact(CP_REVIEW, on, Origin(file, review.line, "CPPreviewDate")))
            end_node = plan.first("CPPendDate")
            end = _date(child, end_node, file, "CPPendDate", plan)
            if end is not None:
                spell.facts.append(Fact(PLAN_ENDED, end, Origin(file, end_node.line, "CPPendDate")))
