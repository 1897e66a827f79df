"""The gate's thresholds (one typed model shared by `edgekd gate` flags and a pipeline's `gate:` section)
and `GateConfig`, what one gate run judges."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from pydantic import ValidationError, create_model

from edgekd.errors import ConfigError
from edgekd.gate.options import GateOptions
from edgekd.gate.registry import GATE_CHECKS, THRESHOLD_FIELDS


class _GateOptions(GateOptions):
    """`GateOptions` with what needs the registry: the set thresholds, and merging overrides."""

    def active(self) -> list[str]:
        """The thresholds that are set."""
        return [name for name in THRESHOLD_FIELDS if getattr(self, name) is not None]

    def merged(self, overrides: dict[str, Any]) -> "GateThresholds":
        """A copy with the non-None values of `overrides` (e.g. CLI flags over a pipeline's section)."""
        values = self.model_dump()
        values.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("significance") is False and overrides.get("significance_mode") is None:
            values["significance_mode"] = None  # --point-estimates over a section's mode turns both off
        try:
            return GateThresholds.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            if not error["loc"]:  # a rule across fields: its message says which
                raise ConfigError(f"gate options: {error['msg'].removeprefix('Value error, ')}.") from None
            flag = "--" + str(error["loc"][0]).replace("_", "-")
            raise ConfigError(f"{flag}: {error['msg']} (got {error.get('input')!r}).") from None


if TYPE_CHECKING:

    class GateThresholds(_GateOptions):
        """What mypy sees: the threshold fields (`float | None`) are created from `GATE_CHECKS` at import."""

        def __getattr__(self, name: str) -> Optional[float]: ...

else:
    GateThresholds = create_model(
        "GateThresholds",
        __base__=_GateOptions,
        __module__=__name__,
        __doc__="What a release must satisfy: one optional threshold per `GATE_CHECKS` entry (unset: not checked), "
        "and how they are judged (`_GateOptions`).",
        **{check.field: (Optional[float], check.pydantic_field()) for check in GATE_CHECKS},
    )


@dataclass(frozen=True)
class GateConfig:
    """Options of the gate stage.

    Attributes:
        report: report.json (or a folder holding one) to judge.
        thresholds: what the release must satisfy.
        baseline: an earlier report.json for the vs-baseline checks (None: none).
    """

    report: Path
    thresholds: GateThresholds
    baseline: Path | None = None

    def validate(self) -> GateConfig:
        """Refuse a gate with nothing to check; returns self."""
        if not self.thresholds.active():
            flags = ", ".join(check.flag for check in GATE_CHECKS)
            raise ConfigError(f"no threshold set: give at least one of {flags} (or a pipeline's gate: section).")
        return self
