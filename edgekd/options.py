"""Options declared once: the settings a person gives as a CLI flag or a pipeline key.

An `Option` holds what the CLI, the pipeline and validation need (name, type, default, help,
choices, range). A distillation method declares its options on its class; a config dataclass
on its fields, `epochs: int = option(10, "Training epochs.", ge=1)`. The flags
(`edgekd.cli.options.with_config_options`), the pipeline keys (`edgekd.pipeline.fields`), the
one converter from flat keys to the nested config (`with_values`) and the one validation
(`check_options`) are derived from these declarations.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from edgekd.errors import ConfigError

OPTION = "edgekd.option"  # the key of a field's metadata that holds its declaration
NESTED = "edgekd.nested"  # marks a field whose config's options are its parent's too
ConfigT = TypeVar("ConfigT")


@dataclass(frozen=True)
class Option:
    """One setting.

    Attributes:
        name: the key (`hint_layer`): flag `--hint-layer`, pipeline key `hint_layer`.
        type: float, int, str or bool (of a value that is given: `None` may mean "unset").
        default: the default; None where the code decides itself.
        help: one line for `--help` and the docs.
        choices: the allowed values.
        ge, gt, le, lt: bounds of a numeric option.
        short: an extra short flag (`-T`).
        long: the flag where it is not `--` + the key (`--data` for the dataset `spec`).
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    short: str | None = None
    long: str | None = None

    @property
    def flag(self) -> str:
        return self.long or "--" + self.name.replace("_", "-")

    def where(self, context: str | None) -> str:
        """How an error names the option (a method option adds its method)."""
        return self.flag

    def bounds(self) -> dict[str, Any]:
        """The numeric bounds that are set, as pydantic `Field` keywords."""
        return {k: v for k, v in (("ge", self.ge), ("gt", self.gt), ("le", self.le), ("lt", self.lt)) if v is not None}

    def range_text(self) -> str:
        """`in [0, 1]`, `> 0`, `one of kl, kl-std`, or '' (for messages and help)."""
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        low = f"[{self.ge:g}" if self.ge is not None else (f"({self.gt:g}" if self.gt is not None else None)
        high = f"{self.le:g}]" if self.le is not None else (f"{self.lt:g})" if self.lt is not None else None)
        if low and high:
            return f"in {low}, {high}"
        if low:
            return f">= {self.ge:g}" if self.ge is not None else f"> {self.gt:g}"
        if high:
            return f"<= {self.le:g}" if self.le is not None else f"< {self.lt:g}"
        return ""

    def check(self, value: Any, context: str | None = None) -> Any:
        """`value` converted to the option's type, or ConfigError saying what is allowed."""
        if value is None:
            return None
        where = self.where(context)
        try:
            if self.type is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = float(value)
            elif not isinstance(value, self.type) or (isinstance(value, bool) and self.type is not bool):
                raise TypeError
        except TypeError as exc:
            raise ConfigError(f"{where} takes a {self.type.__name__}, got {value!r}.") from exc
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"unknown {self.flag} '{value}': use {_either(self.choices)}.")
        below = (self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
        above = (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt)
        if below or above:
            raise ConfigError(f"{where} must be {self.range_text()}, got {value:g}.")
        return value


def _either(choices: tuple[Any, ...]) -> str:
    """`a or b`, `a, b or c`."""
    names = [str(c) for c in choices]
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def option(default: Any, help: str, *, key: str | None = None, **declaration: Any) -> Any:
    """A config dataclass field that is also a CLI flag and a pipeline key: its default, help,
    and `Option`'s other attributes (`choices`, `ge`…, `long`); `key` where the flag and key
    are not the field's name (`OptimConfig.name` is `--opt`)."""
    return field(default=default, metadata={OPTION: Option(key or "", object, default, help, **declaration)})


def option_of(config: type, name: str) -> Any:
    """A field declaring the same option as `config`'s field `name` (`DistillConfig.img_size` is
    `TeacherConfig.img_size`): one declaration shared by two configs."""
    [item] = [f for f in fields(config) if f.name == name]
    return field(default=item.default, metadata=item.metadata)


def nested(factory: Any) -> Any:
    """A config dataclass field whose options the parent offers as its own (`TrainConfig`'s
    `--lr` is its `optim`'s); other config fields (a stage's `data`) stay separate groups."""
    return field(default_factory=factory, metadata={NESTED: True})


def declared_options(cls: type) -> dict[str, tuple[tuple[str, ...], Option]]:
    """Every option `cls` declares, by key → (attribute path, declaration), nested configs included."""
    hints = typing.get_type_hints(cls)
    found: dict[str, tuple[tuple[str, ...], Option]] = {}
    for item in fields(cls):
        kind = hints[item.name]
        declared = item.metadata.get(OPTION)
        if item.metadata.get(NESTED):
            found.update({key: ((item.name, *path), o) for key, (path, o) in declared_options(kind).items()})
        elif declared is not None:
            key = declared.name or item.name
            found[key] = ((item.name,), replace(declared, name=key, type=_given_type(kind), default=item.default))
    return found


def _given_type(annotation: Any) -> type:
    """`int` of `int | None`, `str` of `str`."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def options_of(group: Any) -> list[Option]:
    """The declared options of a config class (or of an instance's class), in declaration order."""
    return [o for _, o in declared_options(group if isinstance(group, type) else type(group)).values()]


def defaults_of(group: Any) -> dict[str, Any]:
    """`{key: default}` of a group of options: a config instance's values, or a class's declared defaults."""
    return {o.name: o.default for o in options_of(group)} if isinstance(group, type) else values_of(group)


def values_of(config: Any) -> dict[str, Any]:
    """The flat `{key: value}` of `config`'s declared options."""
    return {key: functools.reduce(getattr, path, config) for key, (path, _) in declared_options(type(config)).items()}


def with_values(config: ConfigT, values: Mapping[str, Any]) -> ConfigT:
    """`config` with the options named in `values` (by key) set; the one converter from flat to nested."""
    declared = declared_options(type(config))
    changes: dict[str, Any] = {}
    inner: dict[str, dict[str, Any]] = {}  # by nested field: its options' values
    for key, value in values.items():
        path, _ = declared[key]
        if len(path) == 1:
            changes[path[0]] = value
        else:
            inner.setdefault(path[0], {})[key] = value
    changes.update({name: with_values(getattr(config, name), given) for name, given in inner.items()})
    return replace(config, **changes)  # type: ignore[type-var]


def check_options(config: Any) -> None:
    """Refuse a value outside its option's type, choices or range, naming its flag."""
    values = values_of(config)
    for key, (_, declared) in declared_options(type(config)).items():
        declared.check(values[key])
