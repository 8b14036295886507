"""Logging: key=value on a terminal, JSON otherwise, and never a case's personal data.

Cases are named in logs by the host system's reference only. The redaction processor runs
before any renderer and drops fields that could carry personal data, whoever logs them.

structlog loads only when a line is logged: it costs a command about 0.1-0.3 s of start-up
(asyncio, and rich through structlog.dev), and a command that only reads logs nothing. Modules
take their logger from `get_logger`; the command line asks for its set-up with
`configure_on_first_use`, which is applied before the first line is written.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

# fields that may hold what a person said or wrote about a child
REDACTED_KEYS = frozenset({"data", "reason", "concern", "payload", "notes", "name", "dob", "address", "email"})

_pending: dict[str, Any] | None = None  # a set-up asked for before structlog was loaded


def redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in REDACTED_KEYS & event.keys():
        event[key] = "[redacted]"
    return event


def processors(json_output: bool) -> list[Any]:
    import structlog

    renderer = structlog.processors.JSONRenderer(sort_keys=True) if json_output else structlog.dev.ConsoleRenderer(colors=False)
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
        renderer,
    ]


def configure(json_output: bool | None = None, level: str = "info", stream=None) -> None:
    """Explicit, idempotent set-up, applied now; JSON when asked or when the stream is not a terminal."""
    global _pending
    import structlog

    _pending = None
    stream = stream or sys.stderr
    if json_output is None:
        json_output = not stream.isatty()
    structlog.configure(
        processors=processors(json_output),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def configure_on_first_use(json_output: bool | None = None, level: str = "info", stream=None) -> None:
    """The same set-up, applied when the first line is logged through `get_logger` (at once if
    structlog is already loaded, so a logger taken from structlog itself is covered too)."""
    global _pending
    stream = stream or sys.stderr  # the stream of the moment, as `configure` would take it
    if "structlog" in sys.modules:
        configure(json_output, level, stream)
    else:
        _pending = {"json_output": json_output, "level": level, "stream": stream}


class _Logger:
    """A named logger that loads structlog, and applies a pending set-up, on its first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        if self._logger is None:
            import structlog

            if _pending is not None:
                configure(**_pending)
            self._logger = structlog.get_logger(self._name)  # itself lazy: reads the configuration per call
        return getattr(self._logger, attribute)


def get_logger(name: str) -> Any:
    return _Logger(name)
