"""Notifications: the outbox, delivery, retries with backoff, dead letters, and the notifiers.

Webhooks go to a real HTTP server on 127.0.0.1 (a thread in this process); email to a real SMTP
server (aiosmtpd) on 127.0.0.1. Time is a simulated clock, so backoff needs no sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from engine import logs
from engine.time.calendar import WorkingCalendar
from engine.interfaces.cli import app
from engine.time.clock import SimulatedClock, SystemClock
from engine.runtime.engine import Engine
from engine.timers.notify import LogNotifier, SmtpNotifier, WebhookNotifier, backoff, build_notifier, sign
from engine.settings import NotifySettings
from engine.timers.worker import Worker
from persistence.models import OutboxRow

from .conftest import ESCALATING, at

RAISED = {"theme": "drift_and_delay", "concern": "Jane-Doe-at-1-High-St"}


@pytest.fixture
def registry(escalating_registry):
    """The timers here need an expiry that moves a case: the test DRP whose informal stage escalates."""
    return escalating_registry
SECRET = "s3cret"


class Endpoint:
    """A webhook receiver: answers `status` (after `delay` seconds) and records every request."""

    def __init__(self):
        self.status, self.delay, self.requests = 200, 0.0, []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.requests.append((dict(self.headers), body))
                if endpoint.delay:
                    time.sleep(endpoint.delay)
                try:
                    self.send_response(endpoint.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up (timeout)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def keys(self) -> list[str]:
        return [h["Idempotency-Key"] for h, _ in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _logs_back_to_stderr():
    yield
    logs.configure(json_output=True)  # the CLI runner configured logging onto a stream it has closed


@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.close()


def due_case(store, registry, ref="N-1") -> tuple[Engine, SimulatedClock]:
    """A test-DRP case (tests/workflows/drp_escalating.yaml) whose informal response (due 9 March 2026) has passed: 2 notifications."""
    clock = SimulatedClock(at("2026-03-02", 11))
    engine = Engine(store, registry, WorkingCalendar(), clock)
    engine.open_case(ESCALATING, ref, at=at("2026-03-02"), data=RAISED)
    clock.set(at("2026-03-10", 9))
    return engine, clock


def webhook_worker(engine, url, *, max_attempts=3, timeout=5.0, worker_id="w") -> Worker:
    cfg = NotifySettings(webhook_url=url, webhook_secret=SECRET, max_attempts=max_attempts, backoff_seconds=30,
                         webhook_timeout_seconds=timeout)
    return Worker(engine, notifier=build_notifier(cfg), notify_settings=cfg, worker_id=worker_id)


def test_a_webhook_gets_signed_json_with_the_outbox_idempotency_key(store, registry, endpoint):
    engine, clock = due_case(store, registry)
    sweeps, deliveries = webhook_worker(engine, endpoint.url).run_once(wait_for_others=False)
    assert (sweeps.fired, deliveries.delivered) == (1, 2)
    rows = {r.idempotency_key: r for r in store.outbox()}
    deadline_id = next(r.id for r in store.deadlines(store.case("N-1").id) if r.name == "informal_response")
    assert sorted(endpoint.keys()) == sorted(rows) == [f"expiry:{deadline_id}:iro", f"expiry:{deadline_id}:team_manager"]
    for headers, body in endpoint.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Caseclock-Signature"] == expected
        assert headers["Content-Type"] == "application/json"
        message = json.loads(body)
        row = rows[headers["Idempotency-Key"]]
        assert message["idempotency_key"] == row.idempotency_key and message["kind"] == "deadline_expired"
        assert message["case_ref"] == "N-1" and message["payload"]["deadline"] == "informal_response"
        assert message["payload"]["role"] in ("team_manager", "iro")
        assert "Jane" not in body.decode()  # case data never leaves in a notification
    assert {r.status for r in rows.values()} == {"delivered"}
    assert all(r.delivered_at == at("2026-03-10", 9) for r in rows.values())


def test_a_failing_webhook_is_retried_with_backoff_then_dead_lettered_and_can_be_retried(store, registry, endpoint, database_url):
    endpoint.status = 500
    engine, clock = due_case(store, registry)
    worker = webhook_worker(engine, endpoint.url, max_attempts=3)
    start = clock.now()
    sweeps, deliveries = worker.run_once(wait_for_others=False)
    assert (sweeps.fired, deliveries.retried) == (1, 2)
    assert {(r.status, r.attempts, r.next_attempt_at) for r in store.outbox()} == {("pending", 1, start + dt.timedelta(seconds=30))}
    assert worker.deliver().retried == 0  # not due again yet
    clock.advance(dt.timedelta(seconds=30))
    assert worker.deliver().retried == 2
    assert {r.next_attempt_at for r in store.outbox()} == {clock.now() + dt.timedelta(seconds=60)}  # doubled
    clock.advance(dt.timedelta(seconds=60))
    assert worker.deliver().dead == 2
    assert len(endpoint.requests) == 6 and len(set(endpoint.keys())) == 2  # each retry: the same key
    dead = store.outbox("dead")
    assert [(r.attempts, r.last_error) for r in dead] == [(3, "webhook answered HTTP 500")] * 2
    clock.advance(dt.timedelta(days=1))
    assert worker.deliver().dead == 0 and len(endpoint.requests) == 6  # dead letters stay dead

    runner = CliRunner()
    listed = runner.invoke(app, ["--database", database_url, "outbox", "--status", "dead", "--json"])
    assert listed.exit_code == 0, listed.output
    shown = json.loads(listed.stdout)
    assert [(o["status"], o["attempts"], o["last_error"]) for o in shown] == [("dead", 3, "webhook answered HTTP 500")] * 2
    assert {o["idempotency_key"] for o in shown} == {r.idempotency_key for r in dead}
    assert [(o["payload"]["late_by"], o["payload"]["late_by_s"]) for o in shown] == [("9 hours", 9 * 3600)] * 2
    table = runner.invoke(app, ["--database", database_url, "outbox", "--status", "dead"])
    assert table.exit_code == 0 and table.stdout.startswith("Outbox (dead): 2\n")
    assert "9 hours" in " ".join(table.stdout.split())  # the lateness column, however the table folds it

    endpoint.status = 204
    again = runner.invoke(app, ["--database", database_url, "outbox", "retry", str(dead[0].id)])
    assert again.exit_code == 0 and "queued for delivery" in again.stdout
    missing = runner.invoke(app, ["--database", database_url, "outbox", "retry", "999"])
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    clock.set(SystemClock().now() + dt.timedelta(seconds=1))  # the CLI queued it for now on the wall clock
    assert worker.deliver().delivered == 1
    assert endpoint.keys()[-1] == dead[0].idempotency_key
    assert [r.id for r in store.outbox("delivered")] == [dead[0].id]
    assert len(store.outbox("dead")) == 1


def test_a_webhook_that_times_out_is_a_failure_and_blocks_no_timer(store, registry, endpoint):
    endpoint.delay = 1.0
    engine, clock = due_case(store, registry)
    engine.open_case(ESCALATING, "N-2", at=at("2026-03-03"), data=RAISED)  # due 10 March, reminder on the 6th
    worker = webhook_worker(engine, endpoint.url, max_attempts=2, timeout=0.2)
    sweeps, deliveries = worker.run_once(wait_for_others=False)
    assert (sweeps.fired, sweeps.reminders, deliveries.retried) == (1, 1, 3)
    assert {r.last_error for r in store.outbox()} == {"webhook timed out: ReadTimeout"}
    clock.set(at("2026-03-11", 9))  # the endpoint is still hanging: the next timer fires all the same
    sweeps, deliveries = worker.run_once(wait_for_others=False)
    assert sweeps.fired == 1 and engine.case("N-2").state == "stage_1"
    assert (deliveries.dead, deliveries.retried) == (3, 2)  # the first three die; N-2's two are retrying


def test_a_redelivery_after_a_crash_carries_the_same_idempotency_key(store, registry, endpoint):
    engine, clock = due_case(store, registry)
    Worker(engine, worker_id="timers").sweep()  # queues 2 notifications
    crashed = webhook_worker(engine, endpoint.url, worker_id="crashed")
    rows = store.claim_outbox("crashed", clock.now(), clock.now() + crashed.outbox_lease)
    crashed.notifier.deliver(rows[0])  # POSTed, then killed before recording it
    assert store.outbox_row(rows[0].id).status == "pending"
    survivor = webhook_worker(engine, endpoint.url, worker_id="survivor")
    assert survivor.deliver().delivered == 0  # the dead worker's lease still holds
    clock.advance(crashed.outbox_lease + dt.timedelta(seconds=1))
    assert survivor.deliver().delivered == 2
    assert endpoint.keys().count(rows[0].idempotency_key) == 2  # at least once, same key: the receiver can drop it
    assert {r.status for r in store.outbox()} == {"delivered"}


def test_the_log_notifier_names_the_case_and_never_its_data():
    stream = io.StringIO()
    logs.configure(json_output=True, stream=stream)
    try:
        row = OutboxRow(id=7, idempotency_key="expiry:3:failed", case_ref="C-9", kind="timer_failed",
                        payload={"deadline": "stage_1_response", "role": "team_manager", "due_on": "2026-03-17",
                                 "late_by": "336 days 19 hours", "late_by_s": 29098800,
                                 "reason": "Jane-Doe said", "concern": "1-High-St"},
                        created_at=at("2026-03-18", 0), next_attempt_at=at("2026-03-18", 0))
        LogNotifier().deliver(row)
    finally:
        logs.configure(json_output=True)
    line = json.loads(stream.getvalue())
    assert (line["event"], line["kind"], line["case_ref"], line["deadline"], line["role"], line["late_by"]) == (
        "notification", "timer_failed", "C-9", "stage_1_response", "team_manager", "336 days 19 hours")
    assert "Jane" not in stream.getvalue() and "High-St" not in stream.getvalue()


def test_email_goes_to_a_real_smtp_server_without_case_data(store, registry):
    controller_mod = pytest.importorskip("aiosmtpd.controller")

    class Collect:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Collect()
    controller = controller_mod.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        engine, clock = due_case(store, registry, ref="E-1")
        cfg = NotifySettings(notifier="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_from="caseclock@example.org",
                             smtp_to="iro-team@example.org, duty@example.org")
        notifier = build_notifier(cfg)
        assert isinstance(notifier, SmtpNotifier)
        _, deliveries = Worker(engine, notifier=notifier, notify_settings=cfg).run_once(wait_for_others=False)
        assert deliveries.delivered == 2
    finally:
        controller.stop()
    assert len(handler.messages) == 2
    envelope = handler.messages[0]
    assert envelope.rcpt_tos == ["iro-team@example.org", "duty@example.org"]
    text = envelope.content.decode()
    assert "Subject: [caseclock] deadline expired: E-1 informal_response" in text
    assert "X-Caseclock-Idempotency-Key: expiry:" in text and "due on: 2026-03-09" in text
    assert "late by: 9 hours" in text  # due at the end of 9 March, run at 09:00 on the 10th
    assert "Jane" not in text


def test_a_broken_smtp_server_is_a_delivery_failure(store, registry):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here
    engine, clock = due_case(store, registry)
    cfg = NotifySettings(max_attempts=5)
    worker = Worker(engine, notifier=SmtpNotifier("127.0.0.1", port, sender="a@b", recipients=["c@d"], timeout=1),
                    notify_settings=cfg)
    _, deliveries = worker.run_once(wait_for_others=False)
    assert deliveries.retried == 2
    assert all(r.last_error.startswith("smtp failed: ConnectionRefusedError") for r in store.outbox())


def test_notifier_settings_and_backoff():
    cfg = NotifySettings(webhook_url="http://127.0.0.1:9/x", webhook_secret="k", max_attempts=4)
    assert isinstance(build_notifier(cfg), WebhookNotifier)
    assert isinstance(build_notifier(NotifySettings()), LogNotifier)
    with pytest.raises(ValueError, match="'log', 'webhook' or 'smtp'"):
        NotifySettings(notifier="pigeon")
    with pytest.raises(ValueError, match="needs CASECLOCK_SMTP_HOST"):
        NotifySettings(notifier="smtp")
    assert [backoff(n, 30).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(20, 30) == dt.timedelta(hours=1)
    assert sign("k", b"{}") == hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
