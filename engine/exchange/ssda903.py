"""SSDA903 (children looked after return): Header, Episodes and Reviews CSVs -> child histories.

Tables are found by their columns, as the DfE validator (data-to-insight csc-validator-be-903,
`column_names` in its config) identifies uploaded files; dates are dd/mm/yyyy. A period of care
starts with an episode whose RNE is S and runs through episodes ended with REC X1 (a new episode
the same day) to the first episode ended for another reason.
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
    REVIEW,
    REVIEW_CODES,
    START_REASONS,
    ChildHistory,
    Extract,
    ExtractError,
    Fact,
    Spell,
    check_child_id,
    check_order,
)
from engine.exchange.tables import Row, find_tables

LAYOUTS = {
    "Header": ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"],
    "Episodes": ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                 "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"],
    "Reviews": ["CHILD", "DOB", "REVIEW", "REVIEW_CODE"],
}


def read(directory: Path, today: dt.date) -> Extract:
    tables = find_tables(directory, LAYOUTS)
    for name in ("Episodes", "Reviews"):
        if not tables[name]:
            raise ExtractError(f"{directory}: no {name} table (a CSV with the columns {', '.join(LAYOUTS[name])})")
    rows: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for name, found in tables.items():
        for table in found:
            for row in table.rows:
                rows[row.get("CHILD")][name].append(row)
    children = []
    for child_id, by_table in rows.items():
        first = next(iter(by_table.values()))[0]
        child = ChildHistory(child_id, first.origin)
        if check_child_id(child, "CHILD"):
            _read_child(child, by_table, today)
        children.append(child)
    return Extract("903", children)



def _read_child(child: ChildHistory, by_table: dict[str, list[Row]], today: dt.date) -> None:
    for row in by_table.get("Header", []):
        child.dob = child.date_in(row, "DOB", required=False, iso=False)
    episodes = []
    seen: dict[tuple, Row] = {}
    for row in by_table.get("Episodes", []):
        key = (row.get("DECOM"), row.get("DEC"), row.get("RNE"), row.get("REC"), row.get("PLACE"), row.get("LS"))
        if key in seen:  # the same episode in two returns, or repeated: once is enough
            child.notes.append(f"{row.origin}: duplicate of {seen[key].origin} (ignored)")
            continue
        seen[key] = row
        start, end = child.date_in(row, "DECOM", iso=False), child.date_in(row, "DEC", required=False, iso=False)
        rne, rec = row.get("RNE").upper(), row.get("REC").upper()
        if rne not in START_REASONS:
            child.refuse(row.where("RNE"), f"unknown RNE code (expected one of {', '.join(sorted(START_REASONS))})")
        if end is not None and rec != CONTINUES and rec not in CEASED_REASONS:
            child.refuse(row.where("REC"), "unknown REC code")
        if end is None and rec:
            child.refuse(row.where("DEC"), "REC is given but DEC (the date the episode ceased) is missing")
        if start and end and end < start:
            child.refuse(row.where("DEC"), f"DEC {end.isoformat()} is before DECOM {start.isoformat()}")
        episodes.append((start, end, rne, rec, row))
    if child.problem:
        return
    episodes.sort(key=lambda e: e[0])
    spell: Spell | None = None
    previous = None
    for start, end, rne, rec, row in episodes:
        if previous is not None:
            _, p_end, _, _, p_row = previous
            if p_end is None or start < p_end:
                child.refuse(row.where("DECOM"), f"episode starting {start.isoformat()} overlaps the episode at {p_row.origin}")
                return
        continues = previous is not None and previous[3] == CONTINUES and previous[1] == start
        if not continues:
            if rne != "S":
                child.refuse(row.where("RNE"), "the period of care starts before this return (its first episode's "
                                               "RNE is not S): include the earlier returns so its reviews can be counted")
                return
            spell = Spell(CLA, start, row.where("DECOM"), [Fact(CARE_STARTED, start, row.where("DECOM"))])
            child.spells.append(spell)
        if end is not None and rec != CONTINUES:
            spell.facts.append(Fact(CARE_ENDED, end, row.where("DEC"), code=rec))
        previous = (start, end, rne, rec, row)
    _place_reviews(child, by_table.get("Reviews", []))
    if child.problem is None:
        check_order(child, today)


def _place_reviews(child: ChildHistory, reviews: list[Row]) -> None:
    seen: dict[dt.date, Row] = {}
    placed: list[tuple[dt.date, Row]] = []
    for row in reviews:
        on = child.date_in(row, "REVIEW", iso=False)
        code = row.get("REVIEW_CODE").upper()
        if code and code not in REVIEW_CODES:
            child.refuse(row.where("REVIEW_CODE"), "unknown REVIEW_CODE (expected PN0-PN7)")
        if on is None or child.problem:
            return
        if on in seen:
            if seen[on].get("REVIEW_CODE").upper() != code:
                child.refuse(row.where("REVIEW_CODE"), f"a second review on {on.isoformat()} with another code ({seen[on].origin})")
                return
            child.notes.append(f"{row.origin}: duplicate of {seen[on].origin} (ignored)")
            continue
        seen[on] = row
        placed.append((on, row))
    for on, row in sorted(placed, key=lambda p: p[0]):
        spell = next((s for s in reversed(child.spells) if s.starts_on <= on), None)
        if spell is None:
            child.refuse(row.where("REVIEW"), f"review on {on.isoformat()} is before the child came into care")
            return
        ended = next((f for f in spell.facts if f.kind == CARE_ENDED), None)
        if ended is not None and on > ended.on:
            child.refuse(row.where("REVIEW"), f"review on {on.isoformat()} is after the child ceased to be looked "
                                              f"after on {ended.on.isoformat()} ({ended.origin})")
            return
        fact = Fact(REVIEW, on, row.where("REVIEW"), code=row.get("REVIEW_CODE").upper() or None)
        position = len(spell.facts) - (1 if ended is not None else 0)
        spell.facts.insert(position, fact)
