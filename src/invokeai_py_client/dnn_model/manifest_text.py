"""A manifest's text: YAML or JSON read into data, and the line of each place in it.

YAML is read from libyaml's events (``CSafeLoader``) into dicts, lists and scalars,
resolved as ``yaml.safe_load`` resolves them, without its node tree: about 3x faster
on a manifest of 1,000 models. Anything else (anchors, aliases, merge keys, explicit
tags, several documents, an error) is read again by ``yaml.load``, which decides.

Lines cost nothing until an error needs one: ``Origin`` keeps the text and composes
it (PyYAML's node tree, with marks) on the first question. Messages then start
``models.yaml:12: models[3].name: ...``, as compilers write them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from ..errors import ManifestError

__all__ = ["Origin", "parse", "yaml_module"]

Format = Literal["json", "yaml"]
_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_SCALARS = frozenset(_TAG + t for t in ("null", "bool", "int", "float", "timestamp"))


class Origin:
    """Where a manifest was read from: a name (its file) and its text, for the lines of
    later errors. Any two compare equal: it is not part of the manifest's value."""

    def __init__(self, name: str, text: str | None = None) -> None:
        self.name = name
        self._text = text
        self._root: Any = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Origin)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"Origin({self.name!r})"

    def line(self, loc: Sequence[str | int]) -> int | None:
        """The line (from 1) of ``loc`` (``("models", 3, "name")``), or of the nearest
        enclosing place the text has; None when there is no text to look in."""
        if self._root is None and self._text is not None:
            self._root = _compose(self._text)
            self._text = None  # composed once
        return _line_at(self._root, loc) if self._root is not None else None

    def at(self, loc: Sequence[str | int]) -> str:
        """``name:line`` of ``loc``, or the name alone when the line is unknown."""
        line = self.line(loc)
        return self.name if line is None else f"{self.name}:{line}"


def parse(text: str, format: Format, name: str) -> Any:
    """The data of a manifest's text; ``ManifestError`` naming the file and the line."""
    if format == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(
                f"{name}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        except ValueError as exc:
            raise ManifestError(f"{name}: not valid JSON: {exc}") from None
    yaml = yaml_module()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 3x faster
    try:
        return _from_events(loader(text))
    except Exception:
        pass
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ManifestError(_yaml_error(exc, name, text)) from None


def yaml_module() -> Any:
    """PyYAML, or ``ManifestError`` saying how to install it."""
    try:
        import yaml
    except ImportError:
        raise ManifestError(
            'YAML manifests need PyYAML (pip install "invokeai-py-client[cli]"); '
            "JSON works without it"
        ) from None
    return yaml


class _Unusual(Exception):
    """A construct the event reader leaves to ``yaml.load``."""


def _from_events(loader: Any) -> Any:
    """One document of plain mappings, sequences and untagged scalars, from events."""
    from yaml.events import (
        DocumentEndEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
        StreamEndEvent,
    )
    from yaml.nodes import ScalarNode

    resolvers = loader.yaml_implicit_resolvers
    anywhere = resolvers.get(None, [])
    constructors = loader.yaml_constructors
    get = loader.get_event
    no_key = object()
    try:
        get(), get()  # stream start, document start (an empty stream raises below)
        stack: list[Any] = []  # open containers
        keys: list[Any] = []  # per open mapping: its pending key, or no_key
        while True:
            event = get()
            kind = event.__class__
            if kind is ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unusual
                value = event.value
                if event.implicit[0]:  # plain: resolved as the SafeLoader resolves it
                    tag = _STR
                    for tag_of, pattern in resolvers.get(value[:1], []) + anywhere:
                        if pattern.match(value):
                            tag = tag_of
                            break
                    if tag != _STR:
                        if tag not in _SCALARS:
                            raise _Unusual  # merge keys, "=", "!", "&", "*"
                        value = constructors[tag](loader, ScalarNode(tag, value))
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unusual
                stack.append({} if kind is MappingStartEvent else [])
                keys.append(no_key)
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                value = stack.pop()
                keys.pop()
            else:
                raise _Unusual  # aliases, an empty document
            if not stack:
                break
            parent = stack[-1]
            if parent.__class__ is list:
                parent.append(value)
            elif keys[-1] is no_key:
                keys[-1] = value
            else:
                parent[keys[-1]] = value  # an unhashable key raises: yaml.load says so
                keys[-1] = no_key
        if get().__class__ is not DocumentEndEvent or get().__class__ is not StreamEndEvent:
            raise _Unusual  # several documents
        return value
    finally:
        loader.dispose()


def _compose(text: str) -> Any:
    """The text's node tree (with marks), or None when it cannot be read (JSON: most is
    YAML too)."""
    try:
        yaml = yaml_module()
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except Exception:
        return None


def _line_at(node: Any, loc: Sequence[str | int]) -> int:
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    line: int = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, MappingNode):
            found = [
                (k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(part)
            ]
            if not found:
                return line
            key, node = found[-1]  # a repeated key: the last one counts, as in yaml.load
            line = key.start_mark.line + 1
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _yaml_error(exc: Exception, name: str, text: str) -> str:
    """``name:line: not valid YAML: problem (context)``, without PyYAML's
    ``in "<unicode string>"``."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None and problem:
        context = getattr(exc, "context", None)
        context_mark = getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line != mark.line:
            context += f" at line {context_mark.line + 1}"
        detail = f"{problem}" + (f" ({context})" if context else "")
        return f"{name}:{mark.line + 1}: not valid YAML: {detail}, column {mark.column + 1}"
    position = getattr(exc, "position", None)  # a ReaderError: a character not allowed
    character = getattr(exc, "character", None)
    if isinstance(position, int) and isinstance(character, int):
        line = text.count("\n", 0, position) + 1
        reason = getattr(exc, "reason", "")
        return f"{name}:{line}: not valid YAML: character #x{character:04x}: {reason}"
    return f"{name}: not valid YAML: {' '.join(str(exc).split())}"
