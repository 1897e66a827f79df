"""Reading what the gate judges: a `report.json` (schema `edgekd.report/1`, validated by
`edgekd.report.schema`) and the per-sample predictions in the `eval.json` files it points to
(validated by `edgekd.schemas.EvalFile`).

The fields the gate needs are copied into small typed objects, so the checks read plainly
and any report problem is a one-line `EdgekdError` naming the file and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekd.errors import ConfigError
from edgekd.report import schema
from edgekd.schemas import load_eval

NATURAL_BACKEND = {"torch": "torch", "onnx": "ort", "tensorrt": "trt"}
DEPLOYABLE_ROLES = ("student", "artefact")
ROLES = ("teacher", "student", "artefact")


@dataclass(frozen=True)
class GateLatency:
    """One profiled configuration of an artefact (times in ms, throughput in img/s)."""

    backend: str
    device: str
    machine: str
    batch: int
    p50_ms: float
    p99_ms: float
    mean_ms: float


@dataclass(frozen=True)
class SamplePredictions:
    """Per-sample predicted classes and labels of one evaluation, in the evaluated split's order."""

    predicted: np.ndarray
    labels: np.ndarray
    source: Path

    @property
    def correct(self) -> np.ndarray:
        correct: np.ndarray = self.predicted == self.labels
        return correct


@dataclass
class GateModel:
    """One model of a report: the teacher, a student or an exported artefact."""

    name: str
    role: str
    format: str
    precision: str
    target: str
    path: str
    size_bytes: int | None
    top1: float | None
    per_class: list[float | None] | None
    agreement: float | None
    latency: list[GateLatency] = field(default_factory=list)
    eval_path: Path | None = None
    eval_backend: str | None = None
    eval_device: str | None = None

    @property
    def backend(self) -> str:
        """The backend its accuracy was measured with (the format's natural one if unrecorded)."""
        return self.eval_backend or NATURAL_BACKEND.get(self.format, self.format)

    @property
    def device(self) -> str:
        return self.eval_device or ("cuda" if self.target in ("cuda", "tensorrt", "jetson") else "cpu")

    def latency_at(self, batch: int) -> list[GateLatency]:
        return [entry for entry in self.latency if entry.batch == batch]


@dataclass
class GateReport:
    """A loaded report: its models, their classes, and where it lives."""

    path: Path
    models: list[GateModel]
    class_names: list[str]
    teacher_name: str | None = None

    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def teacher(self) -> GateModel | None:
        """The report's teacher (else a PyTorch one when the teacher appears in other formats too)."""
        if self.teacher_name is not None and self.find(self.teacher_name) is not None:
            return self.find(self.teacher_name)
        teachers = [m for m in self.models if m.role == "teacher"]
        teachers.sort(key=lambda m: m.format != "torch")
        return teachers[0] if teachers else None

    def find(self, name: str) -> GateModel | None:
        return next((m for m in self.models if m.name == name), None)

    def select(self, selectors: list[str]) -> list[GateModel]:
        """Models named or of a role in `selectors`; empty selects every deployable one.

        Raises:
            ConfigError: a selector matching no name and no role.
        """
        if not selectors:
            return [m for m in self.models if m.role in DEPLOYABLE_ROLES]
        chosen: list[GateModel] = []
        for selector in selectors:
            matches = [m for m in self.models if m.name == selector or m.role == selector]
            if not matches:
                raise ConfigError(
                    f"--artefact '{selector}' matches nothing in {self.path}: names are "
                    f"{', '.join(self.names())}; roles are {', '.join(ROLES)}."
                )
            chosen.extend(m for m in matches if m not in chosen)
        return chosen


def _entry(model: schema.ModelEntry, report_path: Path) -> GateModel:
    accuracy = model.accuracy
    eval_path = None
    if accuracy is not None and accuracy.eval_path:
        eval_path = Path(accuracy.eval_path)
        if not eval_path.is_absolute():  # normalised so that messages name it plainly
            eval_path = Path(os.path.normpath(report_path.parent / eval_path))
    return GateModel(
        name=model.name,
        role=model.role,
        format=model.format,
        precision=model.precision,
        target=model.target,
        path=model.path,
        size_bytes=model.size_bytes,
        top1=accuracy.top1 if accuracy else None,
        per_class=list(accuracy.per_class) if accuracy and accuracy.per_class else None,
        agreement=accuracy.agreement_with_teacher if accuracy else None,
        latency=[
            GateLatency(e.backend, e.device, e.machine, e.batch, e.p50_ms, e.p99_ms, e.mean_ms) for e in model.latency
        ],
        eval_path=eval_path,
        eval_backend=accuracy.backend if accuracy else None,
        eval_device=accuracy.device if accuracy else None,
    )


def load_gate_report(path: str | Path) -> GateReport:
    """Load `report.json` (or the one inside a directory), validated by the report's own schema.

    Raises:
        ConfigError: a missing file, invalid JSON or a file that is not an edgekd report.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise ConfigError(f"report not found: {path} (make one with 'edgekd report RUN_DIR… --out DIR').")
    report = schema.load_report(path)
    return GateReport(path, [_entry(m, path) for m in report.models], list(report.class_names), report.teacher)


def load_predictions(model: GateModel) -> SamplePredictions | None:
    """The per-sample predictions behind a model's accuracy, or None when the report has none.

    Raises:
        ConfigError: an eval.json that is referenced but missing, unreadable or of the wrong
            shape (`edgekd.schemas.EvalFile`, the bad field named).
    """
    if model.eval_path is None:
        return None
    path = model.eval_path
    if not path.exists():
        raise ConfigError(f"eval file of '{model.name}' not found: {path} (moved since the report was made?).")
    predictions = load_eval(path, ConfigError).predictions
    if not predictions.predicted:
        raise ConfigError(f"{path} holds no per-sample predictions (rerun 'edgekd eval').")
    return SamplePredictions(
        np.asarray(predictions.predicted, dtype=np.int64), np.asarray(predictions.labels, dtype=np.int64), path
    )
