"""Reports for the gate's tests: report.json + eval.json files written in the documented schema.

The per-sample predictions are made from real digits labels so that paired tests see the
class balance of a real test split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

CLASSES = [f"digit{i}" for i in range(10)]


def _labels(n: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().target[:n].astype(np.int64)


def predictions_with_accuracy(labels: np.ndarray, wrong: np.ndarray) -> list[int]:
    """Labels, except the samples flagged `wrong`, which get the next class."""
    predicted = labels.copy()
    predicted[wrong] = (labels[wrong] + 1) % 10
    return predicted.tolist()


def latency(
    batch: int, p50: float, p99: float, backend: str = "ort", machine: str = "machine-a", device: str = "cpu"
) -> dict:
    mean = (p50 + p99) / 2
    return {
        "backend": backend,
        "device": device,
        "machine": machine,
        "batch": batch,
        "p50_ms": p50,
        "p90_ms": p99 * 0.9,
        "p99_ms": p99,
        "mean_ms": mean,
        "throughput_img_s": 1000 * batch / mean,
    }


def eval_payload(name: str, predicted: np.ndarray, labels: np.ndarray) -> dict:
    """A complete eval.json (`edgekd.eval/1`) of these per-sample predictions."""
    n, correct = len(labels), int((predicted == labels).sum())
    return {
        "schema": "edgekd.eval/1",
        "created": "2026-11-01T00:00:00+00:00",
        "artefact": {
            "name": f"{name}.onnx",
            "path": f"/runs/{name}.onnx",
            "format": "onnx",
            "sha256": "0" * 64,
            "size_bytes": 1000,
            "role": "student",
            "arch": "resnet10t",
            "num_classes": 10,
            "class_names": CLASSES,
            "input": {"input_size": [1, 8, 8], "mean": [0.5], "std": [0.25]},
            "precision": "fp32",
        },
        "backend": {"backend": "ort", "device": "cpu", "threads": None},
        "data": {"spec": "digits", "split": "test", "fingerprint": "f" * 16, "count": n, "class_names": CLASSES},
        "metrics": {"top1": 100.0 * correct / n, "count": n, "correct": correct},
        "predictions": {"predicted": predicted.tolist(), "labels": labels.tolist(), "teacher_predicted": None},
    }


class ReportWriter:
    """Writes a report whose models are given as (name, role, wrong-sample mask, extra fields)."""

    def __init__(self, root: Path, n: int = 600):
        self.root = root
        self.labels = _labels(n)
        self.n = n

    def mask(self, errors: int, offset: int = 0) -> np.ndarray:
        wrong = np.zeros(self.n, dtype=bool)
        wrong[offset : offset + errors] = True
        return wrong

    def write(self, folder: str, models: list[dict], *, with_samples: bool = True) -> Path:
        out = self.root / folder
        out.mkdir(parents=True, exist_ok=True)
        teacher_pred = None
        entries = []
        for model in models:
            predicted = np.asarray(predictions_with_accuracy(self.labels, model.pop("wrong")))
            if model["role"] == "teacher":
                teacher_pred = predicted
            per_class = [float(100 * (predicted[self.labels == k] == k).mean()) for k in range(10)]
            accuracy = {
                "top1": float(100 * (predicted == self.labels).mean()),
                "top5": 100.0,
                "per_class": per_class,
                "split": "test",
                "count": self.n,
            }
            if teacher_pred is not None and model["role"] != "teacher":
                accuracy["agreement_with_teacher"] = float(100 * (predicted == teacher_pred).mean())
            if with_samples:
                eval_path = out / f"eval-{model['name']}.json"
                eval_path.write_text(json.dumps(eval_payload(model["name"], predicted, self.labels)))
                accuracy["eval_path"] = eval_path.name
            entry = {
                "name": model["name"],
                "role": model["role"],
                "format": model.get("format", "onnx"),
                "precision": model.get("precision", "fp32"),
                "target": "cpu",
                "path": f"{model['name']}.onnx",
                "sha256": "0" * 64,
                "params": 1000,
                "flops": 1000,
                "size_bytes": model.get("size_bytes", 2_000_000),
                "accuracy": accuracy,
                "latency": model.get("latency", []),
            }
            entries.append(entry)
        teacher = next((e["name"] for e in entries if e["role"] == "teacher"), None)
        report = {
            "schema": "edgekd.report/1",
            "created": "2026-11-01T00:00:00+00:00",
            "title": "test",
            "system": {"fingerprints": ["machine-a"]},
            "class_names": CLASSES,
            "teacher": teacher,
            "models": entries,
        }
        (out / "report.json").write_text(json.dumps(report))
        return out / "report.json"


def standard_models(
    writer: ReportWriter, student_errors: int = 60, int8_errors: int = 66, machine: str = "machine-a"
) -> list[dict]:
    """Teacher 95 %, student 90 %, INT8 student 89 % on 600 digits; latency at batch 1 and 32."""
    return [
        {
            "name": "teacher",
            "role": "teacher",
            "format": "torch",
            "wrong": writer.mask(30),
            "size_bytes": 45_000_000,
            "latency": [latency(1, 3.0, 4.0, "torch", machine), latency(32, 30.0, 35.0, "torch", machine)],
        },
        {
            "name": "student",
            "role": "student",
            "format": "torch",
            "wrong": writer.mask(student_errors),
            "size_bytes": 4_000_000,
            "latency": [latency(1, 1.5, 2.0, "torch", machine)],
        },
        {
            "name": "student-onnx",
            "role": "artefact",
            "wrong": writer.mask(student_errors),
            "size_bytes": 3_900_000,
            "latency": [latency(1, 0.25, 0.4, "ort", machine), latency(32, 3.0, 3.5, "ort", machine)],
        },
        {
            "name": "student-int8",
            "role": "artefact",
            "precision": "int8",
            "wrong": writer.mask(int8_errors),
            "size_bytes": 1_200_000,
            "latency": [latency(1, 0.2, 0.3, "ort", machine), latency(32, 2.0, 2.4, "ort", machine)],
        },
    ]


@pytest.fixture
def reports(tmp_path) -> ReportWriter:
    """A writer of reports under the test's tmp_path."""
    return ReportWriter(tmp_path)
