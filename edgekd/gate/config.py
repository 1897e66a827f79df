"""The gate's thresholds: one typed model shared by `edgekd gate` flags and a pipeline's `gate:` section."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from edgekd.errors import ConfigError
from edgekd.gate.registry import GATE_CHECKS, THRESHOLD_FIELDS


class _GateOptions(BaseModel):
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
    def _mode_needs_significance(self) -> "_GateOptions":
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
