"""Logging: key=value on a terminal, JSON otherwise, and never a case's personal data.

Cases are named in logs by the host system's reference only. The redaction processor runs
before any renderer and drops fields that could carry personal data, whoever logs them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# fields that may hold what a person said or wrote about a child
REDACTED_KEYS = frozenset({"data", "reason", "concern", "payload", "notes", "name", "dob", "address", "email"})


def redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in REDACTED_KEYS & event.keys():
        event[key] = "[redacted]"
    return event


def processors(json_output: bool) -> list[Any]:
    renderer = structlog.processors.JSONRenderer(sort_keys=True) if json_output else structlog.dev.ConsoleRenderer(colors=False)
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
        renderer,
    ]


def configure(json_output: bool | None = None, level: str = "info", stream=None) -> None:
    """Explicit, idempotent set-up; JSON when asked or when the stream is not a terminal."""
    stream = stream or sys.stderr
    if json_output is None:
        json_output = not stream.isatty()
    structlog.configure(
        processors=processors(json_output),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
