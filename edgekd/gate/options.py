"""How the gate judges (batch, significance, alpha, which artefacts), apart from its thresholds.

Below the checks and the registry: the checks read these options, and `GateThresholds`
(`config.py`) adds one threshold field per registry entry on top of them, so nothing here may
import the registry (or the checks it lists).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GateOptions(BaseModel):
    """How the gate judges, beside the thresholds (`GateThresholds` adds those from `GATE_CHECKS`).

    Attributes:
        batch: the batch size latency checks read.
        significance: judge accuracy drops by their paired confidence bounds, not point estimates.
        significance_mode: how (`edgekd.gate.stats`): `inferiority` (None means this) fails a drop
            only when its lower bound exceeds the threshold; `non-inferiority` passes it only when
            its upper bound is within the threshold. Giving a mode turns `significance` on.
        alpha: one-sided error level of those bounds.
        artefacts: names or roles to check (empty: every deployable artefact).
        allow_foreign_baseline: skip (and say so) latency-vs-baseline checks measured on another machine
            instead of refusing them.
    """

    model_config = ConfigDict(extra="forbid")

    batch: int = Field(1, ge=1)
    significance: bool = False
    significance_mode: Optional[Literal["inferiority", "non-inferiority"]] = None
    alpha: float = Field(0.05, gt=0, lt=0.5)
    artefacts: list[str] = Field(default_factory=list)
    allow_foreign_baseline: bool = False

    @model_validator(mode="before")
    @classmethod
    def _mode_implies_significance(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("significance_mode") is not None and "significance" not in values:
            values = {**values, "significance": True}
        return values

    @model_validator(mode="after")
    def _mode_needs_significance(self) -> "GateOptions":
        if self.significance_mode is not None and not self.significance:
            raise ValueError(
                f"significance_mode {self.significance_mode!r} judges drops by their confidence bounds, "
                "and significance is off (--point-estimates); drop one of the two"
            )
        return self

    def judgement(self) -> str:
        """How accuracy drops are judged: `point`, `inferiority` or `non-inferiority`."""
        if not self.significance:
            return "point"
        return self.significance_mode or "inferiority"

    def threshold(self, field: str) -> float:
        """The value of a threshold that is set (the fields are `GateThresholds`', one per registry entry)."""
        return float(getattr(self, field))
