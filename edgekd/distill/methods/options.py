"""A method's options, declared once on its class (`DistillMethod.options`).

Everything else is derived from these declarations: the `edgekd distill` flags (`--beta`),
the pipeline's `distill:` / `methods:` keys (`beta:`), validation, and the settings a run
records. Several methods may declare an option of the same name (`alpha` is KD's soft-term
weight and DKD's TCKD weight): one flag serves them all, each method keeps its own default,
range and meaning, and the flag's help lists them per method. A method option is an
`edgekd.options.Option` (as the config dataclasses' fields declare) whose errors name the method.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.options import Option


@dataclass(frozen=True)
class MethodOption(Option):
    """One setting of a method (see `Option`): `name` is also the keyword argument of the
    method's `__init__` and the attribute it is kept in; `default` None where the method
    decides itself (e.g. a layer paired automatically)."""

    def where(self, context: str | None) -> str:
        return f"{self.flag} (--method {context})"
