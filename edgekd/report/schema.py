"""The `report.json` schema (`edgekd.report/1`): what the gate and the pipelines read.

Typed with pydantic so that a report is validated when written and when read back
(`load_report`). Units: latencies in ms, throughput in img/s, accuracies and agreement in
percent, sizes in bytes, FLOPs per image (2 × multiply-accumulates), parameters as counts.
Ratios in `comparisons` are teacher ÷ model (how many times faster/smaller the model is).
The full description with an example is in docs/evaluate-profile-report.md.

Versioning: new optional fields keep `edgekd.report/1`; renaming or removing a field, or
changing a unit, bumps the number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from edgekd.errors import ConfigError
from edgekd.schemas import validated

REPORT_SCHEMA = "edgekd.report/1"
Role = Literal["teacher", "student", "artefact"]
Format = Literal["torch", "onnx", "tensorrt"]
Target = Literal["cpu", "cuda", "tensorrt", "jetson"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Accuracy(_Strict):
    """Accuracy on one split (percent); `eval_path` is relative to report.json's folder."""

    top1: float
    top5: Optional[float] = None
    agreement_with_teacher: Optional[float] = None
    per_class: list[Optional[float]] = Field(default_factory=list)
    split: str
    count: int
    dataset_fingerprint: Optional[str] = None
    backend: Optional[str] = None
    device: Optional[str] = None
    eval_path: Optional[str] = None


class Power(_Strict):
    """Jetson board power over a timed run (jetson-stats)."""

    mean_power_mw: Optional[float] = None
    energy_per_image_mj: Optional[float] = None
    max_temperature_c: Optional[float] = None


class Latency(_Strict):
    """One profiled configuration: host-to-host latency (ms) and throughput (img/s = batch / mean)."""

    backend: str
    device: str
    machine: str
    batch: int
    threads: Optional[int] = None
    p50_ms: float
    p90_ms: float
    p95_ms: Optional[float] = None
    p99_ms: float
    mean_ms: float
    min_ms: Optional[float] = None
    max_ms: Optional[float] = None
    iterations: Optional[int] = None
    throughput_img_s: float
    device_mean_ms: Optional[float] = None
    power: Optional[Power] = None
    profile_path: Optional[str] = None


class ModelEntry(_Strict):
    """One model: the teacher, a student or an exported artefact (keyed by its sha256)."""

    name: str
    role: Role
    format: Format
    precision: str
    target: Target
    path: str
    sha256: str
    arch: Optional[str] = None
    input_size: Optional[int] = None
    params: Optional[int] = None
    flops: Optional[float] = None
    size_bytes: Optional[int] = None
    accuracy: Optional[Accuracy] = None
    latency: list[Latency] = Field(default_factory=list)


class TeacherFacts(_Strict):
    """One teacher of a distilled student: its test top-1 on the student's data (percent); for an
    ensemble member, the test images only the ensemble / only this teacher gets right and the
    exact McNemar p of that split."""

    arch: Optional[str] = None
    top1: Optional[float] = None
    only_ensemble_right: Optional[int] = None
    only_member_right: Optional[int] = None
    mcnemar_p: Optional[float] = None


class UnseenClass(_Strict):
    """A class the student never learnt from (`--drop-classes`): its test top-1 before and
    after the bias adjustment (percent; equal when there was none)."""

    name: str
    top1: Optional[float] = None
    top1_before_bias_adjust: Optional[float] = None


class Distillation(_Strict):
    """What a student was distilled from, as its card (student.json) records it.

    `alone` names the same recipe and seed trained without a teacher (method `none`), when the
    report has it (`edgekd.report.gain`): `gain_vs_alone_pts` is this student's test top-1 minus
    that one's, `gap_closed_pct` that gain as a share of the teacher's lead over the student alone.
    """

    model: str
    method: Optional[str] = None
    teachers: list[TeacherFacts] = Field(default_factory=list)
    ensemble_rule: Optional[str] = None
    ensemble_top1: Optional[float] = None
    student_top1: Optional[float] = None
    unseen_classes: list[UnseenClass] = Field(default_factory=list)
    seed: Optional[int] = None
    alone: Optional[str] = None
    gain_vs_alone_pts: Optional[float] = None
    gap_closed_pct: Optional[float] = None


class SeedGain(_Strict):
    """One distillation recipe over its seeds, each paired with the same seed trained alone
    (`edgekd.report.gain`): mean test top-1 gain ± the std of the same-seed gains, the share of
    the teacher–student gap the mean closes, and the paired rule's verdict (`beats_alone`: mean
    gain above that std over ≥ 3 seeds; None with fewer seeds)."""

    method: Optional[str] = None
    students: list[str]
    seeds: list[Optional[int]]
    student_top1_mean: float
    student_top1_std: float
    alone_top1_mean: float
    gain_mean_pts: float
    gain_std_pts: float
    gap_closed_pct: Optional[float] = None
    beats_alone: Optional[bool] = None


