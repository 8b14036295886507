"""Finding and loading workflow definitions: the bundled ones plus any the host adds."""

from __future__ import annotations

from pathlib import Path

from engine.language.bundled import bundled_dir, workflow_files
from engine.language.definition import (Located, Workflow, WorkflowSpec, apply_overlay, placeholders, read_located,
                                       validate, value_problem)
from engine.language.profiles import Profile, is_profile_file, load_profile, read_profile
from engine.language.yamlsource import dotted, locate
from engine.errors import DefinitionError, Problem, UnknownWorkflow


def read_all(paths: list[Path]) -> tuple[dict[str, Located], list[Problem]]:
    """Raw workflow documents by name, and the problems of the files that could not be read."""
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
    return raw, problems


class Registry:
    """Validated workflows by name, and every version seen, by version hash."""

    def __init__(self, workflows: dict[str, Workflow], profile: "Profile | None" = None,
                 profiles: Path | None = None):
        self._by_name = dict(workflows)
        self._by_version = {w.version: w for w in workflows.values()}
        self.profile = profile
        self.profiles = profiles  # where authority profiles are found (None: the bundled folder)

    def load_profile(self, authority: str) -> Profile:
        """An authority's profile from this registry's profile folder (e.g. for its calendar)."""
        if self.profile is not None and self.profile.name == authority:
            return self.profile
        return load_profile(authority, self.profiles)

    @classmethod
    def load(cls, paths: list[Path] | None = None, authority: str | None = None,
             profiles: Path | None = None) -> "Registry":
        """Load workflow files (the bundled ones by default), resolve `extends:`, apply the
        authority's profile if one is named, and validate everything, reporting every problem."""
        paths = [bundled_dir("workflows")] if paths is None else paths
        raw, problems = read_all(paths)
        unread = bool(problems)  # a file that could not be read may be the base or target another names
        profile = None
        if authority:
            profile, found = read_profile(authority, profiles)
            problems.extend(found)
        if profile is not None:
            for name in profile.spec.new_workflows:
                if name in raw:
                    file, line = profile.locate(("new_workflows", name))
                    problems.append(Problem(file, line, f"new_workflows.{name}", f"workflow '{name}' already exists; overlay it under 'workflows'"))
                else:
                    raw[name] = profile.new_workflow(name)
        merged: dict[str, Located] = {}

        def resolve(name: str, chain: tuple[str, ...] = ()) -> None:
            if name in merged:
                return
            located = raw[name]
            if name in chain:
                problems.append(Problem(located.file, located.lines.get(("extends",), (located.file, 1))[1], "extends",
                                        f"circular extends: {' -> '.join(chain + (name,))}"))
                return
            base = located.data.get("extends")
            if base is None:
                merged[name] = located
                return
            if base not in raw:
                if unread:
                    return
                file, line = locate(located.lines, ("extends",), located.file)
                problems.append(Problem(file, line, "extends", f"unknown base workflow '{base}' (known: {', '.join(sorted(n for n in raw if n != name))})"))
                return
            resolve(base, chain + (name,))
            if base in merged:
                try:
                    merged[name], found = apply_overlay(merged[base], located)
                    problems.extend(found)
                except DefinitionError as exc:
                    problems.extend(exc.problems)

        for name in raw:
            resolve(name)
        if profile is not None:
            for name in profile.spec.workflows:
                if name not in merged:
                    file, line = profile.locate(("workflows", name))
                    problems.append(Problem(file, line, f"workflows.{name}", f"no base workflow '{name}' to overlay (known: {', '.join(sorted(raw))})"))
                    continue
                try:
                    merged[name], found = apply_overlay(merged[name], profile.overlay(name), prefix=("workflows", name))
                    problems.extend(found)
                except DefinitionError as exc:
                    problems.extend(exc.problems)
            declared = set()
            for located in merged.values():
                roles = located.data.get("roles") if isinstance(located.data, dict) else None
                if isinstance(roles, dict):
                    declared |= set(roles)
                    for role, title in profile.spec.roles.items():
                        if role in roles:
                            located.data = {**located.data, "roles": {**located.data["roles"], role: title}}
            for role in profile.spec.roles:
                if role not in declared:
                    file, line = profile.locate(("roles", role))
                    problems.append(Problem(file, line, f"roles.{role}", f"no workflow declares role '{role}'"))
        workflows: dict[str, Workflow] = {}
        for name, located in merged.items():
            try:
                workflows[name] = validate(located)
            except DefinitionError as exc:
                problems.extend(exc.problems)
        if not unread:
            problems.extend(_start_problems(workflows, merged))
        if problems:
            raise DefinitionError(list(dict.fromkeys(problems)))
        return cls(workflows, profile, profiles)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str) -> Workflow:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownWorkflow(name, self.names()) from None

    def by_version(self, version: str) -> Workflow | None:
        return self._by_version.get(version)

    def remember(self, body: dict) -> Workflow:
        """Rebuild a stored definition version (a case keeps the version it was opened on)."""
        workflow = Workflow(WorkflowSpec.model_validate(body), origin="<stored>")
        self._by_version[workflow.version] = workflow
        return workflow


