"""YAML reading that remembers where every value came from.

Errors in a procedure must point at the file and line a procedure owner has to edit, so the
loader returns, beside the plain data, a map from each value's path to its (file, line). It also
refuses duplicate keys, which plain YAML silently resolves by keeping the last one.

A definition file is also untrusted input: it is read only up to MAX_BYTES, must be UTF-8 without
control characters, and an alias may only repeat a plain value. An alias of a mapping or list is
refused, because nested ones expand exponentially (a "billion laughs" file of a few hundred bytes
would take minutes and gigabytes to build).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.errors import DefinitionError, Problem

Path_ = tuple[Any, ...]
Location = tuple[str, int]
LineMap = dict[Path_, Location]

MAX_BYTES = 1024 * 1024
"""The largest definition file read (the bundled ones are about 20 KB)."""
TOO_DEEP = "not valid YAML: mappings and lists are nested too deeply"


MAX_DEPTH = 200
"""The deepest nesting of mappings and lists read (the bundled files nest about eight deep)."""

_RESOLVER = yaml.resolver.Resolver()


class _TooDeep(Exception):
    """Mappings and lists nested deeper than MAX_DEPTH."""


class _Composer:
    """Builds the node tree from a stream of parser events, refusing aliases of mappings and lists.

    The events come from libyaml (C speed) and, when it finds the text malformed, from PyYAML's own
    parser, whose error messages and positions are the ones reported. Composing here rather than in
    either library keeps one set of rules for both: an alias may only repeat a plain value (each
    refused one is recorded where it was used), and nesting stops at MAX_DEPTH instead of
    exhausting the stack (libyaml's own composer would crash the process).
    """

    def __init__(self, events: Any):
        self.events = iter(events)
        self.anchors: dict[str, yaml.Node] = {}
        self.refused_aliases: list[tuple[yaml.Mark, str]] = []

    def single_node(self) -> yaml.Node | None:
        next(self.events)  # stream start
        event = next(self.events)
        if isinstance(event, yaml.StreamEndEvent):
            return None
        document = self._document()
        event = next(self.events)
        if not isinstance(event, yaml.StreamEndEvent):
            raise yaml.composer.ComposerError("expected a single document in the stream",
                                              document.start_mark, "but found another document",
                                              event.start_mark)
        return document

    def _document(self) -> yaml.Node:
        """Compose the document whose start event was just read, with an explicit stack."""
        stack: list[yaml.Node] = []
        root: yaml.Node | None = None
        pending_key: list[yaml.Node | None] = []
        for event in self.events:
            if isinstance(event, yaml.DocumentEndEvent):
                return root  # type: ignore[return-value]
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                node = stack.pop()
                pending_key.pop()
                node.end_mark = event.end_mark
                continue
            node = self._node(event)
            if stack:
                parent = stack[-1]
                if isinstance(parent, yaml.SequenceNode):
                    parent.value.append(node)
                elif pending_key[-1] is None:
                    pending_key[-1] = node
                else:
                    parent.value.append((pending_key[-1], node))
                    pending_key[-1] = None
            else:
                root = node
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise _TooDeep()
                stack.append(node)
                pending_key.append(None)
        raise yaml.composer.ComposerError(None, None, "the document does not end", None)

    def _node(self, event: Any) -> yaml.Node:
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is None:
                raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                                  event.start_mark)
            if isinstance(target, yaml.ScalarNode):
                return target
            if event.anchor not in {anchor for _, anchor in self.refused_aliases}:
                self.refused_aliases.append((event.start_mark, event.anchor))
            return yaml.ScalarNode("tag:yaml.org,2002:null", "", event.start_mark, event.end_mark)
        if event.anchor is not None and event.anchor in self.anchors:
            raise yaml.composer.ComposerError(f"found duplicate anchor {event.anchor!r}; first occurrence",
                                              self.anchors[event.anchor].start_mark,
                                              "second occurrence", event.start_mark)
        if isinstance(event, yaml.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
            node: yaml.Node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                                              style=event.style)
        else:
            kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        return node


def _compose(text: str) -> tuple[yaml.Node | None, list[tuple[yaml.Mark, str]]]:
    """The node tree of `text` and the refused aliases; PyYAML's exception if the text is not YAML."""
    try:
        composer = _Composer(yaml.parse(text, Loader=yaml.CSafeLoader))
        return composer.single_node(), composer.refused_aliases
    except yaml.YAMLError:
        composer = _Composer(yaml.parse(text, Loader=yaml.SafeLoader))
        return composer.single_node(), composer.refused_aliases


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def load_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """Parse one YAML document into plain Python data plus a path -> (file, line) map."""
    try:
        node, refused_aliases = _compose(text)
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        raise DefinitionError([Problem(
            filename, line, "", f"not valid YAML: character U+{exc.character:04X} is not allowed "
            "(write it as an escape in a double-quoted string, or remove it)", column)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise DefinitionError(
            [Problem(filename, line, "", f"not valid YAML: {exc.problem or exc.context}", column)]
        ) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(filename, None, "", f"not valid YAML: {exc}")]) from None
    except _TooDeep:
        raise DefinitionError([Problem(filename, None, "", TOO_DEEP)]) from None
    if refused_aliases:
        raise DefinitionError([
            Problem(filename, mark.line + 1, "",
                    f"alias '*{anchor}' repeats a mapping or list: only plain values may be repeated "
                    "with an alias (write the mapping or list out in full)", mark.column + 1)
            for mark, anchor in refused_aliases
        ])
    if node is None:
        raise DefinitionError([Problem(filename, 1, "", "the file is empty")])
    constructor = yaml.constructor.SafeConstructor()
    lines: LineMap = {}
    problems: list[Problem] = []

    def build(node: yaml.Node, path: Path_) -> Any:
        lines[path] = (filename, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = constructor.construct_object(key_node, deep=True)
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
        return constructor.construct_object(node, deep=True)

    try:
        data = build(node, ())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DefinitionError(
            [Problem(filename, mark.line + 1 if mark else None, "", f"not valid YAML: {exc}")]
        ) from None
    except RecursionError:
        raise DefinitionError([Problem(filename, None, "", TOO_DEEP)]) from None
    if problems:
        raise DefinitionError(problems)
    return data, lines


def load_yaml_file(path: Path) -> tuple[Any, LineMap]:
    """Read a definition file (UTF-8, at most MAX_BYTES) and parse it with `load_yaml`."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DefinitionError([Problem(str(path), None, "", f"cannot read file: {exc.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        raise DefinitionError([Problem(str(path), None, "", f"the file is larger than {MAX_BYTES // 1024} KB")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise DefinitionError([Problem(str(path), line, "", "not valid UTF-8: save the file as UTF-8", column)]) from None
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