class Speedup(_Strict):
    """Teacher mean latency ÷ model mean latency, same machine, device, batch and thread count."""

    batch: int
    device: str
    machine: str
    threads: Optional[int] = None
    backend: str
    teacher_backend: str
    teacher_mean_ms: float
    model_mean_ms: float
    speedup: float


class Comparison(_Strict):
    """A model against the teacher. Ratios are teacher ÷ model (× faster, × smaller)."""

    model: str
    teacher: str
    top1_delta: Optional[float] = None
    agreement: Optional[float] = None
    speedup: Optional[float] = None
    speedup_batch: Optional[int] = None
    speedups: list[Speedup] = Field(default_factory=list)
    size_ratio: Optional[float] = None
    params_ratio: Optional[float] = None
    flops_ratio: Optional[float] = None


class Int8VsFp32(_Strict):
    """An INT8 artefact against the FP32 student it came from (`edgekd.report.int8`).

    `method`: `ptq` (ONNX Runtime quantized the student it exported) or `qad` (the student QAD
    started from). `reference`: the model whose eval gives `student_top1` (the student, else its
    FP32 ONNX), on the same split and images; `drop_pts` = student − INT8 top-1 (points);
    `agreement`: percent of those images with the same predicted class. Latency (ms) at `batch`,
    like for like with the student's FP32 ONNX; `speedup` = FP32 ÷ INT8 mean latency.
    """

    model: str
    method: Literal["ptq", "qad"]
    precision: str
    target: Target
    student: str
    reference: Optional[str] = None
    top1: Optional[float] = None
    student_top1: Optional[float] = None
    drop_pts: Optional[float] = None
    agreement: Optional[float] = None
    batch: Optional[int] = None
    backend: Optional[str] = None
    threads: Optional[int] = None
    mean_ms: Optional[float] = None
    fp32_mean_ms: Optional[float] = None
    speedup: Optional[float] = None


class ParetoPoint(_Strict):
    model: str
    backend: str
    device: str
    threads: Optional[int] = None
    mean_ms: float
    top1: float
    on_front: bool


class Pareto(_Strict):
    """Accuracy vs mean latency at one batch size; `on_front`: no other point is both faster and more accurate."""

    batch: int
    points: list[ParetoPoint]


class Curve(_Strict):
    """Per-epoch training records (metrics.jsonl) of one training run."""

    name: str
    path: str
    epochs: list[dict[str, Any]]


class SearchPoint(_Strict):
    """One timed candidate of a student search: val top-1 (%) of its longest run (None: not
    distilled, e.g. over budget) against its measured latency (ms)."""

    arch: str
    latency_ms: float
    val_top1: Optional[float] = None
    epochs: Optional[int] = None
    status: Literal["chosen", "baseline", "distilled", "not distilled"]
    on_front: bool = False


class StudentSearch(_Strict):
    """An `edgekd students` search found among the inputs (its students.json, summarised).

    `plot`: its students.svg, relative to the report folder (None: not written there)."""

    source: str
    budget_ms: float
    budget_statistic: str
    chosen: Optional[str] = None
    baseline: Optional[str] = None
    spearman_rho: Optional[float] = None
    search_vs_finalist_run: Optional[float] = None
    plot: Optional[str] = None
    points: list[SearchPoint] = Field(default_factory=list)


class Report(_Strict):
    """The whole report.json."""

    schema_: str = Field(REPORT_SCHEMA, alias="schema")
    created: str
    title: str
    system: dict[str, Any]
    class_names: list[str] = Field(default_factory=list)
    dataset: Optional[dict[str, Any]] = None
    teacher: Optional[str] = None
    reference_batch: Optional[int] = None
    latency_definition: Optional[str] = None
    models: list[ModelEntry]
    comparisons: list[Comparison] = Field(default_factory=list)
    int8_vs_fp32: list[Int8VsFp32] = Field(default_factory=list)
    pareto: Optional[Pareto] = None
    curves: list[Curve] = Field(default_factory=list)
    distillation: list[Distillation] = Field(default_factory=list)
    distillation_over_seeds: list[SeedGain] = Field(default_factory=list)
    student_searches: list[StudentSearch] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    provenance: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def model(self, name: str) -> ModelEntry:
        return next(m for m in self.models if m.name == name)


def load_report(path: str | Path) -> Report:
    """Read and validate a report.json (or the one inside a directory).

    Raises:
        ConfigError: a missing file, invalid JSON, another schema, or a field of the wrong shape
            (named: `report.json: field 'models.0.accuracy.top1': expected a number, got 'abc'`).
    """
    import json

    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise ConfigError(f"report not found: {path}.")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}.") from exc
    schema = payload.get("schema") if isinstance(payload, dict) else None
    if schema != REPORT_SCHEMA:
        raise ConfigError(f"{path} has schema {schema!r}; this edgekd reads {REPORT_SCHEMA}.")
    return validated(Report, payload, path, ConfigError)
