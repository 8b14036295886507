"""`caseclock users`, `keys` and `audit`: the first administrator is made without the API, a key
is shown once and only its hash kept, and the audit trail can be queried."""

from __future__ import annotations

import subprocess

from engine.access import accounts, audit
from persistence.store import Store

from .test_cli import REPO, _env, caseclock, no_traceback, ok


def test_users_are_added_listed_and_removed(tmp_path):
    db = tmp_path / "u.db"
    ok(caseclock("migrate", db=db))
    added = subprocess.run(["caseclock", "--database", f"sqlite:///{db}", "users", "add", "ann", "--role", "admin",
                            "--role", "manager", "--password-stdin"], input="a long pass phrase\n", text=True,
                           capture_output=True, env=_env(), cwd=REPO, timeout=60)
    ok(added)
    ok(caseclock("users", "add", "iro.khan", "--role", "iro", "--user-id", "IRO-7", "--acts-as", "iro",
                 "--authority", "sunderland", "--no-password", db=db))
    listed = ok(caseclock("users", "list", db=db)).stdout
    assert "ann" in listed and "admin, manager" in listed and "sunderland" in listed and "proxy only" in listed
    assert "argon2" not in listed
    store = Store.open(f"sqlite:///{db}")
    try:
        assert accounts.check_password(store, "ann", "a long pass phrase").name == "ann"
        assert accounts.user(store, "ann").password_hash.startswith("$argon2id$")
        ok(caseclock("users", "remove", "ann", db=db))
        assert accounts.user(store, "ann") is None
    finally:
        store.close()
    for refused in (caseclock("users", "add", "bob", "--role", "boss", "--no-password", db=db),
                    caseclock("users", "add", "eve", "--role", "iro", "--authority", "atlantis", "--no-password", db=db)):
        assert refused.returncode != 0 and refused.stderr.startswith("error: "), refused.stderr
        no_traceback(refused)


def test_a_key_is_printed_once_alone_on_the_last_line_and_can_be_revoked(tmp_path):
    db = tmp_path / "k.db"
    ok(caseclock("migrate", db=db))
    made = ok(caseclock("keys", "create", "--role", "integrator", "--name", "Mosaic link", "--authority", "sunderland",
                        "--expires", "30d", "--acts-as", "iro", db=db))
    key = made.stdout.splitlines()[-1]
    assert made.stdout == key + "\n" and key.startswith("cc_")
    listed = ok(caseclock("keys", "list", db=db)).stdout
    prefix = key.split("_")[1]
    assert key not in listed and key[12:] not in listed and prefix in listed and "Mosaic link" in listed
    assert "active" in listed
    store = Store.open(f"sqlite:///{db}")
    try:
        principal = accounts.key_principal(store, key)
        assert (principal.name, principal.authority, set(principal.acts_as)) == ("Mosaic link", "sunderland", {"iro"})
        ok(caseclock("keys", "revoke", prefix, db=db))
        assert accounts.key_principal(store, key) is None
    finally:
        store.close()
    refused = caseclock("keys", "create", "--role", "integrator", "--name", "x", "--expires", "soon", db=db)
    assert refused.returncode != 0 and "--expires" in refused.stderr
    no_traceback(refused)


def test_the_audit_trail_is_queried_by_case_principal_and_date(tmp_path):
    db = tmp_path / "a.db"
    ok(caseclock("migrate", db=db))
    store = Store.open(f"sqlite:///{db}")
    try:
        import datetime as dt

        from engine.access.principal import Principal, Role

        manager = Principal("ann", frozenset({Role.MANAGER}), None)
        audit.record(store, manager, "read case", outcome=200, case_ref="DRP-1",
                     at=dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone.utc))
        audit.record(store, manager, "read case", outcome=404, case_ref="DRP-2",
                     at=dt.datetime(2026, 3, 9, 10, tzinfo=dt.timezone.utc))
    finally:
        store.close()
    by_case = ok(caseclock("audit", "--case", "DRP-1", db=db)).stdout
    assert "DRP-1" in by_case and "DRP-2" not in by_case
    since = ok(caseclock("audit", "--since", "2026-03-05", db=db)).stdout
    assert "DRP-2" in since and "DRP-1" not in since
    assert "DRP" not in ok(caseclock("audit", "--principal", "bob", db=db)).stdout


def test_accounts_refuse_what_would_make_a_useless_or_dangerous_account(store):
    import pytest

    from engine.errors import AccessError

    accounts.add_user(store, "iro.khan", roles=["iro"], password=None)
    for bad in (dict(name="bob", roles=["boss"]), dict(name="iro.khan", roles=["iro"]),
                dict(name="eve", roles=["iro"], acts_as=["system"]), dict(name="short", roles=["iro"], password="x"),
                dict(name=" padded", roles=["iro"])):
        with pytest.raises(AccessError):
            accounts.add_user(store, **{"password": None, **bad})
    with pytest.raises(AccessError):
        accounts.remove_user(store, "nobody")
    with pytest.raises(AccessError):
        accounts.revoke_key(store, "nope")
