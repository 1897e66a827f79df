"""Reading what the gate judges: a `report.json` (see `edgekd report`) and the per-sample
predictions in the `eval.json` files it points to.

Only the fields the gate needs are read, into small typed objects, and every missing or
malformed one becomes a one-line `EdgekdError` that names the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import ConfigError

NATURAL_BACKEND = {"torch": "torch", "onnx": "ort", "tensorrt": "trt"}
DEPLOYABLE_ROLES = ("student", "artefact")
ROLES = ("teacher", "student", "artefact")


@dataclass(frozen=True)
class Latency:
    """One profiled configuration of an artefact (times in ms, throughput in img/s)."""

    backend: str
    device: str
    machine: str
    batch: int
    p50_ms: float
    p99_ms: float
    mean_ms: float | None = None


@dataclass(frozen=True)
class SamplePredictions:
    """Per-sample predicted classes and labels of one evaluation, in the evaluated split's order."""

    predicted: np.ndarray
    labels: np.ndarray
    source: Path

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.labels


@dataclass
class ModelEntry:
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
    latency: list[Latency] = field(default_factory=list)
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

    def latency_at(self, batch: int) -> list[Latency]:
        return [entry for entry in self.latency if entry.batch == batch]


@dataclass
class Report:
    """A loaded report: its models, their classes, and where it lives."""

    path: Path
    models: list[ModelEntry]
    class_names: list[str]

    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def teacher(self) -> ModelEntry | None:
        """The teacher entry (a PyTorch one when the teacher also appears in other formats)."""
        teachers = [m for m in self.models if m.role == "teacher"]
        teachers.sort(key=lambda m: m.format != "torch")
        return teachers[0] if teachers else None

    def find(self, name: str) -> ModelEntry | None:
        return next((m for m in self.models if m.name == name), None)

    def select(self, selectors: list[str]) -> list[ModelEntry]:
        """Models named or of a role in `selectors`; empty selects every deployable one.

        Raises:
            ConfigError: a selector matching no name and no role.
        """
        if not selectors:
            return [m for m in self.models if m.role in DEPLOYABLE_ROLES]
        chosen: list[ModelEntry] = []
        for selector in selectors:
            matches = [m for m in self.models if m.name == selector or m.role == selector]
            if not matches:
                raise ConfigError(f"--artefact '{selector}' matches nothing in {self.path}: names are {', '.join(self.names())}; roles are {', '.join(ROLES)}.")
            chosen.extend(m for m in matches if m not in chosen)
        return chosen


def _machine_id(value: Any) -> str:
    """A comparable machine fingerprint from a string or a dict of system facts."""
    if isinstance(value, dict):
        return str(value.get("fingerprint") or json.dumps(value, sort_keys=True))
    return str(value) if value is not None else "unknown"


def _number(payload: dict, key: str, where: str) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}.")
    return float(value)


def _per_class(value: Any, class_names: list[str], where: str) -> list[float | None] | None:
    if value is None:
        return None
    if isinstance(value, dict):  # {class name: accuracy}
        if class_names:
            return [value.get(name) for name in class_names]
        return list(value.values())
    if isinstance(value, list):
        return [None if v is None else float(v) for v in value]
    raise ConfigError(f"{where}: 'per_class' must be a list or a mapping, got {type(value).__name__}.")


def _eval_reference(entry: dict) -> Any:
    """Where a model entry points at its eval.json (the key has had several spellings)."""
    for holder in (entry, entry.get("accuracy") or {}):
        for key in ("eval_path", "eval_json", "eval"):
            value = holder.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, dict) and isinstance(value.get("path"), str):
                return value["path"]
    return None


def _model_entry(entry: Any, index: int, report_path: Path, class_names: list[str]) -> ModelEntry:
    where = f"{report_path}: models[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} is not an object.")
    missing = [key for key in ("name", "role") if key not in entry]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}: is this a report.json from 'edgekd report'?")
    accuracy = entry.get("accuracy") or {}
    latency = []
    for j, item in enumerate(entry.get("latency") or []):
        lwhere = f"{where}.latency[{j}]"
        try:
            latency.append(
                Latency(
                    backend=str(item["backend"]),
                    device=str(item.get("device", "cpu")),
                    machine=_machine_id(item.get("machine")),
                    batch=int(item["batch"]),
                    p50_ms=float(item.get("p50_ms", item.get("median_ms"))),
                    p99_ms=float(item["p99_ms"]),
                    mean_ms=_number(item, "mean_ms", lwhere),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{lwhere} lacks or has a bad {exc}.") from None
    eval_ref = _eval_reference(entry)
    eval_path = None
    if eval_ref is not None:
        eval_path = Path(eval_ref)
        if not eval_path.is_absolute():
            eval_path = report_path.parent / eval_path
    size = entry.get("size_bytes")
    return ModelEntry(
        name=str(entry["name"]),
        role=str(entry["role"]),
        format=str(entry.get("format", "torch")),
        precision=str(entry.get("precision", "fp32")),
        target=str(entry.get("target", "cpu")),
        path=str(entry.get("path", "")),
        size_bytes=int(size) if isinstance(size, (int, float)) else None,
        top1=_number(accuracy, "top1", f"{where}.accuracy"),
        per_class=_per_class(accuracy.get("per_class"), class_names, f"{where}.accuracy"),
        agreement=_number(accuracy, "agreement_with_teacher", f"{where}.accuracy"),
        latency=latency,
        eval_path=eval_path,
        eval_backend=accuracy.get("backend"),
        eval_device=accuracy.get("device"),
    )


def load_report(path: str | Path) -> Report:
    """Load `report.json` (or the one inside a directory).

    Raises:
        ConfigError: a missing file, invalid JSON or a file that is not an edgekd report.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.exists():
        raise ConfigError(f"report not found: {path} (make one with 'edgekd report RUN_DIR… --out DIR').")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("models"), list):
        raise ConfigError(f"{path} is not an edgekd report: it has no 'models' list.")
    schema = str(payload.get("schema", ""))
    if not schema.startswith("edgekd.report/"):
        raise ConfigError(f"{path} has schema '{schema or 'none'}', not an edgekd report (edgekd.report/N).")
    class_names = [str(n) for n in payload.get("class_names") or []]
    models = [_model_entry(entry, i, path, class_names) for i, entry in enumerate(payload["models"])]
    return Report(path, models, class_names)


def load_predictions(model: ModelEntry) -> SamplePredictions | None:
    """The per-sample predictions behind a model's accuracy, or None when the report has none.

    Raises:
        ConfigError: an eval.json that is referenced but missing or unreadable.
    """
    if model.eval_path is None:
        return None
    path = model.eval_path
    if not path.exists():
        raise ConfigError(f"eval file of '{model.name}' not found: {path} (moved since the report was made?).")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}.") from None
    samples = payload.get("samples") or payload.get("predictions")
    if isinstance(samples, dict):  # {"predicted": [...], "labels": [...]}
        predicted, labels = samples.get("predicted", samples.get("pred")), samples.get("labels", samples.get("label"))
    elif isinstance(samples, list) and samples and isinstance(samples[0], dict):
        predicted = [s.get("predicted", s.get("pred")) for s in samples]
        labels = [s.get("label") for s in samples]
    else:
        predicted, labels = samples, payload.get("labels")
    if not isinstance(predicted, list) or not isinstance(labels, list) or len(predicted) != len(labels) or not predicted:
        raise ConfigError(f"{path} holds no per-sample predictions and labels of equal length (rerun 'edgekd eval').")
    return SamplePredictions(np.asarray(predicted, dtype=np.int64), np.asarray(labels, dtype=np.int64), path)
