"""A method's options, declared once on its class (`DistillMethod.options`).

Everything else is derived from these declarations: the `edgekd distill` flags (`--beta`),
the pipeline's `distill:` / `methods:` keys (`beta:`), validation, and the settings a run
records. Several methods may declare an option of the same name (`alpha` is KD's soft-term
weight and DKD's TCKD weight): one flag serves them all, each method keeps its own default,
range and meaning, and the flag's help lists them per method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekd.errors import ConfigError


@dataclass(frozen=True)
class MethodOption:
    """One setting of a method.

    Attributes:
        name: field name (`hint_layer`): flag `--hint-layer`, pipeline key `hint_layer`, the
            keyword argument of the method's `__init__` and the attribute it is kept in.
        type: float, int or str.
        default: the method's default; None where the method decides itself (e.g. a layer
            paired automatically).
        help: one line for `--help` and the docs (the default is appended there).
        choices: the allowed values (str options).
        ge, gt, le, lt: bounds of a numeric option.
        short: an extra short flag (`-T`).
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

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def bounds(self) -> dict[str, float]:
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

    def check(self, value: Any, method: str) -> Any:
        """`value` converted to the option's type, or ConfigError saying what is allowed."""
        if value is None:
            return None
        where = f"{self.flag} (--method {method})"
        try:
            if self.type is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = float(value)
            elif not isinstance(value, self.type) or isinstance(value, bool):
                raise TypeError
        except TypeError as exc:
            raise ConfigError(f"{where} takes a {self.type.__name__}, got {value!r}.") from exc
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"unknown {self.flag} '{value}': use {' or '.join(map(str, self.choices))}.")
        below = (self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
        above = (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt)
        if below or above:
            raise ConfigError(f"{where} must be {self.range_text()}, got {value:g}.")
        return value
