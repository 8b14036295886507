"""The size and rates of each authority's year, taken from its annual report in the seeds.

Every figure cites the seed document and the paragraph or table it comes from. Where a report
gives no figure the value is marked ASSUMED, with the reasoning, so that nobody mistakes it for
a published number. The reports (the project's seed documents, by file name):

- Gateshead IRO annual report 2023/24 (000_59c2552744170bb7.txt)
- Croydon IRO thematic audit May 2021 (001_79465815a156622c.txt): no caseload figures at all
- Sunderland IRO LAC annual report 2016/17 (002_ade2258e42157792.txt)
- Shropshire independent chairperson annual report 2015/16 (003_47c75009c2202b93.txt)
- Dudley IRO practice standards 2020 (004_10dcdd3c6c3a3665.txt): timescales, no caseload figures
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Sunderland IRO annual report 2016/17, table 3 (reasons reviews were out of timescale, Q3 + Q4
# 2016/17): late notification 1, calculation error 20, missing report 0, non-attendance by a
# significant person 7, non-attendance by the social worker 0, series of meetings 4. Used by
# every authority whose report gives no breakdown (a zero count is kept at a small weight, so
# that every reason the workflow knows appears in a large run).
SUNDERLAND_LATENESS = {
    "late_notification": 1,
    "calculation_error": 20,
    "missing_report": 0.5,
    "non_attendance_significant_person": 7,
    "non_attendance_social_worker": 0.5,
    "series_of_meetings": 4,
}

# Gateshead IRO annual report 2023/24, para 14: conferences out of timescale were "for the most
# part" delayed because an important person could not attend, some because reports had not been
# shared. The weights are ASSUMED from that wording ("for the most part" read as 70%).
GATESHEAD_CONFERENCE_LATENESS = {
    "key_person_unable_to_attend": 70,
    "reports_not_shared": 20,
    "not_quorate": 5,
    "late_request": 5,
}

EVEN_THEMES = {"care_planning": 1, "practice": 1, "drift_and_delay": 1, "safety": 1}

# Shropshire 2015/16, "CPP Categories of Abuse": neglect is the most prevalent category. The
# split itself is ASSUMED (the chart has no numbers in the text).
CATEGORIES = {"neglect": 50, "emotional": 30, "physical": 12, "sexual": 8}

CEASED_REASONS = {"returned_home": 35, "adoption": 12, "special_guardianship_order": 13,
                  "child_arrangements_order": 5, "turned_18": 25, "other": 10}  # ASSUMED


@dataclass(frozen=True)
class AuthorityShape:
    """One authority's year: how many children and cases, and how often things are late."""

    name: str
    children_in_care: int            # looked after at the start of the year
    entries_per_year: int            # children becoming looked after during the year
    exits_per_year: int              # children ceasing to be looked after during the year
    review_late_rate: float          # share of CLA reviews held out of timescale
    lateness_reasons: dict[str, float]
    icpcs_per_year: int              # child protection cases reaching an initial conference
    icpc_late_rate: float            # share of ICPCs after 15 working days
    icpc_plan_rate: float            # share of ICPCs that make a plan
    rcpc_late_rate: float
    plan_months_mean: float          # mean length of a child protection plan
    drps_per_year: int
    drp_themes: dict[str, float]
    # chance that an unresolved dispute is escalated from informal, stage 1 and stage 2
    escalation_rates: tuple[float, float, float]
    iro_caseload: int                # children per IRO
    conference_lateness: dict[str, float] = field(default_factory=lambda: dict(GATESHEAD_CONFERENCE_LATENESS))

    def scaled(self, factor: float) -> "AuthorityShape":
        """The same shape at another size (rates unchanged)."""
        def n(x: int) -> int:
            return max(1, round(x * factor))
        return replace(self, children_in_care=n(self.children_in_care), entries_per_year=n(self.entries_per_year),
                       exits_per_year=n(self.exits_per_year), icpcs_per_year=n(self.icpcs_per_year),
                       drps_per_year=n(self.drps_per_year))


