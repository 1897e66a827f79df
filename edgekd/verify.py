"""`verify(target, backend)`: does an artefact compute what the PyTorch model computed?

A reference (`reference.npz`, written into a device bundle by `edgekd export --bundle`) holds a
few hundred real val images exactly as the model takes them (its input tensor, so no dataset and
no preprocessing code is needed on the device), the PyTorch logits for them, and the parity
thresholds per precision. Any artefact — ONNX through ONNX Runtime, a TensorRT plan, a PyTorch
checkpoint — runs on those inputs through `edgekd.runtime` and is checked for top-1 agreement
and max |Δlogit| against the reference. The same code checks the bundle here with ONNX Runtime
and the engines on the Jetson with TensorRT; `export --trt` runs it on every engine it builds.

The file is read with `allow_pickle=False`: it holds only arrays and one JSON string.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgekd.artifacts import atomic_path
from edgekd.engine.metrics import Predictions
from edgekd.engine.progress import Progress
from edgekd.errors import CheckFailed, ConfigError, ModelError
from edgekd.runtime import artefact_format, open_backend
from edgekd.runtime.base import INPUT_NCHW_FLOAT, Backend

REFERENCE_SCHEMA = "edgekd.reference/1"
REFERENCE_NAME = "reference.npz"
BACKENDS = ("ort", "trt", "torch")
BACKEND_SUFFIXES = {"ort": (".onnx",), "trt": (".engine", ".plan"), "torch": (".safetensors",)}
RUN_BATCH = 32  # images per call: within every engine profile edgekd builds by default
PROBS_OUTPUT = "probs"  # an artefact whose output is softmax probabilities (DeepStream), not logits


@dataclass(frozen=True)
class Threshold:
    """What an artefact of one precision must meet against the PyTorch logits.

    Attributes:
        min_agreement: share of images with the reference's top-1 class (percent).
        max_abs_diff: largest |Δlogit| over all images and classes.
    """

    min_agreement: float
    max_abs_diff: float


@dataclass
class Reference:
    """Inputs and PyTorch logits of real val images, with the thresholds per precision.

    Attributes:
        inputs: the model's input tensor, (N, C, H, W) float32 normalised or (N, H, W, C) uint8.
        logits: PyTorch FP32 logits (N, num_classes).
        labels: ground-truth classes (N,) (reported, not checked: verify compares to PyTorch).
        thresholds: artefact file stem (`student.fp16`, shared by the engine built from it) or
            precision (fp32 | fp16 | int8) → `Threshold`.
        info: how it was made (input format, dataset and split, model sha256, class names).
    """

    inputs: np.ndarray
    logits: np.ndarray
    labels: np.ndarray
    thresholds: dict[str, Threshold]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def input_format(self) -> str:
        return str(self.info.get("input_format", INPUT_NCHW_FLOAT))

    def threshold_for(self, name: str, precision: str) -> Threshold:
        """The artefact's own threshold (by file stem: an engine shares its ONNX's), else its precision's."""
        threshold = self.thresholds.get(Path(name).stem) or self.thresholds.get(precision)
        if threshold is None:
            raise ConfigError(
                f"the reference has no threshold for {name} ({precision}); it has {', '.join(self.thresholds)}."
            )
        return threshold

    def save(self, path: Path) -> Path:
        """Write atomically as an uncompressed `.npz` (arrays plus one JSON string)."""
        meta = {
            "schema": REFERENCE_SCHEMA,
            "thresholds": {k: asdict(v) for k, v in self.thresholds.items()},
            **self.info,
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                inputs=self.inputs,
                logits=self.logits.astype(np.float32),
                labels=self.labels.astype(np.int64),
                meta=np.array(json.dumps(meta)),
            )
        return path

    @classmethod
    def load(cls, path: Path) -> "Reference":
        """Read and check a reference file; anything wrong with it is one `ModelError` line."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"reference not found: {path} (export with --bundle DIR writes DIR/{REFERENCE_NAME}).")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in ("inputs", "logits", "labels", "meta")}
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{path} is not an edgekd reference ({type(exc).__name__}: {exc}).") from exc
        try:
            meta = json.loads(str(arrays["meta"]))
            thresholds = {k: Threshold(**v) for k, v in meta.pop("thresholds").items()}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: damaged metadata ({type(exc).__name__}: {exc}).") from exc
        if meta.get("schema") != REFERENCE_SCHEMA:
            raise ModelError(f"{path}: schema {meta.get('schema')!r}, expected {REFERENCE_SCHEMA}.")
        inputs, logits, labels = arrays["inputs"], arrays["logits"], arrays["labels"]
        if logits.ndim != 2 or len(inputs) != len(logits) or len(labels) != len(logits) or len(logits) == 0:
            raise ModelError(
                f"{path}: inconsistent arrays (inputs {inputs.shape}, logits {logits.shape}, labels {labels.shape})."
            )
        return cls(inputs, logits, labels, thresholds, meta)


@dataclass(frozen=True)
class VerifyRow:
    """One artefact checked against the reference."""

    artefact: str
    backend: str
    precision: str
    samples: int
    agreement: float
    max_abs_diff: float
    mean_abs_diff: float
    top1: float
    reference_top1: float
    threshold: Threshold
    passed: bool

    def line(self) -> str:
        verdict = "✓" if self.passed else "✗"
        return (
            f"{verdict} {self.artefact} ({self.backend}, {self.precision}) on {self.samples} images: agreement "
            f"{self.agreement:.2f} % "
            f"(≥ {self.threshold.min_agreement:g}), max |Δlogit| {self.max_abs_diff:.2e} (≤ "
            f"{self.threshold.max_abs_diff:g})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "threshold": asdict(self.threshold)}


@dataclass
class VerifyResult:
    """Every artefact checked; `passed` only when all of them held."""

    reference: Path
    rows: list[VerifyRow]

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(row.passed for row in self.rows)

    def enforce(self) -> "VerifyResult":
        """Raise `CheckFailed` (exit 1) naming the artefacts that disagree."""
        failed = [row for row in self.rows if not row.passed]
        if failed:
            raise CheckFailed("verify failed: " + "; ".join(row.line() for row in failed))
        return self


def run_backend(backend: Backend, inputs: np.ndarray, batch: int = RUN_BATCH) -> np.ndarray:
    """Logits of `backend` for inputs that are already its input tensor (no `prepare`)."""
    parts = [
        backend.run(torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch])))
        for start in range(0, len(inputs), batch)
    ]
    return torch.cat(parts).numpy()


def check(backend: Backend, name: str, reference: Reference) -> VerifyRow:
    """Run one open backend on the reference inputs and compare with the reference logits."""
    if backend.input_format != reference.input_format:
        raise ConfigError(
            f"{name} takes {backend.input_format} input but the reference holds {reference.input_format}; use the "
            "reference exported with it."
        )
    if backend.card.num_classes != reference.logits.shape[1]:
        raise ConfigError(
            f"{name} has {backend.card.num_classes} classes but the reference has {reference.logits.shape[1]}; it "
            "is another model's reference."
        )
    threshold = reference.threshold_for(name, backend.precision)
    expected_logits = torch.from_numpy(reference.logits)
    if getattr(backend, "output_name", None) == PROBS_OUTPUT:  # compared as probabilities, thresholds measured so
        expected_logits = expected_logits.softmax(dim=1)
    expected = Predictions(expected_logits, torch.from_numpy(reference.labels))
    got = Predictions(torch.from_numpy(run_backend(backend, reference.inputs)), expected.labels)
    delta = (got.logits - expected.logits).abs()
    agreement, max_abs = expected.agreement(got), float(delta.max())
    finite = bool(torch.isfinite(got.logits).all())
    passed = finite and agreement >= threshold.min_agreement and max_abs <= threshold.max_abs_diff
    return VerifyRow(
        name,
        backend.name,
        backend.precision,
        len(expected.labels),
        agreement,
        max_abs,
        float(delta.mean()),
        got.top1(),
        expected.top1(),
        threshold,
        passed,
    )


def artefacts_in(bundle: Path, backend: str) -> list[Path]:
    """The artefacts of a bundle directory that `backend` runs, in name order."""
    suffixes = BACKEND_SUFFIXES[backend]
    return sorted(p for p in bundle.iterdir() if p.is_file() and p.suffix in suffixes)


def verify(
    target: str | Path,
    backend: str = "ort",
    reference: str | Path | None = None,
    device: str = "cpu",
    threads: int | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Check a bundle's artefacts, or one artefact, against a reference.

    Args:
        target: a bundle directory (its `reference.npz` and every artefact `backend` runs), or
            one artefact file (`.onnx`, `.engine`/`.plan`, `.safetensors`).
        backend: ort | trt | torch.
        reference: the reference file (default: `reference.npz` in the bundle / beside the artefact).
        device: cpu | cuda[:N] (a TensorRT plan always runs on CUDA).
        threads: ONNX Runtime intra-op threads.
        progress: optional `edgekd.engine.Progress` (one log line per artefact).

    Returns:
        The figures per artefact; call `enforce()` to turn a failure into exit 1.

    Raises:
        EdgekdError: bad input (exit 2): no artefact for that backend, unreadable reference, ….
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown --backend '{backend}': use {', '.join(BACKENDS)}.")
    target = Path(target)
    if not target.exists():
        raise ConfigError(
            f"{target} does not exist: pass a bundle directory (export --bundle DIR) or an artefact file."
        )
    if target.is_dir():
        paths = artefacts_in(target, backend)
        if not paths:
            hint = " (build them on the device with the bundle's build.sh)" if backend == "trt" else ""
            raise ConfigError(
                f"{target} holds no {'/'.join(BACKEND_SUFFIXES[backend])} artefact for --backend {backend}{hint}."
            )
        reference_path = Path(reference) if reference else target / REFERENCE_NAME
    else:
        paths = [target]
        kind = artefact_format(target)
        natural = {"onnx": "ort", "tensorrt": "trt", "torch": "torch"}[kind]
        if backend != natural:
            raise ConfigError(
                f"--backend {backend} cannot run {target.name} (a {kind} artefact); use --backend {natural}."
            )
        reference_path = Path(reference) if reference else target.parent / REFERENCE_NAME
    ref = Reference.load(reference_path)
    rows = []
    for path in paths:
        row = check(open_backend(path, backend, device, threads), path.name, ref)
        if progress is not None:
            progress.log(row.line())
        rows.append(row)
    return VerifyResult(reference_path, rows)
