"""Finding and loading workflow definitions: the bundled ones plus any the host adds."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .definition import Located, Workflow, WorkflowSpec, build_workflow, read_located
from .errors import DefinitionError, Problem

_REPO_ROOT = Path(__file__).resolve().parent.parent


def bundled_dir(name: str) -> Path:
    """`workflows` or `config`: from the source tree when run from a checkout, else installed."""
    here = _REPO_ROOT / name
    if (_REPO_ROOT / "pyproject.toml").is_file() and here.is_dir():
        return here
    return Path(str(files(f"caseclock_{name}")))


def workflow_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")))
        else:
            out.append(p)
    return out


def read_all(paths: list[Path]) -> dict[str, Located]:
    """Raw workflow documents by name, with base workflows resolved through `extends:`."""
    raw: dict[str, Located] = {}
    problems: list[Problem] = []
    for path in workflow_files(paths):
        try:
            located = read_located(path)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        name = located.data.get("name")
        if not isinstance(name, str):
            line = located.lines.get(("name",), (str(path), 1))[1]
            problems.append(Problem(str(path), line, "name", "is required"))
            continue
        if name in raw:
            line = located.lines.get(("name",), (str(path), 1))[1]
            problems.append(Problem(str(path), line, "name", f"workflow '{name}' is also defined in {raw[name].file}"))
            continue
        raw[name] = located
    if problems:
        raise DefinitionError(problems)
    return raw


class Registry:
    """Validated workflows by name, and every version seen, by version hash."""

    def __init__(self, workflows: dict[str, Workflow]):
        self._by_name = dict(workflows)
        self._by_version = {w.version: w for w in workflows.values()}

    @classmethod
    def load(cls, paths: list[Path] | None = None) -> "Registry":
        paths = [bundled_dir("workflows")] if paths is None else paths
        raw = read_all(paths)
        resolved: dict[str, Located] = {}
        workflows: dict[str, Workflow] = {}
        problems: list[Problem] = []

        def resolve(name: str, chain: tuple[str, ...] = ()) -> None:
            if name in workflows or name in chain:
                if name in chain:
                    loc = raw[name]
                    problems.append(Problem(loc.file, loc.lines.get(("extends",), (loc.file, 1))[1], "extends",
                                            f"circular extends: {' -> '.join(chain + (name,))}"))
                return
            located = raw[name]
            base = located.data.get("extends")
            if isinstance(base, str) and base in raw:
                resolve(base, chain + (name,))
            try:
                workflow = build_workflow(located, resolved)
            except DefinitionError as exc:
                problems.extend(exc.problems)
                return
            workflows[name] = workflow
            resolved[name] = _resolved(located, resolved)

        for name in raw:
            resolve(name)
        if problems:
            raise DefinitionError(list(dict.fromkeys(problems)))
        return cls(workflows)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str) -> Workflow:
        try:
            return self._by_name[name]
        except KeyError:
            raise DefinitionError(
                [Problem("<registry>", None, "workflow", f"unknown workflow '{name}' (known: {', '.join(self.names())})")]
            ) from None

    def by_version(self, version: str) -> Workflow | None:
        return self._by_version.get(version)

    def remember(self, body: dict) -> Workflow:
        """Rebuild a stored definition version (a case keeps the version it was opened on)."""
        workflow = Workflow(WorkflowSpec.model_validate(body), origin="<stored>")
        self._by_version[workflow.version] = workflow
        return workflow


def _resolved(located: Located, resolved: dict[str, Located]) -> Located:
    """The merged raw document of a workflow, so that others can extend it in turn."""
    from .definition import apply_overlay

    base = located.data.get("extends")
    if isinstance(base, str) and base in resolved:
        return apply_overlay(resolved[base], located)
    return located
