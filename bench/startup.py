"""Start-up of the `caseclock` command: wall-clock time of whole processes, as a user waits.

    python bench/startup.py [--runs 5] [--caseclock caseclock]

Runs each command `--runs` times against a throwaway SQLite file (one case in it) and prints the
median and the fastest run, beside the bare interpreter's start-up for scale. Two commands touch
no database (targets: 0.3 s); two read one (target: 0.6 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--caseclock", default=shutil.which("caseclock") or "caseclock")
    args = parser.parse_args()
    cli = [args.caseclock]
    with tempfile.TemporaryDirectory() as folder:
        db = ["--database", f"sqlite:///{Path(folder) / 'startup.db'}"]
        subprocess.run(cli + db + ["migrate"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(cli + db + ["open", "drp", "X-1", "--at", "2026-11-02", "--set", "theme=safety",
                                   "--set", "concern=x"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        commands = {
            "python -c pass (the interpreter alone)": [sys.executable, "-c", "pass"],
            "caseclock --help": cli + ["--help"],
            "caseclock calendar add 2026-12-14 20wd": cli + ["calendar", "add", "2026-12-14", "20wd"],
            "caseclock validate workflows/drp.yaml": cli + ["validate", str(REPO / "workflows" / "drp.yaml")],
            "caseclock show X-1": cli + db + ["show", "X-1"],
            "caseclock overdue": cli + db + ["overdue"],
        }
        print(f"start-up, {args.runs} runs each, load average {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")
        for label, argv in commands.items():
            times = timed(argv, args.runs)
            print(f"{label:45s} median {statistics.median(times):.2f} s  fastest {min(times):.2f} s")


if __name__ == "__main__":
    main()