def check_files(paths: list[Path]) -> list[tuple[Path, list[Problem]]]:
    """Validate workflow and profile files as they would run beside the bundled workflows.

    A workflow file replaces the bundled workflow of the same name (a procedure owner checking an
    edited copy), and may extend any bundled one. A profile is applied to the bundled workflows,
    with any edited copies given alongside it in their place.
    """
    files = workflow_files(paths)
    profiles = [p for p in files if is_profile_file(p)]
    given = {p: _workflow_name(p) for p in files if p not in profiles}
    bundled = {p: _workflow_name(p) for p in workflow_files([bundled_dir("workflows")])}

    def beside(names: set, paths_: set) -> list[Path]:
        return [p for p, n in bundled.items() if n not in names and p.resolve() not in paths_]

    results: list[tuple[Path, list[Problem]]] = []
    for path in files:
        try:
            if path in profiles:
                copies = [p for p, n in given.items() if n in bundled.values()]
                Registry.load([*beside({given[p] for p in copies}, {p.resolve() for p in copies}), *copies],
                              authority=path.stem, profiles=path.parent)
            else:
                Registry.load([*beside({given[path]}, {path.resolve()}), path])
            results.append((path, []))
        except DefinitionError as exc:
            results.append((path, exc.problems))
    return results


def _workflow_name(path: Path) -> str | None:
    try:
        name = read_located(path).data.get("name")
    except DefinitionError:
        return None
    return name if isinstance(name, str) else None


def _start_problems(workflows: dict[str, Workflow], located: dict[str, Located]) -> list[Problem]:
    """`starts:` names another workflow, so only the whole set can tell whether it can open a case."""
    problems: list[Problem] = []
    for name, wf in workflows.items():
        for i, t in enumerate(wf.spec.transitions):
            if t.starts is None:
                continue
            here = ("transitions", i, "starts")

            def problem(path: tuple, message: str) -> None:
                file, line = locate(located[name].lines, here + path, located[name].file)
                problems.append(Problem(file, line, dotted(here + path), message))

            child = workflows.get(t.starts.workflow)
            if child is None:
                if t.starts.workflow not in located:  # a workflow that failed validation is reported already
                    problem(("workflow",), f"unknown workflow '{t.starts.workflow}' (known: {', '.join(sorted(located))})")
                continue
            if t.starts.state is not None and t.starts.state not in child.openable_states:
                problem(("state",), f"a '{child.name}' case cannot be opened at '{t.starts.state}' "
                                    f"(allowed: {', '.join(child.openable_states)})")
            for key, value in t.starts.data.items():
                field = child.spec.data.get(key)
                if field is None:
                    problem(("data", key), f"'{child.name}' has no data field '{key}' "
                                           f"(known: {', '.join(child.spec.data) or 'none declared'})")
                elif not placeholders(value) and (message := value_problem(field, value)):
                    problem(("data", key), f"{message} for field '{key}' of '{child.name}'")
            for required in child.spec.open.requires:
                if required not in t.starts.data:
                    problem(("data",), f"'{child.name}' needs '{required}' to open a case: set it under starts.data")
    return problems
