"""The `students.json` schema (`edgekd.students/1`), validated when written and when read back.

Units: latencies in ms (each `latency` entry holds `edgekd profile`'s statistics for one
precision at the budget's batch), accuracies in percent, FLOPs as MFLOPs per image
(2 × multiply-accumulates), parameters as counts, wall times in s.

Versioning: new optional fields keep `edgekd.students/1`; renaming or removing a field, or
changing a unit, bumps the number.

`cost`: wall seconds per phase of this run of the search: `teacher_budget` (exporting and
timing the teacher for `budget_vs_teacher`; ~0 otherwise), `export`, `timing`, `rung_0`, …,
`finalist` and `baseline` (when asked for); a reused run or export counts the time to reuse it.

`wall_time_s`: the whole command; `search_wall_time_s`: up to the end of the finalist's full run
(the baseline is a comparison, not search cost, even when it is shipped because its full run
beat the finalist's on val); `finalist_run_wall_time_s`: that one run's own
wall time; `search_vs_finalist_run`: the first over the second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgekd.errors import ConfigError

STUDENTS_SCHEMA: Final = "edgekd.students/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rung(_Strict):
    """One distill run of a candidate: its rung (an index, or `baseline`) and its figures."""

    rung: Union[int, Literal["baseline"]]
    epochs: int
    run: str
    reused: bool
    val_top1: Optional[float]
    test_top1: Optional[float]
    wall_time_s: Optional[float]
    train_img_per_s: Optional[float]
    teacher_online_batches: Optional[int]
    teacher_cached_batches: Optional[int]
    teacher_cache_entry: Optional[str] = None


class CandidateEntry(_Strict):
    arch: str
    params: Optional[int]
    mflops: Optional[float]
    reparameterized: bool
    onnx: dict[str, str]
    dropped: Optional[str]
    latency: dict[str, dict[str, Any]]
    latency_ms: Optional[float]
    precision: Optional[str]
    rungs: list[Rung]
    decision: str
    int8: Optional[str] = None  # with --int8: why its INT8 model was not timed


class Budget(_Strict):
    """ms: the budget; vs_teacher: the fraction of the teacher's latency it was set from (or None)."""

    ms: float
    batch: int
    percentile: str
    target: str
    vs_teacher: Optional[float] = None


class FlopsVsLatency(_Strict):
    candidates: int
    spearman_rho: Optional[float]
    p_value: Optional[float]
    top5_by_flops: list[str]
    top5_by_latency: list[str]


class Chosen(_Strict):
    arch: str
    run_dir: str
    latency_ms: float
    precision: str
    val_top1: Optional[float]
    test_top1: Optional[float]


class Baseline(_Strict):
    arch: str
    latency_ms: Optional[float]
    val_top1: Optional[float]
    test_top1: Optional[float]


class TeacherForward(_Strict):
    """How often the teacher ran (see `edgekd.students.runs.teacher_passes`)."""

    views_computed: int
    training_views_computed: int
    eval_views_computed: int
    distinct_views: int
    runs: int
    training_batches: int
    batches_per_epoch: Optional[int]
    cache: str


class StudentsFile(_Strict):
    schema_: Literal["edgekd.students/1"] = Field(STUDENTS_SCHEMA, alias="schema")
    config: dict[str, Any]
    img_size: int
    budget: Budget
    data: dict[str, Any]
    candidates: list[CandidateEntry]
    flops_vs_latency: FlopsVsLatency
    machine: dict[str, Any]
    chosen: Optional[Chosen]
    baseline: Optional[Baseline] = None
    teacher_forward: Optional[TeacherForward] = None
    teacher_latency: Optional[dict[str, Any]] = None
    wall_time_s: float
    search_wall_time_s: Optional[float] = None
    cost: Optional[dict[str, float]] = None
    distill_wall_time_s: Optional[float] = None
    finalist_run_wall_time_s: Optional[float] = None
    search_vs_finalist_run: Optional[float] = None
    provenance: dict[str, Any]

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @classmethod
    def from_payload(cls, payload: dict[str, Any], source: str) -> "StudentsFile":
        """Validate a payload; a bad field is named in one line."""
        if not isinstance(payload, dict) or payload.get("schema") != STUDENTS_SCHEMA:
            raise ConfigError(
                f"{source} has schema {payload.get('schema') if isinstance(payload, dict) else None!r}; this "
                f"edgekd reads {STUDENTS_SCHEMA}."
            )
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"{source}: field {'.'.join(map(str, first['loc']))}: {first['msg']}.") from exc


def load_students(path: str | Path) -> StudentsFile:
    """Read and validate a students.json (or the one inside a search folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "students.json"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}.") from exc
    return StudentsFile.from_payload(payload, str(path))
