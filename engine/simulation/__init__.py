"""A synthetic year of an authority's caseload, run through the real engine on a simulated clock.

profiles: the size and rates of each authority, from its annual report; generator: a seeded,
deterministic plan of every event of the year; runner: drives the plan through the engine and
its timers in time order; summary: the year's figures, read back from the stored database.
"""
