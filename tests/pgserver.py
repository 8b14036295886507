"""A throwaway PostgreSQL server on a temp dir, for tests, CI and the benchmark.

    python -m tests.pgserver start DIR      # prints the URL (postgresql://postgres@/caseclock?host=DIR/sock)
    python -m tests.pgserver stop DIR

The server listens on a unix socket only (no TCP). PostgreSQL refuses to run as root, so as root
it runs as the `postgres` system user (`runuser`); otherwise as the current user. Binaries come
from $PG_BIN, else /usr/lib/postgresql/15/bin (Debian's postgresql-15), else the PATH.
`durable=False` (tests) turns fsync off: the data is thrown away anyway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DATABASE = "caseclock"


def bin_dir() -> Path | None:
    for candidate in (os.environ.get("PG_BIN"), "/usr/lib/postgresql/15/bin"):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def available() -> bool:
    return bin_dir() is not None


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def url(directory: Path | str, database: str = DATABASE) -> str:
    return f"postgresql://postgres@/{database}?host={Path(directory).resolve() / 'sock'}"


def start(directory: Path | str, *, durable: bool = False, database: str = DATABASE) -> str:
    """Create a cluster in `directory` (which must not hold one), start it, create `database`;
    return its URL."""
    pg = bin_dir()
    if pg is None:
        raise RuntimeError("PostgreSQL binaries not found: apt-get install postgresql-15 (or set PG_BIN)")
    root = Path(directory).resolve()
    data, sock = root / "data", root / "sock"
    root.mkdir(parents=True, exist_ok=True)
    sock.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        if subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(root.parent)]).returncode != 0:
            raise RuntimeError(f"the postgres user cannot reach {root.parent}: start the server in a directory "
                               "whose parents it may enter (e.g. a fresh tempfile.mkdtemp() under /tmp)")
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        os.chmod(root, 0o755)  # the socket dir must be reachable by the (root) clients
    subprocess.run(_as_owner([str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                              "--no-sync"]), check=True, stdout=subprocess.DEVNULL)
    _pg_ctl_start(pg, root, durable)
    _create_database(pg, sock, database)
    return url(root, database)


def restart(directory: Path | str, *, durable: bool = False) -> None:
    """Start again a server that `stop` stopped (its cluster and databases are kept)."""
    pg = bin_dir()
    if pg is None:
        raise RuntimeError("PostgreSQL binaries not found")
    _pg_ctl_start(pg, Path(directory).resolve(), durable)


def _pg_ctl_start(pg: Path, root: Path, durable: bool) -> None:
    options = f"-k {root / 'sock'} -c listen_addresses='' -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(_as_owner([str(pg / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log"), "-o",
                              options, "-w", "-t", "60", "start"]), check=True, stdout=subprocess.DEVNULL)


def _create_database(pg: Path, sock: Path, database: str) -> None:
    for _ in range(50):
        done = subprocess.run([str(pg / "createdb"), "-h", str(sock), "-U", "postgres", database],
                              capture_output=True, text=True)
        if done.returncode == 0 or "already exists" in done.stderr:
            return
        time.sleep(0.1)
    raise RuntimeError(f"createdb failed: {done.stderr}")


def stop(directory: Path | str, mode: str = "immediate") -> None:
    """Stop the server; `mode="fast"` first writes out what was committed (the test settings
    commit asynchronously, so an immediate stop may lose the last moments: fine for a server
    about to be thrown away, not for one started again)."""
    pg = bin_dir()
    data = Path(directory).resolve() / "data"
    if pg is None or not (data / "postmaster.pid").exists():
        return
    subprocess.run(_as_owner([str(pg / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop"]),
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("start", "stop"):
        sys.stderr.write("usage: python -m tests.pgserver start|stop DIR [--durable]\n")
        return 2
    if argv[0] == "start":
        sys.stdout.write(start(argv[1], durable="--durable" in argv) + "\n")
    else:
        stop(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
