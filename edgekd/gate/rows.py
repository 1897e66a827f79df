"""A gate verdict row and how its figures read: shared by the checks, gate.md, JUnit XML and the CLI table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class CheckRow:
    """One verdict.

    Attributes:
        check: the threshold's name (a `GateThresholds` field).
        label: what a person reads, e.g. "top-1 drop vs teacher".
        measured: the measured value in `unit` (None when skipped).
        threshold: the limit in `unit`; `bound` says whether it is a max or a min.
        status: pass | fail | skip.
        detail: why (paired statistics, the class that dropped most, the skip reason, …).
        waived: skipped because the user asked (`--allow-foreign-baseline`), not for lack of data.
    """

    check: str
    label: str
    artefact: str
    backend: str
    device: str
    batch: int | None
    measured: float | None
    threshold: float
    unit: str
    bound: str
    status: str
    detail: str = ""
    waived: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def format_measured(row: CheckRow) -> str:
    """The measured value with its unit ("-" when skipped)."""
    if row.measured is None:
        return "-"
    return f"{row.measured:.2f} {row.unit}" if row.unit != "×" else f"{row.measured:.2f}×"


def format_threshold(row: CheckRow) -> str:
    """ "≤ 2.00 pts" or "≥ 3.00×"."""
    sign = "≤" if row.bound == "max" else "≥"
    value = f"{row.threshold:.2f}×" if row.unit == "×" else f"{row.threshold:.2f} {row.unit}"
    return f"{sign} {value}"
