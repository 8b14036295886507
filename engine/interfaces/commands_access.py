"""`caseclock users`, `caseclock keys` and `caseclock audit`: who may use the API, and who did.

They work on the database directly, without the API, so the first administrator can be made
on a new deployment. A new key is printed once, alone on the last line of output; only its hash
is kept.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated, Optional

import typer

users_app = typer.Typer(no_args_is_help=True, help="People who sign in: add, remove, list.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for machines: create, list, revoke.")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(keys_app, name="keys")
    app.command("audit")(audit_list)

_ROLE = "Access role: admin, integrator, manager, iro, viewer (repeat for several)"
_AUTHORITY = "The one authority whose cases it may see (default: every authority)"
_ACTS_AS = "A workflow role it may fire transitions as, e.g. iro (repeat for several)"
_USER_ID = "The host system's user id, matched against cases' assigned_to (for IROs)"


def _authority(name: str | None) -> str | None:
    """An authority must have a profile: a typo would make an account that sees nothing."""
    from engine.interfaces.cli import load_registry

    if name is not None:
        load_registry(name)
    return name


def _local(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[list[str], typer.Option("--role", help=_ROLE)],
    authority: Annotated[Optional[str], typer.Option("--authority", help=_AUTHORITY)] = None,
    user_id: Annotated[Optional[str], typer.Option("--user-id", help=_USER_ID)] = None,
    acts_as: Annotated[Optional[list[str]], typer.Option("--acts-as", help=_ACTS_AS)] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")] = False,
    no_password: Annotated[bool, typer.Option("--no-password", help="Sign in only through the single sign-on proxy")] = False,
) -> None:
    """Add a person who signs in (password: prompted for, or --password-stdin)."""
    from engine.interfaces.cli import open_store, out
    from engine.access import accounts

    if no_password:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    row = accounts.add_user(open_store(), name, roles=role, password=password, authority=_authority(authority),
                            user_id=user_id, acts_as=acts_as or [])
    out.print(f"user {row.name} added: {', '.join(row.roles)}; authority {row.authority or 'all'}")


@users_app.command("remove")
def users_remove(name: str) -> None:
    """Remove a user and end their sessions (the audit trail keeps their name)."""
    from engine.interfaces.cli import open_store, out
    from engine.access import accounts

    accounts.remove_user(open_store(), name)
    out.print(f"user {name} removed")


@users_app.command("list")
def users_list() -> None:
    """Users, their roles and scope (never a password hash)."""
    from engine.interfaces.cli import open_store, out
    from rich.table import Table

    from engine.access import accounts

    table = Table("name", "roles", "authority", "user id", "acts as", "sign-in")
    for row in accounts.users(open_store()):
        table.add_row(row.name, ", ".join(row.roles), row.authority or "all", row.user_id or "-",
                      ", ".join(row.acts_as) or "-", "password" if row.password_hash else "proxy only")
    out.print(table)


@keys_app.command("create")
def keys_create(
    role: Annotated[list[str], typer.Option("--role", help=_ROLE)],
    name: Annotated[str, typer.Option("--name", help="What the key is for, e.g. 'Mosaic link'")],
    authority: Annotated[Optional[str], typer.Option("--authority", help=_AUTHORITY)] = None,
    expires: Annotated[str, typer.Option("--expires", help="Lifetime: s, m, h, d or w, e.g. 90d")] = "90d",
    user_id: Annotated[Optional[str], typer.Option("--user-id", help=_USER_ID)] = None,
    acts_as: Annotated[Optional[list[str]], typer.Option("--acts-as", help=_ACTS_AS)] = None,
) -> None:
    """Create an API key. It is printed once, alone on the last line: store it now."""
    from engine.interfaces.cli import fail, open_store, settings
    from engine.access import accounts
    from engine.settings import parse_span

    try:
        lifetime = parse_span(expires)
    except ValueError as exc:
        fail(f"error: --expires: {exc}")
    settings()
    new = accounts.create_key(open_store(), name, roles=role, expires_in=lifetime, authority=_authority(authority),
                              user_id=user_id, acts_as=acts_as or [])
    row = new.row
    sys.stderr.write(f"key {row.prefix} ({row.name}): {', '.join(row.roles)}; authority {row.authority or 'all'}; "
                     f"expires {_local(row.expires_at)}. It is shown once, below; only its hash is kept.\n")
    sys.stdout.write(new.key + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """Keys by prefix, with roles, scope, expiry and revocation (never the key)."""
    from engine.interfaces.cli import open_store, out
    from rich.table import Table

    from engine.access import accounts

    now = dt.datetime.now(dt.timezone.utc)
    table = Table("prefix", "name", "roles", "authority", "acts as", "expires", "state")
    for row in accounts.keys(open_store()):
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.timezone.utc)
        state = "revoked" if row.revoked_at else ("expired" if expires <= now else "active")
        table.add_row(row.prefix, row.name, ", ".join(row.roles), row.authority or "all", ", ".join(row.acts_as) or "-",
                      _local(row.expires_at), state)
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's prefix (caseclock keys list) or id")]) -> None:
    """Revoke a key at once: the next request that sends it is refused."""
    from engine.interfaces.cli import open_store, out
    from engine.access import accounts

    row = accounts.revoke_key(open_store(), key)
    out.print(f"key {row.prefix} ({row.name}) revoked")


def audit_list(
    case: Annotated[Optional[str], typer.Option("--case", help="Only this case reference")] = None,
    principal: Annotated[Optional[str], typer.Option("--principal", help="Only this user or key name")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="From this date or moment (London time)")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows, newest first")] = 1000,
) -> None:
    """Who read or changed which case, when (newest first)."""
    from engine.interfaces.cli import open_store, out
    from rich.table import Table

    from engine.access import audit
    from engine.time.moments import parse_moment

    start = parse_moment(since) if since else None
    rows = audit.query(open_store(), case_ref=case, principal=principal, since=start, limit=limit)
    table = Table("when", "principal", "kind", "action", "authority", "case", "outcome")
    for row in rows:
        table.add_row(_local(row.at), row.principal, row.kind, row.action, row.authority or "-", row.case_ref or "-",
                      str(row.outcome))
    out.print(table)
