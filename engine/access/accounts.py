"""Users, API keys and sessions: how a request becomes a Principal.

Passwords are hashed with argon2 (argon2-cffi). An API key is `cc_<prefix>_<secret>`: the
prefix (public, 8 hex characters) finds the row, and only the SHA-256 of the whole key is
stored - a key is 32 random bytes, so a fast hash is enough, and nobody reading the database
can use a key. A session cookie carries another random id, stored the same way. Every lookup
compares hashes in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

from engine.access.principal import Principal, Role
from engine.errors import AccessError
from persistence.models import ApiKeyRow, SessionRow, UserRow
from persistence.store import Store

KEY_PREFIX = "cc_"
_KEY = re.compile(r"^cc_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_WORKFLOW_ROLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_hasher = None


def _argon2():
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()
    return _hasher


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def parse_roles(roles: list[str]) -> list[str]:
    """Access roles, checked by name: a typo must not become an account that can do nothing."""
    known = {r.value for r in Role}
    unknown = [r for r in roles if r not in known]
    if unknown or not roles:
        raise AccessError(f"roles must be one or more of: {', '.join(sorted(known))}")
    return sorted(set(roles))


def parse_acts_as(acts_as: list[str]) -> list[str]:
    """Workflow roles a principal may fire as; `system` belongs to the timers alone."""
    for role in acts_as:
        if role == "system":
            raise AccessError("no user or key may act as 'system': only the timers do")
        if not _WORKFLOW_ROLE.match(role):
            raise AccessError("a workflow role is lower_snake_case, 1-64 characters")
    return sorted(set(acts_as))


def _check_name(name: str) -> str:
    if not _NAME.match(name or "") or name != name.strip():
        raise AccessError("a name is 1-128 printable characters without leading or trailing spaces")
    return name


def principal_of(row: UserRow | ApiKeyRow, kind: str) -> Principal:
    return Principal(name=row.name, roles=frozenset(Role(r) for r in row.roles), authority=row.authority,
                     user_id=row.user_id, acts_as=frozenset(row.acts_as), kind=kind)


# ---- users -------------------------------------------------------------------------------------


def add_user(store: Store, name: str, *, roles: list[str], password: str | None, authority: str | None = None,
             user_id: str | None = None, acts_as: list[str] = ()) -> UserRow:
    """A person. With no password they can only come through the single sign-on proxy."""
    if password is not None and len(password) < 12:
        raise AccessError("a password must be at least 12 characters")
    row = UserRow(name=_check_name(name), roles=parse_roles(list(roles)), authority=authority, user_id=user_id,
                  acts_as=parse_acts_as(list(acts_as)), created_at=_now(),
                  password_hash=_argon2().hash(password) if password is not None else None)
    with Session(store.db.writer, expire_on_commit=False) as s:
        if s.exec(select(UserRow).where(UserRow.name == row.name)).first() is not None:
            raise AccessError(f"a user named {name!r} already exists")
        s.add(row)
        s.commit()
    return row


def remove_user(store: Store, name: str) -> None:
    """The user and their sessions; the audit trail keeps their name."""
    with Session(store.db.writer) as s:
        row = s.exec(select(UserRow).where(UserRow.name == name)).first()
        if row is None:
            raise AccessError(f"no user named {name!r}")
        for session in s.exec(select(SessionRow).where(SessionRow.user_id == row.id)).all():
            s.delete(session)
        s.flush()
        s.delete(row)
        s.commit()


def users(store: Store) -> list[UserRow]:
    with store.read() as s:
        return list(s.exec(select(UserRow).order_by(UserRow.name)).all())


def user(store: Store, name: str) -> UserRow | None:
    with store.read() as s:
        return s.exec(select(UserRow).where(UserRow.name == name)).first()


def check_password(store: Store, name: str, password: str) -> Principal | None:
    """The user's principal if the password is theirs. An unknown name costs a hash too, so
    timing does not tell which names exist."""
    from argon2.exceptions import InvalidHashError, VerificationError

    row = user(store, name)
    stored = row.password_hash if row is not None and row.password_hash else _argon2().hash("not a password")
    try:
        _argon2().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return principal_of(row, "user") if row is not None and row.password_hash else None


# ---- API keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewKey:
    row: ApiKeyRow
    key: str  # shown once; only its hash is kept


def create_key(store: Store, name: str, *, roles: list[str], expires_in: dt.timedelta, authority: str | None = None,
               user_id: str | None = None, acts_as: list[str] = (), now: dt.datetime | None = None) -> NewKey:
    if expires_in <= dt.timedelta(0):
        raise AccessError("a key's expiry must be in the future")
    now = now or _now()
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKeyRow(name=_check_name(name), prefix=prefix, key_hash=digest(key), roles=parse_roles(list(roles)),
                    authority=authority, user_id=user_id, acts_as=parse_acts_as(list(acts_as)), created_at=now,
                    expires_at=now + expires_in)
    with Session(store.db.writer, expire_on_commit=False) as s:
        s.add(row)
        s.commit()
    return NewKey(row, key)


def keys(store: Store) -> list[ApiKeyRow]:
    with store.read() as s:
        return list(s.exec(select(ApiKeyRow).order_by(ApiKeyRow.id)).all())


def revoke_key(store: Store, ident: str, now: dt.datetime | None = None) -> ApiKeyRow:
    """Revoke by prefix (as `keys list` shows it) or by id."""
    with Session(store.db.writer, expire_on_commit=False) as s:
        where = ApiKeyRow.id == int(ident) if ident.isdigit() else ApiKeyRow.prefix == ident
        row = s.exec(select(ApiKeyRow).where(where)).first()
        if row is None:
            raise AccessError(f"no key {ident!r} (see caseclock keys list)")
        if row.revoked_at is None:
            row.revoked_at = now or _now()
            s.add(row)
            s.commit()
    return row


def key_principal(store: Store, key: str, now: dt.datetime | None = None) -> Principal | None:
    """The key's principal, if the key exists, is not revoked and has not expired."""
    match = _KEY.match(key)
    if not match:
        return None
    with store.read() as s:
        row = s.exec(select(ApiKeyRow).where(ApiKeyRow.prefix == match.group(1))).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest(key)):
        return None
    if row.revoked_at is not None or _aware(row.expires_at) <= (now or _now()):
        return None
    return principal_of(row, "key")


# ---- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    csrf_token: str


def start_session(store: Store, name: str, lifetime: dt.timedelta) -> tuple[str, str]:
    """A new session for a signed-in user: (the cookie's value, the CSRF token)."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = _now()
    with Session(store.db.writer) as s:
        row = s.exec(select(UserRow).where(UserRow.name == name)).one()
        s.add(SessionRow(id_hash=digest(session_id), user_id=row.id, csrf_token=csrf, created_at=now,
                         expires_at=now + lifetime))
        s.commit()
    return session_id, csrf


def session_principal(store: Store, session_id: str, now: dt.datetime | None = None) -> SignedIn | None:
    if not session_id or len(session_id) > 128:
        return None
    with store.read() as s:
        found = s.exec(select(SessionRow, UserRow).join(UserRow, UserRow.id == SessionRow.user_id)
                       .where(SessionRow.id_hash == digest(session_id))).first()
    if found is None:
        return None
    session, row = found
    if _aware(session.expires_at) <= (now or _now()):
        return None
    return SignedIn(principal_of(row, "user"), session.csrf_token)


def end_session(store: Store, session_id: str) -> None:
    with Session(store.db.writer) as s:
        row = s.get(SessionRow, digest(session_id))
        if row is not None:
            s.delete(row)
            s.commit()
