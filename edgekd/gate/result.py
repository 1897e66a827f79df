"""The gate's verdict: its rows, counts and the gate.json payload (rendered by `markdown` and `junit`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekd.artifacts import provenance
from edgekd.gate.config import GateThresholds
from edgekd.gate.inputs import GateReport
from edgekd.gate.rows import FAIL, PASS, SKIP, CheckRow

GATE_SCHEMA = "edgekd.gate/1"


@dataclass
class GateResult:
    """The gate's verdict.

    Attributes:
        rows: one per artefact × check (× backend/device/batch for latency checks).
        passed: no row failed.
    """

    report: GateReport
    baseline: GateReport | None
    thresholds: GateThresholds
    rows: list[CheckRow]

    @property
    def passed(self) -> bool:
        return all(row.status != FAIL for row in self.rows)

    def counts(self) -> dict[str, int]:
        return {status: sum(row.status == status for row in self.rows) for status in (PASS, FAIL, SKIP)}

    def failures(self) -> list[CheckRow]:
        return [row for row in self.rows if row.status == FAIL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": GATE_SCHEMA,
            "passed": self.passed,
            "counts": self.counts(),
            "report": str(self.report.path),
            "baseline": str(self.baseline.path) if self.baseline else None,
            "thresholds": self.thresholds.model_dump(),
            "rows": [row.to_dict() for row in self.rows],
            "provenance": provenance(self.thresholds.model_dump()),
        }
