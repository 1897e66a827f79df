"""Every gate check, declared once: its threshold (name, range, unit, help) and the function that checks it.

`GateThresholds`' threshold fields, the `edgekd gate` flags (`--` + the field with `-` for `_`)
and a pipeline's `gate:` keys are all derived from `GATE_CHECKS`. Adding a check is one entry
here and its function in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pydantic import Field

from edgekd.gate import accuracy, latency
from edgekd.gate.context import GateContext
from edgekd.gate.gain import check_gain_vs_alone
from edgekd.gate.int8 import check_int8_drop_vs_student
from edgekd.gate.rows import CheckRow
from edgekd.gate.size import check_size


@dataclass(frozen=True)
class GateCheck:
    """One threshold of the gate and how it is checked.

    Attributes:
        field: the `GateThresholds` field and pipeline `gate:` key; the flag is `--` + it with `-`.
        help: the flag's help (and the docs' description), without the unit.
        unit: what the threshold is measured in, e.g. "points", "%", "ms".
        bound: "max" (the measured value must not exceed it) or "min".
        range: pydantic bounds on the threshold, e.g. {"ge": 0, "le": 100}.
        check: turns the threshold into rows, one per artefact (× backend/device/batch).
    """

    field: str
    help: str
    unit: str
    bound: str
    range: dict[str, float]
    check: Callable[[GateContext], list[CheckRow]]

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")

    def pydantic_field(self) -> Any:
        bounds: dict[str, Any] = dict(self.range)
        return Field(None, description=f"{self.help} ({self.unit})", **bounds)


# In the order gate.md lists them. A threshold left at None is not checked.
GATE_CHECKS: tuple[GateCheck, ...] = (
    GateCheck(
        "max_drop_vs_teacher",
        "Max top-1 drop below the teacher",
        "points",
        "max",
        {"ge": 0},
        accuracy.check_drop_vs_teacher,
    ),
    GateCheck(
        "max_drop_vs_baseline",
        "Max top-1 drop below the baseline's same artefact",
        "points",
        "max",
        {"ge": 0},
        accuracy.check_drop_vs_baseline,
    ),
    GateCheck(
        "max_int8_drop_vs_student",
        "Max top-1 drop of an INT8 artefact below the FP32 student it was quantized from (PTQ) or trained from (QAD)",
        "points",
        "max",
        {"ge": 0},
        check_int8_drop_vs_student,
    ),
    GateCheck(
        "max_class_drop",
        "Max drop of any one class's accuracy below the teacher's",
        "points",
        "max",
        {"ge": 0},
        accuracy.check_class_drop,
    ),
    GateCheck(
        "min_agreement",
        "Min agreement with the teacher's predictions",
        "%",
        "min",
        {"ge": 0, "le": 100},
        accuracy.check_agreement,
    ),
    GateCheck("max_p99_ms", "Max p99 latency at --batch", "ms", "max", {"gt": 0}, latency.check_p99),
    GateCheck(
        "max_p99_increase_vs_baseline",
        "Max p99 latency increase over the baseline, same machine only",
        "%",
        "max",
        {"ge": 0},
        latency.check_p99_vs_baseline,
    ),
    GateCheck(
        "min_speedup",
        "Min speed-up over the teacher at --batch (teacher mean / artefact mean latency, same device and machine)",
        "×",
        "min",
        {"gt": 0},
        latency.check_speedup,
    ),
    GateCheck("max_size_mb", "Max artefact file size", "MB, 10^6 bytes", "max", {"gt": 0}, check_size),
    GateCheck(
        "min_gain_vs_alone",
        "Min top-1 gain of each distilled student over the same recipe and seed trained alone (method none), "
        "paired on the test images",
        "points",
        "min",
        {},
        check_gain_vs_alone,
    ),
)

BY_FIELD: dict[str, GateCheck] = {check.field: check for check in GATE_CHECKS}
THRESHOLD_FIELDS: tuple[str, ...] = tuple(BY_FIELD)
