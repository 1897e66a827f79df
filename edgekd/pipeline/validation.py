"""A YAML file checked against a pydantic model; its first problem as `FILE:LINE: which key, what is wrong`."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError

from edgekd.errors import ConfigError
from edgekd.pipeline.yamlfile import KeyPath, line_of, load_with_lines

ModelT = TypeVar("ModelT", bound=BaseModel)


def validate_file(path: Path, root: type[ModelT], tagged: Mapping[str, Any]) -> tuple[ModelT, dict]:
    """The model of a YAML mapping file, and the line of every key (see `describe_error` for `tagged`).

    Raises:
        ConfigError: one line, `FILE:LINE: what is wrong with which key`.
    """
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a pipeline is a mapping of sections (name:, data:, teacher:, …), not a {type(data).__name__}."
        )
    try:
        model = root.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        loc, message = describe_error(errors[0], root, tagged)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        line = line_of(lines, loc)
        raise ConfigError(f"{path}:{line}: {message}{more}" if line else f"{path}: {message}{more}") from exc
    return model, lines


def describe_error(error: Mapping[str, Any], root: type[BaseModel], tagged: Mapping[str, Any]) -> tuple[KeyPath, str]:
    """The key path (as the file spells it) and one-line message of a `ValidationError.errors()` item.
    `tagged`: the models of a discriminated union by tag (`methods[i]` by method name), a tag
    pydantic puts into the location that the file has no key for."""
    raw = tuple(error["loc"])
    loc = tuple(part for index, part in enumerate(raw) if not _is_union_tag(raw, index, tagged))
    key = ".".join(f"[{p}]" if isinstance(p, int) else p for p in loc).replace(".[", "[") or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(raw, root, tagged)
        # The keys a user writes: a field's alias where it has one (`from`, not `from_run`).
        known = sorted(field.alias or name for name, field in model.model_fields.items()) if model is not None else []
        known = [k for k in known if k != "source"]
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return loc, f"unknown key '{key}'.{hint} Known keys here: {', '.join(known)}."
    if kind == "missing":
        return loc, f"'{key}' is required."
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    shown = "" if isinstance(value, (dict, list)) or kind == "value_error" else f" (got {value!r})"
    return loc, f"'{key}': {message}{shown}." if loc else f"{message}."


def _model_at(path: KeyPath, root: type[BaseModel], tagged: Mapping[str, Any]) -> type[BaseModel] | None:
    """The model class that holds the key at `path` (to list its known keys)."""
    current: Any = root
    for index, part in enumerate(path[:-1]):
        if isinstance(part, int):
            continue
        if _is_union_tag(path, index, tagged):
            current = tagged[part]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _inner_model(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside Optional[...], list[...] or Union[...] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _is_union_tag(loc: KeyPath, index: int, tagged: Mapping[str, Any]) -> bool:
    """Whether `loc[index]` is the tag pydantic adds after `methods[i]` (the method name)."""
    return index >= 2 and loc[index - 2] == "methods" and isinstance(loc[index - 1], int) and loc[index] in tagged
