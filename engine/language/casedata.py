"""Case data in and out: checked against the workflow's declared fields, dates as ISO text in JSON.

Only declared fields are accepted, so a typo (`--set thme=safety`) is an error, not silent data.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from engine.language.definition import FieldSpec, Workflow, value_problem
from engine.errors import InvalidCaseData

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
# free text may keep line breaks and tabs, but no other control character (NUL breaks PostgreSQL)
# and no lone surrogate (it cannot be encoded as UTF-8)
# (Unicode categories Cc and Cs but tab, line feed and carriage return: Unicode fixes which code
# points those are, so one pattern checks a command's text in one pass)
_REFUSED_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def coerce(workflow: Workflow, case_ref: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """Typed values for the declared fields in `raw`; text from a command line is parsed."""
    out: dict[str, Any] = {}
    for key, value in (raw or {}).items():
        spec = workflow.spec.data.get(key)
        if spec is None:
            known = ", ".join(workflow.spec.data) or "none"
            raise InvalidCaseData(case_ref, key, f"not a field of workflow '{workflow.name}' (fields: {known})")
        if value is None:
            out[key] = None
            continue
        value = _parse(spec, value)
        problem = value_problem(spec, value)
        if problem:
            raise InvalidCaseData(case_ref, key, f"the value {problem}")  # the rule, never the value
        if spec.type == "text" and (problem := text_problem(value)):
            raise InvalidCaseData(case_ref, key, problem)
        out[key] = value
    return out


def text_problem(value: str) -> str | None:
    """Why free text cannot be stored, or None: control characters other than tab and line breaks."""
    if _REFUSED_TEXT.search(value):
        return "must not contain control characters (only tabs and line breaks)"
    return None


def _parse(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if spec.type == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return value
    if spec.type == "integer":
        try:
            return int(text)
        except ValueError:
            return value
    if spec.type == "boolean":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
    return value


def to_json(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in data.items()}


def from_json(workflow: Workflow, data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for key, value in data.items():
        spec = workflow.spec.data.get(key)
        if spec is not None and spec.type == "date" and isinstance(value, str):
            out[key] = dt.date.fromisoformat(value)
    return out
