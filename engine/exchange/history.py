"""The neutral record every reader produces: one history per child, each fact with its origin.

A reader knows its format (file names, columns, codes, date layout); the replay and the audit
know only this. Every fact carries the file, row and column it came from, so a child that cannot
be placed is reported where the authority can find and fix it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from engine.errors import CaseclockError

CLA = "cla_review"
CP = "child_protection"

# kinds of fact
CARE_STARTED, REVIEW, CARE_ENDED = "care_started", "review", "care_ended"
S47_STARTED, ICPC, PLAN_STARTED, CP_REVIEW, PLAN_ENDED, ENQUIRY_CLOSED = (
    "s47_started", "icpc", "plan_started", "cp_review", "plan_ended", "enquiry_closed")


ENDINGS = (CARE_ENDED, PLAN_ENDED, ENQUIRY_CLOSED)


class ExtractError(CaseclockError):
    """The extract as a whole cannot be read (a missing table, a file that is not CSV or XML)."""


@dataclass(frozen=True)
class Origin:
    """Where a fact came from: the file, its row (as a spreadsheet numbers it: the header is row 1;
    for XML the line) and column."""

    file: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column}")
        return ", ".join(parts)

    def at(self, column: str) -> "Origin":
        return Origin(self.file, self.row, column)


@dataclass(frozen=True)
class Fact:
    """One dated thing the extract says happened. `due_on` is the due date the extract carried
    for it (the case system's own date), if any; `on` is None for one only due, not yet held."""

    kind: str
    on: dt.date | None
    origin: Origin
    due_on: dt.date | None = None
    due_origin: Origin | None = None
    code: str | None = None  # the return's code (review participation, reason ceased, category)
    values: tuple[tuple[str, object], ...] = ()  # case data the fact brings (outcome, quorate...)

    def value(self, name: str, default: object = None) -> object:
        return dict(self.values).get(name, default)


@dataclass
class Spell:
    """One case: a period of care (cla_review) or a section 47 enquiry and what followed it
    (child_protection). `key` (the start date) and the child id make the case reference."""

    workflow: str
    starts_on: dt.date
    origin: Origin
    facts: list[Fact] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return "CLA" if self.workflow == CLA else "CP"


@dataclass(frozen=True)
class Problem:
    """Why a child was skipped, and where in the extract to look."""

    child_id: str
    origin: Origin
    reason: str

    def __str__(self) -> str:
        return f"child {self.child_id}: {self.origin}: {self.reason}"


@dataclass
class ChildHistory:
    child_id: str
    origin: Origin
    dob: dt.date | None = None
    spells: list[Spell] = field(default_factory=list)
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)  # harmless oddities (a duplicate row ignored)

    def refuse(self, origin: Origin, reason: str) -> None:
        """Mark the child as not placeable (the first problem found is the one reported)."""
        if self.problem is None:
            self.problem = Problem(self.child_id, origin, reason)

    def date_in(self, row, column: str, *, required: bool = True, iso: bool = True) -> dt.date | None:
        """The date in a CSV row's cell (`engine.exchange.tables.Row`); a missing or unreadable
        one refuses the child, naming the file, row and column."""
        text = row.get(column)
        if not text:
            if required:
                self.refuse(row.where(column), f"{column} is missing")
            return None
        try:
            return parse_date(text, iso=iso)
        except ValueError as exc:
            self.refuse(row.where(column), str(exc))
            return None


@dataclass
class Extract:
    """What a reader read: every child (placeable or not) and which source format it was."""

    source: str  # ssd | 903 | cin
    children: list[ChildHistory]

    @property
    def placeable(self) -> list[ChildHistory]:
        return [c for c in self.children if c.problem is None]

    @property
    def problems(self) -> list[Problem]:
        return [c.problem for c in self.children if c.problem is not None]


_ID = re.compile(r"^[A-Za-z0-9_.:/-]{1,100}$")


def case_ref(spell: Spell, child_id: str) -> str:
    """The case reference of a spell: derived from the child id and the spell's start, so the
    same child and episode map to the same case in every run and from every source."""
    return f"{spell.prefix}-{child_id}-{spell.starts_on:%Y%m%d}"


