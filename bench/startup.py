"""Start-up of the `caseclock` command: wall-clock time of whole processes, as a user waits.

    python bench/startup.py [--runs 5] [--caseclock caseclock]

Runs each command `--runs` times against a throwaway SQLite file (one case in it) and prints the
median and the fastest run, beside the bare interpreter's start-up for scale. Two commands touch
no database (targets: 0.3 s); two read one (target: 0.6 s). The median CPU time (user + system)
of the process is printed too: on a shared machine the wall clock grows with the load, the CPU
time much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each run."""
    times, cpu = [], []
    for _ in range(runs):
        started, cpu_before = time.perf_counter(), _children_cpu()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
        cpu.append(_children_cpu() - cpu_before)
    return times, cpu


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
            times, cpu = timed(argv, args.runs)
            print(f"{label:45s} median {statistics.median(times):.2f} s  fastest {min(times):.2f} s  "
                  f"CPU {statistics.median(cpu):.2f} s")


if __name__ == "__main__":
    main()
