"""Pipeline section fields derived from declared options (`edgekd.options`): type, default, range.

A config's options become the keys of its section (`data:` from `DataConfig`, the training keys
from `TrainConfig`), a method's options the keys of `distill:` and of its `methods:` entries.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from edgekd.options import Option, defaults_of, options_of


def option_type(option: Option) -> Any:
    """The option's type, its choices as a `Literal`."""
    return Literal[option.choices] if option.choices else option.type  # type: ignore[valid-type]


def config_fields(group: Any, exclude: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    """A `create_model` field per option of a config instance (its values as defaults) or class,
    but those named in `exclude`."""
    defaults = defaults_of(group)
    return {
        o.name: (
            option_type(o) if defaults[o.name] is not None else Optional[option_type(o)],
            Field(defaults[o.name], **o.bounds()),
        )
        for o in options_of(group)
        if o.name not in exclude
    }


def method_option_field(declarations: list[Option]) -> tuple[Any, Any]:
    """An optional field for a method option; a bound is kept only where every method declaring
    the name has it (`alpha` is ≤ 1 for KD, not for DKD)."""
    first = declarations[0]
    bounds = {k: v for k, v in first.bounds().items() if all(d.bounds().get(k) == v for d in declarations)}
    return Optional[option_type(first)], Field(None, **bounds)


def override_field(group: Any, key: str) -> Any:
    """A field that sets an option again in a nested entry (`methods: [{method: kd, lr: …}]`):
    unset by default, with the option's range."""
    [declared] = [o for o in options_of(group) if o.name == key]
    return Field(None, **declared.bounds())