def check_child_id(child: ChildHistory, column: str) -> bool:
    if not _ID.match(child.child_id):
        child.refuse(child.origin.at(column), "the child id must be 1-100 letters, digits or _.:/- (no spaces)")
        return False
    return True


def check_order(child: ChildHistory, today: dt.date) -> None:
    """Refuse a child whose facts cannot be placed: a date in the future, facts of one case out
    of order, or two different facts of the same kind on the same day."""
    for spell in child.spells:
        previous: Fact | None = None
        for fact in spell.facts:
            if fact.on is not None and fact.on > today:
                child.refuse(fact.origin, f"date {fact.on.isoformat()} is in the future")
                return
            if fact.on is None:
                continue
            if fact.on < spell.starts_on:
                child.refuse(fact.origin, f"{_label(fact.kind)} on {fact.on.isoformat()} is before the "
                                          f"{_start_label(spell)} on {spell.starts_on.isoformat()}")
                return
            if previous is not None and previous.kind in ENDINGS:
                child.refuse(fact.origin, f"{_label(fact.kind)} on {fact.on.isoformat()} is after the "
                                          f"{_label(previous.kind)} on {previous.on.isoformat()} ({previous.origin})")
                return
            if previous is not None and fact.on < previous.on:
                child.refuse(fact.origin, f"{_label(fact.kind)} on {fact.on.isoformat()} is before the "
                                          f"{_label(previous.kind)} on {previous.on.isoformat()} ({previous.origin})")
                return
            previous = fact


def _label(kind: str) -> str:
    return kind.replace("_", " ").replace("icpc", "initial conference").replace("s47", "section 47 enquiry")


def _start_label(spell: Spell) -> str:
    return "start of the period of care" if spell.workflow == CLA else "strategy discussion"


# ---- dates and codes shared by the readers ---------------------------------------------------

_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")


def parse_date(text: str, *, dmy: bool = True, iso: bool = True) -> dt.date:
    """A return's date: dd/mm/yyyy (the DfE layout) or ISO (yyyy-mm-dd, with an optional time,
    as database extracts write DATETIME columns). ValueError names the expected layout."""
    text = text.strip()
    match = _DMY.match(text) if dmy else None
    if match:
        day, month, year = (int(g) for g in match.groups())
        return dt.date(year, month, day)
    match = _ISO.match(text) if iso else None
    if match:
        year, month, day = (int(g) for g in match.groups())
        return dt.date(year, month, day)
    layouts = " or ".join(x for x, on in (("dd/mm/yyyy", dmy), ("yyyy-mm-dd", iso)) if on)
    raise ValueError(f"not a date ({layouts})")


# SSDA903 reason episode ceased (REC) -> the workflow's ceased_reason; X1 continues the period
CEASED_REASONS = {
    "E11": "adoption", "E12": "adoption",
    "E13": "returned_home", "E4A": "returned_home", "E4B": "returned_home",
    "E41": "child_arrangements_order",
    "E43": "special_guardianship_order", "E44": "special_guardianship_order",
    "E45": "special_guardianship_order", "E46": "special_guardianship_order",
    "E47": "special_guardianship_order", "E48": "special_guardianship_order",
    "E17": "turned_18",
    "E2": "other", "E3": "other", "E5": "other", "E6": "other", "E7": "other", "E8": "other",
    "E9": "other", "E14": "other", "E15": "other", "E16": "other",
}
CONTINUES = "X1"
START_REASONS = {"S", "P", "L", "T", "U", "B"}  # RNE; S starts a period of care
REVIEW_CODES = {f"PN{i}" for i in range(8)}  # participation in the review

# categories of abuse (CIN census codes, and the words the SSD extracts use)
CATEGORIES = {"NEG": "neglect", "EMO": "emotional", "PHY": "physical", "SAB": "sexual",
              "NEGLECT": "neglect", "EMOTIONAL": "emotional", "PHYSICAL": "physical", "SEXUAL": "sexual",
              "EMOTIONAL ABUSE": "emotional", "PHYSICAL ABUSE": "physical", "SEXUAL ABUSE": "sexual"}


def category(text: str) -> str | None:
    return CATEGORIES.get(text.strip().upper())
