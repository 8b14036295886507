"""Settings: config/caseclock.yaml, overridden by CASECLOCK_* environment variables, then by flags.

One pydantic-settings model, read and validated once per process (`current()`), so a bad value
stops every command at start with one line naming the setting and its variable - never later,
halfway through a sweep or a request. `VARIABLES` is the one table of environment variable names
(the README's settings table documents the same names).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from engine.errors import SettingsError
from engine.language.bundled import bundled_dir

DEFAULT_DATABASE_URL = "sqlite:///caseclock.db"

# (section, key) -> environment variable; section "" is the top level
VARIABLES: dict[tuple[str, str], str] = {
    ("", "database_url"): "CASECLOCK_DATABASE_URL",
    ("", "authority"): "CASECLOCK_AUTHORITY",
    ("", "nation"): "CASECLOCK_NATION",
    ("", "workflows"): "CASECLOCK_WORKFLOWS",
    ("worker", "sweep_seconds"): "CASECLOCK_SWEEP_SECONDS",
    ("worker", "batch"): "CASECLOCK_WORKER_BATCH",
    ("worker", "lease_seconds"): "CASECLOCK_LEASE_SECONDS",
    ("worker", "calendar_refresh_at"): "CASECLOCK_CALENDAR_REFRESH_AT",
    ("worker", "expiry_policy"): "CASECLOCK_EXPIRY_POLICY",
    ("worker", "max_lateness"): "CASECLOCK_MAX_LATENESS",
    ("notify", "notifier"): "CASECLOCK_NOTIFIER",
    ("notify", "webhook_url"): "CASECLOCK_WEBHOOK_URL",
    ("notify", "webhook_secret"): "CASECLOCK_WEBHOOK_SECRET",
    ("notify", "webhook_timeout_seconds"): "CASECLOCK_WEBHOOK_TIMEOUT",
    ("notify", "max_attempts"): "CASECLOCK_WEBHOOK_MAX_ATTEMPTS",
    ("notify", "backoff_seconds"): "CASECLOCK_RETRY_BACKOFF_SECONDS",
    ("notify", "smtp_host"): "CASECLOCK_SMTP_HOST",
    ("notify", "smtp_port"): "CASECLOCK_SMTP_PORT",
    ("notify", "smtp_from"): "CASECLOCK_SMTP_FROM",
    ("notify", "smtp_to"): "CASECLOCK_SMTP_TO",
    ("api", "max_body_bytes"): "CASECLOCK_MAX_BODY_BYTES",
    ("api", "secure_cookies"): "CASECLOCK_SECURE_COOKIES",
    ("api", "session_hours"): "CASECLOCK_SESSION_HOURS",
    ("api", "login_attempts"): "CASECLOCK_LOGIN_ATTEMPTS",
    ("api", "login_window_minutes"): "CASECLOCK_LOGIN_WINDOW_MINUTES",
    ("api", "proxy_user_header"): "CASECLOCK_PROXY_USER_HEADER",
    ("api", "trusted_proxies"): "CASECLOCK_TRUSTED_PROXIES",
}

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_span(text: str) -> dt.timedelta:
    """'30d', '12h', '90m', '45s', '2w' -> timedelta (elapsed time, not working days)."""
    match = _SPAN.match(str(text))
    if not match:
        raise ValueError("cannot read duration: expected a number and s, m, h, d or w, e.g. '30d'")
    return dt.timedelta(seconds=float(match.group(1)) * _SECONDS[match.group(2).lower()])


def _no_bools(value: Any) -> Any:
    """YAML's `yes`/`true` is not a number: refuse it rather than count it as 1."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_bools(cls, value: Any, info) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        return _no_bools(value) if annotation in (int, float) else value


