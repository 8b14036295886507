"""Timers: the worker that fires due expiries and reminders exactly once, and the notifiers
that deliver the outbox.
"""
