"""Where the bundled YAML lives: the source tree in a checkout, the data packages once installed.

Profiles, settings and the registry all need these folders; keeping them here, below all three,
means none of them imports another just to find a file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def bundled_dir(name: str) -> Path:
    """`workflows` or `config`: from the source tree when run from a checkout, else installed."""
    here = _REPO_ROOT / name
    if (_REPO_ROOT / "pyproject.toml").is_file() and here.is_dir():
        return here
    return installed_dir(name)


def installed_dir(name: str) -> Path:
    """Where `pip install .` put the bundled YAML (a data-only package, `caseclock_<name>`)."""
    spec = importlib.util.find_spec(f"caseclock_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"caseclock's bundled {name} are not installed (package caseclock_{name})")
    return Path(list(spec.submodule_search_locations)[0])


def workflow_files(paths: list[Path]) -> list[Path]:
    """YAML files named directly, and those inside named folders (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")))
        else:
            out.append(p)
    return out
