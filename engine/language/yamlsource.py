"""YAML reading that remembers where every value came from.

Errors in a procedure must point at the file and line a procedure owner has to edit, so the
loader returns, beside the plain data, a map from each value's path to its (file, line). It also
refuses duplicate keys, which plain YAML silently resolves by keeping the last one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.errors import DefinitionError, Problem

Path_ = tuple[Any, ...]
Location = tuple[str, int]
LineMap = dict[Path_, Location]


def load_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """Parse one YAML document into plain Python data plus a path -> (file, line) map."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            raise DefinitionError(
                [Problem(filename, line, "", f"not valid YAML: {exc.problem or exc.context}")]
            ) from None
        except yaml.YAMLError as exc:
            raise DefinitionError([Problem(filename, None, "", f"not valid YAML: {exc}")]) from None
        if node is None:
            raise DefinitionError([Problem(filename, 1, "", "the file is empty")])
        lines: LineMap = {}
        problems: list[Problem] = []

        def build(node: yaml.Node, path: Path_) -> Any:
            lines[path] = (filename, node.start_mark.line + 1)
            if isinstance(node, yaml.MappingNode):
                result: dict[Any, Any] = {}
                for key_node, value_node in node.value:
                    key = loader.construct_object(key_node, deep=True)
                    if isinstance(key, bool):
                        word = key_node.value
                        problems.append(
                            Problem(filename, key_node.start_mark.line + 1, _dotted(path),
                                    f"key '{word}' is read by YAML as {str(key).lower()}: quote it ('{word}')")
                        )
                        continue
                    if isinstance(key, (list, dict)):
                        problems.append(
                            Problem(filename, key_node.start_mark.line + 1, _dotted(path), "a key must be a plain value")
                        )
                        continue
                    if key in result:
                        problems.append(
                            Problem(
                                filename,
                                key_node.start_mark.line + 1,
                                _dotted(path + (key,)),
                                f"duplicate key '{key}' (first defined on line {lines[path + (key,)][1]})",
                            )
                        )
                        continue
                    lines[path + (key,)] = (filename, key_node.start_mark.line + 1)
                    result[key] = build(value_node, path + (key,))
                    lines[path + (key,)] = (filename, key_node.start_mark.line + 1)
                return result
            if isinstance(node, yaml.SequenceNode):
                return [build(item, path + (i,)) for i, item in enumerate(node.value)]
            return loader.construct_object(node, deep=True)

        try:
            data = build(node, ())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise DefinitionError(
                [Problem(filename, mark.line + 1 if mark else None, "", f"not valid YAML: {exc}")]
            ) from None
        if problems:
            raise DefinitionError(problems)
        return data, lines
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> tuple[Any, LineMap]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read file: {exc.strerror}")]) from None
    return load_yaml(text, str(path))


def locate(lines: LineMap, path: Path_, default_file: str) -> Location:
    """The location of the longest prefix of `path` that the map knows."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), (default_file, 1))


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) and not isinstance(part, bool) else (f".{part}" if out else str(part))
    return out


dotted = _dotted
