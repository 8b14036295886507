"""Standard Safeguarding Dataset (data-to-insight ssd-data-model) CSV extracts -> child histories.

Tables, found by their columns whatever the files are called: ssd_person, ssd_cla_episodes,
ssd_cla_reviews, ssd_s47_enquiry, ssd_initial_cp_conference, ssd_cp_plans, ssd_cp_reviews.
Episodes group into periods of care by clae_cla_id (reviews point at it with clar_cla_id);
an initial conference points at its enquiry (icpc_s47_enquiry_id), a plan at its conference
(cppl_icpc_id or icpc_cp_plan_id) and a review at its plan (cppr_cp_plan_id). Dates are the
extract's DATETIME columns written as ISO dates (or dd/mm/yyyy).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

from engine.exchange.history import (
    CARE_ENDED,
    CARE_STARTED,
    CEASED_REASONS,
    CLA,
    CONTINUES,
    CP,
    CP_REVIEW,
    ENQUIRY_CLOSED,
    ICPC,
    PLAN_ENDED,
    PLAN_STARTED,
    REVIEW,
    S47_STARTED,
    ChildHistory,
    Extract,
    ExtractError,
    Fact,
    Spell,
    category,
    check_child_id,
    check_order,
)
from engine.exchange.tables import Row, find_tables

LAYOUTS = {
    "ssd_person": ["pers_person_id", "pers_dob"],
    "ssd_cla_episodes": ["clae_cla_episode_id", "clae_person_id", "clae_cla_episode_start_date",
                         "clae_cla_episode_ceased", "clae_cla_episode_ceased_reason", "clae_cla_id"],
    "ssd_cla_reviews": ["clar_cla_review_id", "clar_cla_id", "clar_cla_review_due_date", "clar_cla_review_date"],
    "ssd_s47_enquiry": ["s47e_s47_enquiry_id", "s47e_person_id", "s47e_s47_start_date", "s47e_s47_end_date"],
    "ssd_initial_cp_conference": ["icpc_icpc_id", "icpc_s47_enquiry_id", "icpc_person_id",
                                  "icpc_icpc_target_date", "icpc_icpc_date", "icpc_icpc_outcome_cp_flag"],
    "ssd_cp_plans": ["cppl_cp_plan_id", "cppl_person_id", "cppl_cp_plan_start_date", "cppl_cp_plan_end_date",
                     "cppl_cp_plan_initial_category"],
    "ssd_cp_reviews": ["cppr_cp_review_id", "cppr_person_id", "cppr_cp_plan_id", "cppr_cp_review_due",
                       "cppr_cp_review_date"],
}


def read(directory: Path, today: dt.date) -> Extract:
    tables = find_tables(directory, LAYOUTS)
    if not tables["ssd_cla_episodes"] and not tables["ssd_s47_enquiry"]:
        raise ExtractError(f"{directory}: neither ssd_cla_episodes nor ssd_s47_enquiry was found (matched by their columns)")
    rows = {name: [r for t in found for r in t.rows] for name, found in tables.items()}
    by_person: dict[str, ChildHistory] = {}

    def child_of(person: str, row: Row, column: str) -> ChildHistory:
        if person not in by_person:
            child = by_person[person] = ChildHistory(person, row.where(column))
            check_child_id(child, column)
        return by_person[person]

    for row in rows["ssd_person"]:
        child = child_of(row.get("pers_person_id"), row, "pers_person_id")
        child.dob = child.date_in(row, "pers_dob", required=False)
    _care(rows, child_of)
    _protection(rows, child_of)
    children = [c for c in by_person.values() if c.spells or c.problem]
    for child in children:
        if child.problem is None:
            for spell in child.spells:
                spell.facts.sort(key=lambda f: (f.on or dt.date.max, _ORDER[f.kind]))
            check_order(child, today)
    return Extract("ssd", children)


_ORDER = {CARE_STARTED: 0, REVIEW: 1, CARE_ENDED: 2, S47_STARTED: 0, ICPC: 1, PLAN_STARTED: 2, CP_REVIEW: 3,
          PLAN_ENDED: 4, ENQUIRY_CLOSED: 5}



def _care(rows, child_of) -> None:
    periods: dict[str, list[tuple[Row, ChildHistory]]] = defaultdict(list)
    for row in rows["ssd_cla_episodes"]:
        child = child_of(row.get("clae_person_id"), row, "clae_person_id")
        periods[row.get("clae_cla_id") or row.get("clae_cla_episode_id")].append((row, child))
    spells: dict[str, tuple[Spell, ChildHistory]] = {}
    for cla_id, episodes in periods.items():
        child = episodes[0][1]
        dated = []
        for row, _ in episodes:
            start = child.date_in(row, "clae_cla_episode_start_date")
            end = child.date_in(row, "clae_cla_episode_ceased", required=False)
            reason = row.get("clae_cla_episode_ceased_reason").upper()
            if end is not None and reason != CONTINUES and reason not in CEASED_REASONS:
                child.refuse(row.where("clae_cla_episode_ceased_reason"), "unknown reason episode ceased (expected an SSDA903 REC code)")
            if start and end and end < start:
                child.refuse(row.where("clae_cla_episode_ceased"), f"ceased {end.isoformat()} is before the start {start.isoformat()}")
            dated.append((start, end, reason, row))
        if child.problem:
            continue
        dated.sort(key=lambda d: d[0])
        first = dated[0]
        spell = Spell(CLA, first[0], first[3].where("clae_cla_episode_start_date"),
                      [Fact(CARE_STARTED, first[0], first[3].where("clae_cla_episode_start_date"))])
        last = max(dated, key=lambda d: (d[1] is None, d[1] or dt.date.min))
        if all(d[1] is not None for d in dated) and last[2] != CONTINUES:
            spell.facts.append(Fact(CARE_ENDED, last[1], last[3].where("clae_cla_episode_ceased"), code=last[2]))
        child.spells.append(spell)
        spells[cla_id] = (spell, child)
    seen: dict[tuple, Row] = {}
    for row in rows["ssd_cla_reviews"]:
        if row.get("clar_cla_review_cancelled").upper() in ("Y", "1", "TRUE"):
            continue
        found = spells.get(row.get("clar_cla_id"))
        if found is None:
            continue  # a period of care outside the extract's episodes
        spell, child = found
        on = child.date_in(row, "clar_cla_review_date", required=False)
        due = child.date_in(row, "clar_cla_review_due_date", required=False)
        if on is None and due is None and child.problem is None:
            child.refuse(row.where("clar_cla_review_date"), "neither the review date nor its due date is given")
            continue
        key = (row.get("clar_cla_id"), on, due)
        if key in seen:
            child.notes.append(f"{row.origin}: duplicate of {seen[key].origin} (ignored)")
            continue
        seen[key] = row
        if on is not None and on < spell.starts_on and child.problem is None:
            child.refuse(row.where("clar_cla_review_date"), f"review on {on.isoformat()} is before the child came "
                                                           f"into care on {spell.starts_on.isoformat()}")
            continue
        spell.facts.append(Fact(REVIEW, on, row.where("clar_cla_review_date"), due_on=due,
                                due_origin=row.where("clar_cla_review_due_date")))


def _protection(rows, child_of) -> None:
    enquiries: dict[str, tuple[Spell, ChildHistory]] = {}
    for row in rows["ssd_s47_enquiry"]:
        child = child_of(row.get("s47e_person_id"), row, "s47e_person_id")
        start = child.date_in(row, "s47e_s47_start_date")
        if start is None:
            continue
        spell = Spell(CP, start, row.where("s47e_s47_start_date"), [Fact(S47_STARTED, start, row.where("s47e_s47_start_date"))])
        child.spells.append(spell)
        enquiries[row.get("s47e_s47_enquiry_id")] = (spell, child)
        ended = child.date_in(row, "s47e_s47_end_date", required=False)
        if ended is not None and row.get("s47e_s47_nfa").upper() in ("Y", "1", "TRUE"):
            spell.facts.append(Fact(ENQUIRY_CLOSED, ended, row.where("s47e_s47_end_date")))
    plans_by_icpc: dict[str, tuple[Spell, ChildHistory]] = {}
    for row in rows["ssd_initial_cp_conference"]:
        found = enquiries.get(row.get("icpc_s47_enquiry_id"))
        child = child_of(row.get("icpc_person_id"), row, "icpc_person_id")
        if found is None:
            child.refuse(row.where("icpc_s47_enquiry_id"), "initial conference whose section 47 enquiry is not in the extract")
            continue
        spell, _ = found
        on = child.date_in(row, "icpc_icpc_date", required=False)
        due = child.date_in(row, "icpc_icpc_target_date", required=False)
        flag = row.get("icpc_icpc_outcome_cp_flag").upper()
        if on is not None and flag not in ("Y", "N"):
            child.refuse(row.where("icpc_icpc_outcome_cp_flag"), "unknown outcome flag (expected Y or N)")
            continue
        spell.facts.append(Fact(ICPC, on, row.where("icpc_icpc_date"), due_on=due, due_origin=row.where("icpc_icpc_target_date"),
                                values=(("outcome", "plan" if flag == "Y" else "no_plan"),)))
        plans_by_icpc[row.get("icpc_icpc_id")] = found
        if row.get("icpc_cp_plan_id"):
            plans_by_icpc["plan:" + row.get("icpc_cp_plan_id")] = found
    plans: dict[str, tuple[Spell, ChildHistory]] = {}
    for row in rows["ssd_cp_plans"]:
        found = plans_by_icpc.get(row.get("cppl_icpc_id")) or plans_by_icpc.get("plan:" + row.get("cppl_cp_plan_id"))
        child = child_of(row.get("cppl_person_id"), row, "cppl_person_id")
        if found is None:
            child.refuse(row.where("cppl_icpc_id"), "plan whose initial conference is not in the extract")
            continue
        spell, _ = found
        start = child.date_in(row, "cppl_cp_plan_start_date")
        chosen = category(row.get("cppl_cp_plan_initial_category"))
        if chosen is None:
            child.refuse(row.where("cppl_cp_plan_initial_category"), "unknown category of abuse")
            continue
        _set_category(spell, chosen)
        spell.facts.append(Fact(PLAN_STARTED, start, row.where("cppl_cp_plan_start_date")))
        end = child.date_in(row, "cppl_cp_plan_end_date", required=False)
        if end is not None:
            spell.facts.append(Fact(PLAN_ENDED, end, row.where("cppl_cp_plan_end_date")))
        plans[row.get("cppl_cp_plan_id")] = found
    for row in rows["ssd_cp_reviews"]:
        found = plans.get(row.get("cppr_cp_plan_id"))
        child = child_of(row.get("cppr_person_id"), row, "cppr_person_id")
        if found is None:
            child.refuse(row.where("cppr_cp_plan_id"), "review of a plan that is not in the extract")
            continue
        spell, _ = found
        on = child.date_in(row, "cppr_cp_review_date", required=False)
        due = child.date_in(row, "cppr_cp_review_due", required=False)
        if on is None and due is None:
            child.refuse(row.where("cppr_cp_review_date"), "neither the review date nor its due date is given")
            continue
        values = []
        if row.get("cppr_cp_review_outcome_continue_cp").upper() == "N":
            values.append(("outcome", "end_plan"))
        quorate = row.get("cppr_cp_review_quorate").upper()
        if quorate in ("Y", "N"):
            values.append(("quorate", quorate == "Y"))
        spell.facts.append(Fact(CP_REVIEW, on, row.where("cppr_cp_review_date"), due_on=due,
                                due_origin=row.where("cppr_cp_review_due"), values=tuple(values)))


def _set_category(spell: Spell, chosen: str) -> None:
    for i, fact in enumerate(spell.facts):
        if fact.kind == ICPC:
            spell.facts[i] = Fact(fact.kind, fact.on, fact.origin, fact.due_on, fact.due_origin, fact.code,
                                  fact.values + (("category", chosen),))