class WorkerSettings(_Section):
    """The timer worker (`caseclock worker`, or the one inside `caseclock serve`)."""

    sweep_seconds: PositiveFloat = 30.0
    batch: PositiveInt = 100
    lease_seconds: PositiveFloat = 60.0
    expiry_policy: Literal["fire", "mark_missed"] = "fire"
    max_lateness: dt.timedelta = dt.timedelta(days=30)
    calendar_refresh_at: dt.time = dt.time(2, 30)  # London time, daily

    @field_validator("calendar_refresh_at", mode="before")
    @classmethod
    def _time_of_day(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("must be a time of day as HH:MM, e.g. 02:30")
        return _no_bools(value)

    @field_validator("max_lateness", mode="before")
    @classmethod
    def _span(cls, value: Any) -> Any:
        return parse_span(value) if isinstance(value, str) else _no_bools(value)

    @field_validator("max_lateness")
    @classmethod
    def _positive(cls, value: dt.timedelta) -> dt.timedelta:
        if value <= dt.timedelta(0):
            raise ValueError("must be longer than zero")
        return value


class NotifySettings(_Section):
    """Notifications, delivered from the outbox table."""

    notifier: Literal["log", "webhook", "smtp"] | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_timeout_seconds: PositiveFloat = 10.0
    max_attempts: PositiveInt = 8
    backoff_seconds: PositiveFloat = 30.0
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "caseclock@localhost"
    smtp_to: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> "NotifySettings":
        if self.kind == "webhook" and not self.webhook_url:
            raise ValueError("the webhook notifier needs CASECLOCK_WEBHOOK_URL")
        if self.kind == "smtp" and not self.smtp_host:
            raise ValueError("the smtp notifier needs CASECLOCK_SMTP_HOST")
        return self

    @property
    def kind(self) -> str:
        """The notifier in use: as set, else webhook when a URL is set, else log."""
        return self.notifier or ("webhook" if self.webhook_url else "log")


class ApiSettings(_Section):
    """The HTTP side of `caseclock serve`: request limits, sessions and single sign-on."""

    max_body_bytes: PositiveInt = 256 * 1024  # a larger request body is 413, refused while it streams
    secure_cookies: bool = True  # the session cookie is sent over HTTPS only (turn off for plain-http tests)
    session_hours: PositiveFloat = 8.0
    # sign-in throttling: after this many wrong passwords for one user name within the window,
    # the form refuses that name (without checking the password) until the oldest ages out
    login_attempts: PositiveInt = 5
    login_window_minutes: PositiveFloat = 15.0
    # single sign-on: the header a trusted reverse proxy (e.g. oauth2-proxy) sets to the signed-in
    # user's name; honoured only on requests that come from one of `trusted_proxies`
    proxy_user_header: str | None = None
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("secure_cookies", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError("must be true or false")
        return value


class _Environment(PydanticBaseSettingsSource):
    """CASECLOCK_* variables, by the names in VARIABLES (flat names for nested settings)."""

    def get_field_value(self, field, field_name):  # required by the base class; __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for (section, key), name in VARIABLES.items():
            raw = os.environ.get(name)
            if raw in (None, ""):
                continue
            value: Any = [Path(p) for p in raw.split(os.pathsep) if p] if key == "workflows" else raw
            (values.setdefault(section, {}) if section else values)[key] = value
        return values


class Settings(BaseSettings):
    """Every setting of a caseclock process."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, yaml_file=bundled_dir("config") / "caseclock.yaml")

    database_url: str = DEFAULT_DATABASE_URL
    authority: str | None = None
    # whose bank holidays count when no authority profile sets one
    nation: Literal["england-and-wales", "scotland", "northern-ireland"] | None = None
    workflows: list[Path] = Field(default_factory=list)  # extra workflow folders or files
    worker: WorkerSettings = WorkerSettings()
    notify: NotifySettings = NotifySettings()
    api: ApiSettings = ApiSettings()

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        # highest first: flags (init), the environment, then the YAML file
        return init_settings, _Environment(settings_cls), YamlConfigSettingsSource(settings_cls)


def load(overrides: Mapping[str, Any] | None = None, *, model: type[Settings] = Settings) -> Settings:
    """Read and validate the settings; `overrides` (flags) are nested like the file, e.g.
    {"database_url": ..., "worker": {"batch": 5}}. Any bad value is a SettingsError."""
    file = model.model_config["yaml_file"]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for section in ("worker", "notify", "api"):
        if isinstance(overrides.get(section), Mapping):
            overrides[section] = {k: v for k, v in overrides[section].items() if v is not None}
    try:
        return model(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, overrides, file)) from None
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read settings file {file}: {str(exc).splitlines()[0]}") from None


@cache
def current() -> Settings:
    """This process's settings, read once (flags aside: the CLI passes those to `load`)."""
    return load()


def _describe(exc: ValidationError, overrides: Mapping[str, Any], file: Path) -> str:
    """One line per bad value: the setting, its variable, where the value came from, the rule
    (never the value itself: a secret or a URL with a password may be wrong)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error["loc"]]
        section, key = (loc[0], loc[1]) if len(loc) > 1 and loc[0] in ("worker", "notify", "api") else ("", loc[0])
        if len(loc) == 1 and loc[0] in ("worker", "notify", "api"):
            lines.append(f"settings {loc[0]}: {error['msg'].removeprefix('Value error, ')}")
            continue
        dotted = f"{section}.{key}" if section else key
        variable = VARIABLES.get((section, key))
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown setting {dotted} in {file}")
            continue
        given = overrides.get(section, {}) if section else overrides
        if variable and os.environ.get(variable) not in (None, ""):
            origin = f"{variable} in the environment"
        elif isinstance(given, Mapping) and key in given:
            origin = "the command line"
        else:
            origin = f"{file}" + (f"; environment variable {variable}" if variable else "")
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"setting {dotted} (from {origin}): {message}")
    return "\n".join(dict.fromkeys(lines))
