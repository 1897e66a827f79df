"""Reading a pipeline YAML while remembering the line of every key, so errors can point at it.

PyYAML's composer keeps a start mark on every node; `load_with_lines` builds plain Python
values from the node tree and, beside them, a map from each key path (`("distill", "seeds",
1)`) to its 1-based line. Duplicate keys are refused (PyYAML would silently keep the last).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edgekd.errors import ConfigError

KeyPath = tuple[Any, ...]


def _build(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or not key_node.value:
                raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: a key must be a plain word.")
            key = key_node.value  # as written: YAML 1.1 would turn a key like `on` into True
            if key in result:
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: '{'.'.join(map(str, (*path, key)))}' is given twice."
                )
            result[key] = _build(value_node, (*path, key), lines, source)
            lines[path + (key,)] = key_node.start_mark.line + 1  # point at the key, not its value's first line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, index), lines, source) for index, item in enumerate(node.value)]
    return _scalar(node)


_CONSTRUCTOR = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    """A scalar's Python value under YAML's safe rules (ints, floats, bools, null, strings)."""
    return _CONSTRUCTOR.construct_object(node, deep=True)


def load_with_lines(path: str | Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse `path`; returns (data, {key path: line}).

    Raises:
        ConfigError: missing file, YAML syntax error (with its line) or a duplicate key.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"pipeline file not found: {path}.")
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {exc.problem or exc.context}.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}.") from exc
    if root is None:
        raise ConfigError(f"{path} is empty.")
    lines: dict[KeyPath, int] = {}
    try:
        data = _build(root, (), lines, str(path))
    except yaml.constructor.ConstructorError as exc:
        raise ConfigError(f"{path}:{exc.problem_mark.line + 1 if exc.problem_mark else '?'}: {exc.problem}.") from exc
    return data, lines


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its closest ancestor that has one."""
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
