"""Synthetic extracts in each layout, written by the tests (and bench/import.py): small files
with exactly the columns the public specifications give, and rows the tests choose."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from engine.exchange.ssd import LAYOUTS as LAYOUTS_SSD
from engine.exchange.ssda903 import LAYOUTS as LAYOUTS_903


def dmy(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def iso(day: dt.date | None) -> str:
    return day.isoformat() if day else ""


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def write_903(directory: Path, header: list[dict], episodes: list[dict], reviews: list[dict],
              names: tuple[str, str, str] = ("header.csv", "episodes.csv", "reviews.csv")) -> Path:
    """A 903 return: rows are dicts of the DfE columns (dates already dd/mm/yyyy strings)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_csv(directory / names[0], LAYOUTS_903["Header"], header)
    write_csv(directory / names[1], LAYOUTS_903["Episodes"], episodes)
    write_csv(directory / names[2], LAYOUTS_903["Reviews"], reviews)
    return directory


def episode(child: str, decom: dt.date, rne: str = "S", dec: dt.date | None = None, rec: str = "") -> dict:
    return {"CHILD": child, "DECOM": dmy(decom), "RNE": rne, "LS": "C2", "CIN": "N1", "PLACE": "U1",
            "PLACE_PROVIDER": "PR1", "DEC": dmy(dec), "REC": rec, "REASON_PLACE_CHANGE": "", "HOME_POST": "", "PL_POST": "",
            "URN": "SC123456"}


def review(child: str, on: dt.date | None, code: str = "PN1", dob: dt.date = dt.date(2015, 1, 1)) -> dict:
    return {"CHILD": child, "DOB": dmy(dob), "REVIEW": dmy(on), "REVIEW_CODE": code}


def header(child: str, dob: dt.date = dt.date(2015, 1, 1)) -> dict:
    return {"CHILD": child, "SEX": "1", "DOB": dmy(dob), "ETHNIC": "WBRI", "UPN": "", "MOTHER": "", "MC_DOB": ""}


def write_ssd(directory: Path, tables: dict[str, list[dict]]) -> Path:
    """An SSD extract: one CSV per table, named as the table, with the table's columns."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        columns = list(LAYOUTS_SSD[name]) + sorted({k for r in rows for k in r} - set(LAYOUTS_SSD[name]))
        write_csv(directory / f"{name}.csv", columns, rows)
    return directory


def cin_xml(children: list[dict]) -> str:
    """A CIN census file. Each child: {"id", "s47": [{"start", "target", "icpc", "not_required"}],
    "plans": [{"start", "end", "category", "reviews": [...]}]} (dates as date objects)."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<Message>", "<Header><Collection>CIN</Collection></Header>", "<Children>"]
    for c in children:
        lines += ["<Child>", f"<ChildIdentifiers><LAchildID>{c['id']}</LAchildID></ChildIdentifiers>", "<CINdetails>",
                  f"<CINreferralDate>{iso(c.get('referral', dt.date(2024, 1, 2)))}</CINreferralDate>"]
        for s in c.get("s47", []):
            lines.append("<Section47>")
            if s.get("start") is not None:
                lines.append(f"<S47ActualStartDate>{iso(s['start'])}</S47ActualStartDate>")
            if s.get("target"):
                lines.append(f"<InitialCPCtarget>{iso(s['target'])}</InitialCPCtarget>")
            if s.get("icpc"):
                lines.append(f"<DateOfInitialCPC>{iso(s['icpc'])}</DateOfInitialCPC>")
            lines.append(f"<ICPCnotRequired>{'true' if s.get('not_required') else 'false'}</ICPCnotRequired>")
            lines.append("</Section47>")
        for p in c.get("plans", []):
            lines += ["<ChildProtectionPlans>", f"<CPPstartDate>{iso(p['start'])}</CPPstartDate>"]
            if p.get("end"):
                lines.append(f"<CPPendDate>{iso(p['end'])}</CPPendDate>")
            lines.append(f"<InitialCategoryOfAbuse>{p.get('category', 'NEG')}</InitialCategoryOfAbuse>")
            lines.append("<Reviews>" + "".join(f"<CPPreviewDate>{iso(r)}</CPPreviewDate>" for r in p.get("reviews", [])) + "</Reviews>")
            lines.append("</ChildProtectionPlans>")
        lines += ["</CINdetails>", "</Child>"]
    lines += ["</Children>", "</Message>"]
    return "\n".join(lines) + "\n"
