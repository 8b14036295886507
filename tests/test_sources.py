"""Every deadline's `source:` names a document a reader can find, at a place in it.

A source may add a reading or an assumption ("read as working days", "5 working days is an
assumption"), but it must cite at least one known document with a locator - a paragraph,
regulation, chapter, appendix, section or a quoted heading - and every known document it names
must carry one. Phrases that point at no document ("published local alerts protocols") fail.
"""

from __future__ import annotations

import re

import pytest

from engine.language.profiles import available
from engine.language.registry import Registry

# the documents the bundled workflows and profiles may cite: the national rules and the seed
# reports of the five authorities (by authority, title and year)
DOCUMENTS = [
    r"Care Planning, Placement and Case Review \(England\) Regulations 2010",
    r"IRO Handbook 2010",
    r"Working Together to Safeguard Children 2018",
    r"The Children Act 1989 Guidance and Regulations Volume 2: Care Planning, Placement and Case\s+Review \(DfE 2015\)",
    r"Department for Education, Characteristics of children in need statistics",
    r"West Midlands child protection procedures 2019",
    r"Dudley IRO practice standards 2020",
    r"Gateshead IRO annual report 2023/24",
    r"Sunderland IRO annual report 2016/17",
    r"Shropshire independent chairperson annual report 2015/16",
    r"Croydon IRO thematic audit 2021",
]
LOCATOR = (
    r",?\s+(?:para|paras|reg|regs|chapter|appendix|appendices|section|table)\s+[\dA-Za-z]"
    r"|,?\s+\"[^\"]+\""                     # a quoted heading: Dudley ..., "Documentation"
    r"|,?\s+(?:as quoted|as cited) in\s+"     # cited through a document that has a locator
    r"|\s+\(the national measure"           # a statistics series: the measure is the place
)
VAGUE = [r"\bpublished local\b", r"\blocal (?:alerts )?protocols\b", r"\bvarious\b", r"\bbest practice\b"]


def source_problems(source: str) -> list[str]:
    """What makes `source` unfindable; empty when it cites a known document at a known place."""
    text = " ".join(source.split())
    problems = [f"vague: '{m.group(0)}' names no document" for v in VAGUE for m in re.finditer(v, text, re.I)]
    cited = 0
    for doc in DOCUMENTS:
        for m in re.finditer(doc, text):
            if re.match(LOCATOR, text[m.end():]):
                cited += 1
            else:
                problems.append(f"'{m.group(0)}' has no paragraph, regulation, chapter, appendix or section")
    if cited == 0:
        problems.append("cites no known document (national rule, or a seed report by authority, title and year)")
    return problems


def every_source() -> list[tuple[str, str]]:
    out = {}
    for authority in [None, *available()]:
        registry = Registry.load(authority=authority)
        for name in registry.names():
            for deadline, spec in registry.get(name).spec.deadlines.items():
                out.setdefault(spec.source, f"{authority or 'base'}:{name}.{deadline}")
    return [(where, source) for source, where in out.items()]


@pytest.mark.parametrize("where,source", every_source(), ids=[w for w, _ in every_source()])
def test_every_source_names_a_findable_document(where, source):
    assert source_problems(source) == [], source


@pytest.mark.parametrize("source,problem", [
    ("IRO Handbook 2010 para 6.2 (\"identified timescales\"); 5 working days a stage as in published local "
     "alerts protocols.", "vague: 'published local'"),
    ("5 working days is this base procedure's local timescale.", "cites no known document"),
    ("IRO Handbook 2010 (informal resolution first)", "'IRO Handbook 2010' has no paragraph"),
    ("DfE 2015, as cited in the practice standards", "cites no known document"),
    ("Sunderland annual report (91 days)", "cites no known document"),
])
def test_a_vague_source_is_rejected(source, problem):
    assert any(p.startswith(problem) for p in source_problems(source)), source_problems(source)


def test_a_findable_source_passes():
    assert source_problems("Care Planning, Placement and Case Review (England) Regulations 2010, reg 33 "
                           "(first review within 20 working days)") == []
    assert source_problems('Dudley IRO practice standards 2020, "Documentation" (no report is challenged)') == []
