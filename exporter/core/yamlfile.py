"""Read a YAML config file into typed, frozen objects, with errors that name file, line and field.

PyYAML's composer keeps the position of every node; we record it per path so that a
problem found later (by msgspec's type check or by a cross-file rule) can still point at
the line a user has to edit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from exporter.core.errors import ConfigError, ConfigIssue

T = TypeVar("T")
PathT = tuple[str | int, ...]

_MSGSPEC_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_PATH_TOKEN = re.compile(r"\.(?P<name>[A-Za-z0-9_\-]+)|\[(?P<index>\d+)\]|\[\.\.\.\]")


def dotted(path: PathT) -> str:
    """``("plans", "free", "limits", 0)`` -> ``plans.free.limits[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(slots=True)
class YamlDoc:
    """A parsed YAML document plus the line of every key and value in it."""

    file: str
    data: Any
    lines: dict[PathT, int] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)

    def line(self, path: PathT) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None

    def issue(self, path: PathT, message: str) -> ConfigIssue:
        found = ConfigIssue(self.file, self.line(path), dotted(path), message)
        self.issues.append(found)
        return found

    def convert(self, value: Any, type_: type[T], path: PathT) -> T | None:
        """msgspec-validate ``value`` (found at ``path``) as ``type_``; record an issue on failure."""
        try:
            return msgspec.convert(value, type_, strict=True)
        except msgspec.ValidationError as e:
            message, sub = _split_msgspec_error(str(e))
            self.issue(path + sub, message)
            return None

    def mapping_items(self, path: PathT) -> Iterator[tuple[str, Any, PathT]]:
        """Iterate a mapping found at ``path``, yielding (key, value, value_path)."""
        node = self.get(path)
        if node is None:
            return
        if not isinstance(node, dict):
            self.issue(path, f"expected a mapping, got {_kind(node)}")
            return
        for key, value in node.items():
            if not isinstance(key, str):
                self.issue(path, f"key {key!r} must be a string")
                continue
            yield key, value, (*path, key)

    def get(self, path: PathT) -> Any:
        node: Any = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node


def load_yaml(path: Path, *, display_name: str | None = None) -> YamlDoc:
    """Parse ``path``; syntax errors raise, duplicate keys become issues on the returned doc."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError([ConfigIssue(name, None, "", "file not found")]) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([ConfigIssue(name, None, "", f"cannot read file: {e}")]) from e
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else {}
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise ConfigError([ConfigIssue(name, line, "", f"invalid YAML: {e.problem}")]) from e
    except yaml.YAMLError as e:
        raise ConfigError([ConfigIssue(name, None, "", f"invalid YAML: {e}")]) from e
    finally:
        loader.dispose()
    doc = YamlDoc(name, data if data is not None else {})
    if root is not None:
        _index(root, (), doc)
    return doc


def _index(node: yaml.Node, path: PathT, doc: YamlDoc) -> None:
    """Record the line of every node under ``path`` and flag duplicate keys."""
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                doc.issue(path, "complex mapping keys are not allowed")
                continue
            key = key_node.value
            child = (*path, key)
            doc.lines[child] = key_node.start_mark.line + 1
            if key in seen:
                doc.issues.append(
                    ConfigIssue(doc.file, key_node.start_mark.line + 1, dotted(child), "duplicate key")
                )
            seen.add(key)
            _index(value_node, child, doc)
            doc.lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), doc)


def _split_msgspec_error(text: str) -> tuple[str, PathT]:
    match = _MSGSPEC_AT.match(text)
    if match is None:  # pragma: no cover - the regex matches any string
        return text, ()
    sub: list[str | int] = []
    for token in _PATH_TOKEN.finditer(match.group("path") or ""):
        if token.group("name") is not None:
            sub.append(token.group("name"))
        elif token.group("index") is not None:
            sub.append(int(token.group("index")))
    message = match.group("msg")
    unknown = re.match(r"Object contains unknown field `(?P<f>[^`]+)`", message)
    if unknown:
        sub.append(unknown.group("f"))
        message = "unknown field (check the spelling)"
    missing = re.match(r"Object missing required field `(?P<f>[^`]+)`", message)
    if missing:
        sub.append(missing.group("f"))
        message = "required field is missing"
    return message, tuple(sub)


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def raise_if_issues(*docs: YamlDoc) -> None:
    issues = [issue for doc in docs for issue in doc.issues]
    if issues:
        raise ConfigError(issues)
