"""Settings: one model read from config/caseclock.yaml, CASECLOCK_* variables and flags, checked
once; a bad value stops any command with one line naming the setting and its variable."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from engine.errors import SettingsError
from engine.settings import VARIABLES, NotifySettings, Settings, WorkerSettings, load, parse_span

from .test_cli import REPO, caseclock

README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def clean_env(monkeypatch):
    for name in VARIABLES.values():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def with_file(tmp_path: Path, text: str) -> type[Settings]:
    """Settings read from another YAML file (the bundled one is the product's)."""
    path = tmp_path / "caseclock.yaml"
    path.write_text(text, encoding="utf-8")

    class FromFile(Settings):
        model_config = {**Settings.model_config, "yaml_file": path}

    return FromFile


def test_the_bundled_file_gives_the_documented_defaults(clean_env):
    s = load()
    # no nation: a new database records england-and-wales, an existing one keeps its own
    assert s.database_url == "sqlite:///caseclock.db" and s.nation is None
    assert s.worker == WorkerSettings(sweep_seconds=30, batch=100, lease_seconds=60, expiry_policy="fire",
                                      max_lateness=dt.timedelta(days=30))
    assert s.notify == NotifySettings()


def test_environment_variables_override_the_file_and_flags_override_both(clean_env, tmp_path):
    clean_env.setenv("CASECLOCK_EXPIRY_POLICY", "mark_missed")
    clean_env.setenv("CASECLOCK_MAX_LATENESS", "12h")
    clean_env.setenv("CASECLOCK_LEASE_SECONDS", "5")
    clean_env.setenv("CASECLOCK_WEBHOOK_URL", "http://127.0.0.1:9/x")
    clean_env.setenv("CASECLOCK_WEBHOOK_MAX_ATTEMPTS", "4")
    clean_env.setenv("CASECLOCK_DATABASE_URL", "sqlite:///env.db")
    clean_env.setenv("CASECLOCK_WORKFLOWS", f"{tmp_path}:{tmp_path / 'more'}")
    s = load({"database_url": "sqlite:///flag.db", "worker": {"batch": 7, "sweep_seconds": None}})
    assert (s.worker.expiry_policy, s.worker.max_lateness, s.worker.lease_seconds) == ("mark_missed", dt.timedelta(hours=12), 5.0)
    assert (s.worker.batch, s.worker.sweep_seconds) == (7, 30.0)  # a flag not given leaves the setting alone
    assert (s.notify.webhook_url, s.notify.max_attempts, s.notify.kind) == ("http://127.0.0.1:9/x", 4, "webhook")
    assert s.database_url == "sqlite:///flag.db"
    assert s.workflows == [tmp_path, tmp_path / "more"]


def test_every_variable_in_the_readme_is_read():
    documented = set(re.findall(r"`(CASECLOCK_[A-Z_]+)`", README)) - {"CASECLOCK_SMTP_", "CASECLOCK_TEST_DATABASE_URL"}
    assert documented <= set(VARIABLES.values())
    assert {"CASECLOCK_SMTP_HOST", "CASECLOCK_SMTP_PORT", "CASECLOCK_SMTP_FROM", "CASECLOCK_SMTP_TO"} <= set(VARIABLES.values())


@pytest.mark.parametrize("name, value, setting, rule", [
    ("CASECLOCK_SWEEP_SECONDS", "abc", "worker.sweep_seconds", "valid number"),
    ("CASECLOCK_SWEEP_SECONDS", "-1", "worker.sweep_seconds", "greater than 0"),
    ("CASECLOCK_WORKER_BATCH", "0", "worker.batch", "greater than 0"),
    ("CASECLOCK_WORKER_BATCH", "1.5", "worker.batch", "valid integer"),
    ("CASECLOCK_LEASE_SECONDS", "0", "worker.lease_seconds", "greater than 0"),
    ("CASECLOCK_EXPIRY_POLICY", "ignore", "worker.expiry_policy", "'fire' or 'mark_missed'"),
    ("CASECLOCK_MAX_LATENESS", "30 working days", "worker.max_lateness", "cannot read duration"),
    ("CASECLOCK_MAX_LATENESS", "0d", "worker.max_lateness", "longer than zero"),
    ("CASECLOCK_NOTIFIER", "pigeon", "notify.notifier", "'log', 'webhook' or 'smtp'"),
    ("CASECLOCK_WEBHOOK_MAX_ATTEMPTS", "0", "notify.max_attempts", "greater than 0"),
    ("CASECLOCK_RETRY_BACKOFF_SECONDS", "soon", "notify.backoff_seconds", "valid number"),
    ("CASECLOCK_SMTP_PORT", "70000", "notify.smtp_port", "less than or equal to 65535"),
    ("CASECLOCK_NATION", "wales", "nation", "'england-and-wales', 'scotland' or 'northern-ireland'"),
    ("CASECLOCK_CALENDAR_REFRESH_AT", "25:00", "worker.calendar_refresh_at", "time of day as HH:MM"),
])
def test_a_bad_variable_names_the_setting_and_the_variable_not_the_value(clean_env, name, value, setting, rule):
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load()
    message = str(caught.value)
    assert message.startswith(f"setting {setting} (from {name} in the environment): ")
    assert rule in message and "\n" not in message
    assert value not in message.split(": ", 1)[1] or value in rule


def test_a_notifier_without_its_address_is_refused_at_load(clean_env):
    clean_env.setenv("CASECLOCK_NOTIFIER", "smtp")
    with pytest.raises(SettingsError, match="settings notify: the smtp notifier needs CASECLOCK_SMTP_HOST"):
        load()


def test_the_file_is_strict_about_keys_and_types(clean_env, tmp_path):
    with pytest.raises(SettingsError, match=r"unknown setting worker\.sweep_second in .*caseclock\.yaml"):
        load(model=with_file(tmp_path, "worker:\n  sweep_second: 10\n"))
    with pytest.raises(SettingsError, match=r"setting worker\.batch \(from .*caseclock\.yaml; environment variable "
                                            r"CASECLOCK_WORKER_BATCH\): expected a number, not true/false"):
        load(model=with_file(tmp_path, "worker:\n  batch: yes\n"))
    with pytest.raises(SettingsError, match=r"cannot read settings file .*caseclock\.yaml"):
        load(model=with_file(tmp_path, "worker: [\n"))
    assert load(model=with_file(tmp_path, "worker:\n  batch: 5\n")).worker.batch == 5


def test_a_secret_is_never_echoed(clean_env):
    clean_env.setenv("CASECLOCK_WEBHOOK_SECRET", "s3cret-value")
    clean_env.setenv("CASECLOCK_WEBHOOK_URL", "http://127.0.0.1:9/x")
    clean_env.setenv("CASECLOCK_WEBHOOK_TIMEOUT", "s3cret-value")
    with pytest.raises(SettingsError) as caught:
        load()
    assert "s3cret" not in str(caught.value)


def test_parse_span():
    assert parse_span("90m") == dt.timedelta(minutes=90) and parse_span("2w") == dt.timedelta(weeks=2)
    with pytest.raises(ValueError, match="cannot read duration"):
        parse_span("30 working days")


@pytest.mark.parametrize("command", [
    ["serve", "--port", "0"],
    ["worker", "--once"],
    ["tick"],
    ["show", "X"],
    ["overdue"],
    ["migrate"],
])
def test_every_command_reports_a_bad_setting_in_one_line(tmp_path, command):
    result = caseclock(*command, cwd=tmp_path, env={"CASECLOCK_SWEEP_SECONDS": "abc"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr == ("error: setting worker.sweep_seconds (from CASECLOCK_SWEEP_SECONDS in the environment): "
                             "Input should be a valid number, unable to parse string as a number\n")
    assert not (tmp_path / "caseclock.db").exists()  # stopped before touching the database


def test_a_bad_worker_flag_is_one_line_too(tmp_path):
    result = caseclock("worker", "--once", "--batch", "0", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == "error: setting worker.batch (from the command line): Input should be greater than 0\n"