PROFILES: dict[str, AuthorityShape] = {
    "gateshead": AuthorityShape(
        name="gateshead",
        children_in_care=614,                 # Gateshead 2023/24 para 10 ("the 614 children within care")
        # ASSUMED: no entry or exit counts in the report; Shropshire's turnover (83 entered, 110
        # ceased of 283, Shropshire 2015/16 "Key Messages") applied to 614
        entries_per_year=180, exits_per_year=180,
        review_late_rate=1 - 0.839,           # Gateshead 2023/24 para 9 (83.9% of CIOC reviews in timeframe)
        lateness_reasons=dict(SUNDERLAND_LATENESS),   # no breakdown in the report: Sunderland's table 3
        # ASSUMED: no ICPC count in the report; Shropshire's 286 a year (Shropshire 2015/16
        # "Key Messages"), a neighbouring size of conference service
        icpcs_per_year=286,
        icpc_late_rate=1 - 0.89,              # Gateshead 2023/24 para 13 (89% of ICPCs in timescale)
        icpc_plan_rate=267 / 286,             # Shropshire 2015/16 ICPC outcomes table (267 plans of 286); none in Gateshead's
        rcpc_late_rate=1 - 0.999,             # Gateshead 2023/24 para 15 (99.9% of RCPCs in timescale)
        plan_months_mean=10,                  # ASSUMED: plans rarely reach 15 months (para 17: 9 designated conferences)
        drps_per_year=138,                    # Gateshead 2023/24 para 39 (138 DRPs issued)
        # para 39: stage 1 themes care planning 19, practice 42, drift and delay 15; stage 2 care
        # planning 7, safety 3 (drift and delay and practice uncounted, taken as 1 each)
        drp_themes={"care_planning": 26, "practice": 43, "drift_and_delay": 16, "safety": 3},
        # para 39: 77 of 138 issued at stage 1, about 12 at stage 2, a few at stage 3
        escalation_rates=(77 / 138, 12 / 77, 0.25),
        iro_caseload=90,                      # Gateshead 2023/24 para 3 (caseloads of around 90 children)
    ),
    "sunderland": AuthorityShape(
        name="sunderland",
        children_in_care=534,                 # Sunderland 2016/17 para 4.1 (534 looked after children at 31 March 2017)
        entries_per_year=160, exits_per_year=170,   # ASSUMED: Shropshire's turnover, as for Gateshead
        review_late_rate=0.05,                # Sunderland 2016/17 para 5.2.1 (95% of reviews within timescale)
        lateness_reasons=dict(SUNDERLAND_LATENESS),   # Sunderland 2016/17 table 3
        icpcs_per_year=250,                   # ASSUMED: the LAC report gives no conference counts
        icpc_late_rate=0.12, icpc_plan_rate=267 / 286, rcpc_late_rate=0.01,  # ASSUMED: Shropshire's rates
        plan_months_mean=10,
        drps_per_year=81,                     # Sunderland 2016/17 para 7.2 and table 4 (81 LAC disputes)
        drp_themes=dict(EVEN_THEMES),         # the theme chart has no numbers in the text
        # para 7.2: "the vast majority were dealt with at the informal stage", 1 of 81 at stage 4
        escalation_rates=(0.1, 0.1, 0.1),
        iro_caseload=40,                      # Sunderland 2016/17 para 4.2 (39.5 LAC per IRO)
    ),
    "shropshire": AuthorityShape(
        name="shropshire",
        children_in_care=283,                 # Shropshire 2015/16 "Key Messages" (283 in March 2016)
        entries_per_year=83,                  # ibid. (83 entered in the last 12 months)
        exits_per_year=110,                   # ibid. (110 ceased to be looked after)
        review_late_rate=1 - 795 / 882,       # ibid. review table (795 of 882 in timescale, 90%)
        # "holidays": the August 2015 dip put down to holidays (ibid.); Shropshire's profile adds the reason
        lateness_reasons={**SUNDERLAND_LATENESS, "holidays": 8},
        icpcs_per_year=286,                   # ibid. (286 initial conferences in the year)
        icpc_late_rate=0.12,                  # ibid. (88% within 15 working days)
        icpc_plan_rate=267 / 286,             # ibid. ICPC outcomes table
        rcpc_late_rate=1 - 296 / 299,         # ibid. RCPC table (296 of 299 in timescale)
        plan_months_mean=12,                  # ibid.: 267 on plans at 31 March 2016 and 267 new a year: about a year each
        drps_per_year=108,                    # ibid. "Dispute Resolution Process": 9 red RAGs in March 2016, times 12 (ASSUMED steady)
        drp_themes=dict(EVEN_THEMES),
        escalation_rates=(0.0, 0.15, 0.15),   # a red RAG opens at stage 1; ASSUMED rates beyond
        iro_caseload=95,                      # ibid. (average IRO caseload 95 children)
    ),
    # ASSUMED throughout: Dudley's practice standards and Croydon's thematic audit give no
    # caseload, review or conference counts. Both are given Gateshead's shape at a plausible size
    # for a metropolitan borough (Dudley) and a London borough (Croydon), so that their workflows
    # (Dudley's timelines, Croydon's informal-resolution-first CERP) can be simulated.
    "dudley": AuthorityShape(
        name="dudley", children_in_care=650, entries_per_year=190, exits_per_year=190,
        review_late_rate=0.10, lateness_reasons=dict(SUNDERLAND_LATENESS),
        icpcs_per_year=300, icpc_late_rate=0.12, icpc_plan_rate=267 / 286, rcpc_late_rate=0.01,
        plan_months_mean=10, drps_per_year=120, drp_themes=dict(EVEN_THEMES),
        escalation_rates=(0.3, 0.15, 0.15), iro_caseload=70,   # IRO Handbook's 50-70, as cited by Sunderland 4.2
    ),
    "croydon": AuthorityShape(
        name="croydon", children_in_care=800, entries_per_year=250, exits_per_year=250,
        review_late_rate=0.10, lateness_reasons=dict(SUNDERLAND_LATENESS),
        icpcs_per_year=350, icpc_late_rate=0.12, icpc_plan_rate=267 / 286, rcpc_late_rate=0.01,
        plan_months_mean=10, drps_per_year=100, drp_themes=dict(EVEN_THEMES),
        # Croydon audit 2021 "Impact of IRO Service": IROs "use informal means over and above
        # formal escalation" - a low first escalation rate (the figure is ASSUMED)
        escalation_rates=(0.15, 0.15, 0.15), iro_caseload=70,
    ),
}

# about 100,000 children across the five shapes (England had about 82,000 looked after)
NATIONAL_CHILDREN = 100_000


def shape(authority: str) -> AuthorityShape:
    try:
        return PROFILES[authority]
    except KeyError:
        raise ValueError(f"no simulation profile for authority {authority!r} "
                         f"(known: {', '.join(sorted(PROFILES))})") from None


def national() -> list[AuthorityShape]:
    """The five shapes scaled so that their children in care add up to about 100,000."""
    total = sum(p.children_in_care for p in PROFILES.values())
    factor = NATIONAL_CHILDREN / total
    return [p.scaled(factor) for p in PROFILES.values()]
