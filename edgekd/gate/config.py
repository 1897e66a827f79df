"""The gate's thresholds: one typed model shared by `edgekd gate` flags and a pipeline's `gate:` section."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgekd.errors import ConfigError

# A threshold left at None is not checked.
THRESHOLD_FIELDS = (
    "max_drop_vs_teacher",
    "max_drop_vs_baseline",
    "max_class_drop",
    "min_agreement",
    "max_p99_ms",
    "max_p99_increase_vs_baseline",
    "min_speedup",
    "max_size_mb",
)


class GateThresholds(BaseModel):
    """What a release must satisfy. Every field is optional; an unset threshold is not checked.

    Attributes:
        max_drop_vs_teacher: max top-1 drop of an artefact below the teacher, percentage points.
        max_drop_vs_baseline: max top-1 drop below the same artefact in the baseline report (points).
        max_class_drop: max drop of any single class's accuracy below the teacher's (points).
        min_agreement: min share of test samples where the artefact predicts the teacher's class (%).
        max_p99_ms: max p99 latency at `batch`, ms (every backend/device the artefact was profiled on).
        max_p99_increase_vs_baseline: max p99 latency increase over the baseline's, % (same
            machine fingerprint only).
        min_speedup: min speed-up over the teacher at `batch` (teacher mean / artefact mean latency,
            same device and machine, the teacher at its fastest backend — as the report computes it).
        max_size_mb: max artefact file size, MB (10^6 bytes).
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

    max_drop_vs_teacher: Optional[float] = Field(None, ge=0)
    max_drop_vs_baseline: Optional[float] = Field(None, ge=0)
    max_class_drop: Optional[float] = Field(None, ge=0)
    min_agreement: Optional[float] = Field(None, ge=0, le=100)
    max_p99_ms: Optional[float] = Field(None, gt=0)
    max_p99_increase_vs_baseline: Optional[float] = Field(None, ge=0)
    min_speedup: Optional[float] = Field(None, gt=0)
    max_size_mb: Optional[float] = Field(None, gt=0)
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
    def _mode_needs_significance(self) -> "GateThresholds":
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

    def active(self) -> list[str]:
        """The thresholds that are set."""
        return [name for name in THRESHOLD_FIELDS if getattr(self, name) is not None]

    def merged(self, overrides: dict) -> "GateThresholds":
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
