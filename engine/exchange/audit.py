"""The due-date audit: the due dates an extract carried against the dates caseclock computes.

For every fact with a due date in the extract (SSD review due dates CLAR003A and CPPR003A, ICPC
target dates ICPC004A, the CIN census InitialCPCtarget) the audit finds the statutory deadline
caseclock holds for it (closed by that event, or still open) and reports both dates, the
difference in working days, the rule and its source.

It also flags the dates a DfE return or a case system counts differently from the statute, so
an authority is warned before it submits:
- the CIN census validator counts the strategy discussion as day 1 of the 15 working days to
  the initial conference (`england_working_days(n)` offsets by n-1): an ICPC held on the 15th
  working day after the discussion is in time by statute and queried by the return;
- several case systems (the SSD's Mosaic extract among them) take "3 months" and "6 months" as
  91 and 183 days: a review in time by the calendar months can show as late there.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from engine.errors import CaseNotFound
from engine.exchange.history import (
    CP_REVIEW,
    ICPC,
    REVIEW,
    Extract,
    Origin,
    case_ref,
)
from engine.time.calendar import Unit, local_date

# which deadlines a fact of each kind meets
DEADLINES = {
    REVIEW: ("first_review", "second_review", "subsequent_review", "brought_forward_review"),
    ICPC: ("icpc",),
    CP_REVIEW: ("first_rcpc", "next_rcpc"),
}
DAY_COUNTS = {3: 91, 6: 183}  # the day counts some case systems use for "3 months" / "6 months"
CIN_ICPC = "CIN census validator: strategy discussion counted as day 1 of 15 working days"


@dataclass(frozen=True)
class DueDateCheck:
    child_id: str
    case_ref: str
    deadline: str  # caseclock's deadline name (the kind of due date)
    held_on: dt.date | None
    extract_due: dt.date
    extract_origin: Origin
    caseclock_due: dt.date
    difference: int  # working days from caseclock's date to the extract's (+: the extract's is later)
    rule: str
    source: str


@dataclass(frozen=True)
class ConventionFlag:
    child_id: str
    case_ref: str
    deadline: str
    held_on: dt.date | None
    statutory_due: dt.date
    convention_due: dt.date
    convention: str
    origin: Origin

    @property
    def message(self) -> str:
        if self.held_on is None:
            return (f"not yet held: in time by statute until {self.statutory_due.isoformat()}, but after "
                    f"{self.convention_due.isoformat()} it is queried ({self.convention})")
        return (f"held {self.held_on.isoformat()}: in time by statute (due {self.statutory_due.isoformat()}) "
                f"but after {self.convention_due.isoformat()}, so queried ({self.convention})")


@dataclass
class AuditReport:
    checks: list[DueDateCheck] = field(default_factory=list)
    flags: list[ConventionFlag] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # extract due dates with no caseclock deadline

    def summary(self) -> list[dict]:
        """Per kind of due date: how many, how many agree, later and earlier in the extract."""
        rows = []
        for name in sorted({c.deadline for c in self.checks}):
            mine = [c for c in self.checks if c.deadline == name]
            rows.append({
                "deadline": name, "due_dates": len(mine),
                "agree": sum(c.difference == 0 for c in mine),
                "extract_later": sum(c.difference > 0 for c in mine),
                "extract_earlier": sum(c.difference < 0 for c in mine),
                "largest_difference": max((abs(c.difference) for c in mine), default=0),
            })
        return rows

    def flag_counts(self) -> dict[str, int]:
        return dict(Counter(f.convention for f in self.flags))


def audit(extract: Extract, engine, today: dt.date | None = None) -> AuditReport:
    """Compare the extract's due dates with the deadlines `engine` holds for its cases (after
    an import, or on a scratch database the extract was rehearsed on)."""
    today = today or local_date(engine.clock.now())
    report = AuditReport()
    for child in extract.placeable:
        for spell in child.spells:
            ref = case_ref(spell, child.child_id)
            try:
                view = engine.case(ref)
            except CaseNotFound:
                continue
            calendar = engine.calendars.of(view.authority)
            for fact in spell.facts:
                names = DEADLINES.get(fact.kind)
                if names is None:
                    continue
                deadline = _deadline_for(view, names, fact.on)
                if deadline is None:
                    if fact.due_on is not None:
                        report.unmatched.append(f"child {child.child_id}: {fact.due_origin}: no caseclock deadline for this due date")
                    continue
                if fact.due_on is not None:
                    report.checks.append(DueDateCheck(
                        child.child_id, ref, deadline.name, fact.on, fact.due_on, fact.due_origin or fact.origin,
                        deadline.due_on, calendar.working_days_between(deadline.due_on, fact.due_on),
                        deadline.title, deadline.source))
                flag = _convention(child.child_id, ref, deadline, fact, calendar, today)
                if flag is not None:
                    report.flags.append(flag)
    return report


def _deadline_for(view, names: tuple[str, ...], held_on: dt.date | None):
    """The deadline a fact met: closed by the event of that day, or (not yet held) still open."""
    candidates = [d for d in view.deadlines if d.name in names]
    if held_on is None:
        open_ = [d for d in candidates if d.status == "open"]
        return max(open_, key=lambda d: d.opened_at) if open_ else None
    met = [d for d in candidates if d.closed_at is not None and local_date(d.closed_at) == held_on and d.status in ("met", "missed")]
    return met[0] if met else None


def _convention(child_id, ref, deadline, fact, calendar, today) -> ConventionFlag | None:
    if deadline.name == "icpc" and deadline.unit == Unit.WORKING_DAYS.value and not deadline.anchor_is_day_one:
        conv_due = calendar.add(deadline.anchor_on, deadline.amount, Unit.WORKING_DAYS, anchor_is_day_one=True)
        convention = CIN_ICPC
    elif deadline.unit == Unit.MONTHS.value and deadline.amount in DAY_COUNTS:
        days = DAY_COUNTS[deadline.amount]
        conv_due = deadline.anchor_on + dt.timedelta(days=days)
        convention = f"{days} days for {deadline.amount} months, as several case systems count"
    else:
        return None
    if conv_due >= deadline.due_on:
        return None
    held = fact.on
    if held is not None and not (conv_due < held <= deadline.due_on):
        return None
    if held is None and (deadline.status != "open" or today > deadline.due_on):
        return None
    return ConventionFlag(child_id, ref, deadline.name, held, deadline.due_on, conv_due, convention, fact.origin)
