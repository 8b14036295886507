"""Append one simulated authority's database to another's, exactly as if it had run after it.

Authorities of a national run are independent (no case of one touches another's, and no timer
of one is due while another runs: see `runner.simulate`), so they can run at the same time, each
in a SQLite file of its own, and be put together afterwards. Run one after another in one file,
an authority's rows take the ids after the last authority's; appending a part renumbers its ids
the same way (every id plus the target's largest), so the merged file equals the sequential
one row for row. The only ids held outside id columns are the timers' idempotency keys
(`expiry:<deadline id>[:...]`, `reminder:<reminder id>`, from `Engine._expire` and `_remind`),
renumbered with them. Definitions are stored once: the first authority's row stands.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# table -> {column: the table whose ids it holds}, parents before children
RENUMBERED: dict[str, dict[str, str]] = {
    "cases": {"id": "cases"},
    "transitions": {"id": "transitions", "case_id": "cases"},
    "deadlines": {"id": "deadlines", "case_id": "cases"},
    "reminders": {"id": "reminders", "deadline_id": "deadlines", "case_id": "cases"},
    "outbox": {"id": "outbox"},
}
KEYED = ("transitions", "outbox")  # tables whose idempotency_key may hold a timer's id
STORED_ONCE = ("definitions",)
# what a simulation does not write, what the file holds once, or what its own triggers keep
# (deadline_counts follows the deadlines appended to it)
LEFT = ("alembic_version", "deployment", "users", "api_keys", "sessions", "audit", "deadline_counts")


class MergeError(Exception):
    """The part holds something a merge cannot carry over."""


def _rekey(key: str | None, deadlines: int, reminders: int) -> str | None:
    if key is None:
        return None
    kind, _, rest = key.partition(":")
    if kind == "expiry":
        number, colon, tail = rest.partition(":")
        return f"expiry:{int(number) + deadlines}{colon}{tail}"
    if kind == "reminder":
        return f"reminder:{int(rest) + reminders}"
    return key


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def append(target: Path, part: Path) -> None:
    """Append every row of the simulation database `part` to `target`, in one transaction."""
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS part", (str(part),))
        tables = {row[0] for row in conn.execute("SELECT name FROM part.sqlite_master WHERE type = 'table'")}
        unknown = sorted(t for t in tables - set(RENUMBERED) - set(STORED_ONCE) - set(LEFT)
                         if conn.execute(f"SELECT 1 FROM part.{t} LIMIT 1").fetchone())
        if unknown:
            raise MergeError(f"{part}: cannot merge the rows of table(s) {', '.join(unknown)}")
        for table in ("users", "api_keys", "sessions", "audit"):
            if table in tables and conn.execute(f"SELECT 1 FROM part.{table} LIMIT 1").fetchone():
                raise MergeError(f"{part}: a simulation holds no {table}, this file does")
        conn.execute("BEGIN IMMEDIATE")
        offset = {t: conn.execute(f"SELECT coalesce(max(id), 0) FROM main.{t}").fetchone()[0] for t in RENUMBERED}
        conn.create_function("rekey", 1, lambda key: _rekey(key, offset["deadlines"], offset["reminders"]),
                             deterministic=True)
        for table in STORED_ONCE:
            columns = ", ".join(_columns(conn, "main", table))
            conn.execute(f"INSERT OR IGNORE INTO main.{table} ({columns}) SELECT {columns} FROM part.{table}")
        for table, ids in RENUMBERED.items():
            columns = _columns(conn, "main", table)
            if _columns(conn, "part", table) != columns:
                raise MergeError(f"{part}: table {table} has other columns than {target}'s")
            picked = []
            for c in columns:
                if c in ids:
                    picked.append(f"{c} + {offset[ids[c]]}")
                elif c == "idempotency_key" and table in KEYED:
                    picked.append("rekey(idempotency_key)")
                else:
                    picked.append(c)
            conn.execute(f"INSERT INTO main.{table} ({', '.join(columns)}) "
                         f"SELECT {', '.join(picked)} FROM part.{table} ORDER BY id")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def checkpoint(path: Path) -> None:
    """Move everything in the file's write-ahead log into the file itself (before it is moved)."""
    conn = sqlite3.connect(path)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise MergeError(f"{path} is still in use")
    finally:
        conn.close()
