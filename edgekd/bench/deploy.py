"""Deployment speed on this CPU: PyTorch eager vs ONNX Runtime FP32 vs each INT8 recipe.

Each model is exported with `edgekd.export.export` (FP32 ONNX through the parity gate, INT8 for
the `cpu` and `tensorrt` targets from a calibration spec), then every artefact is timed side
by side at batch 1 and 32 (median of interleaved blocks, same thread count everywhere), with
the INT8 top-1 drops and the FP32 ONNX's top-1 agreement from the export.

Targets checked (issues "export" and "benchmark"):
  - ONNX Runtime FP32 ≥ 10× faster than PyTorch eager at batch 1 (default student);
  - resnet18: CPU INT8 ≥ 1.5× faster than FP32 at batch 32 with ≤ 0.5 pt top-1 drop;
  - default student: CPU INT8 at least as fast as FP32 within 0.5 pt, or the fallback (FP32);
  - FP32 ONNX top-1 agreement with PyTorch ≥ 99.9 %.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch

from edgekd.artifacts import sha256_file
from edgekd.engine import Progress
from edgekd.export import ExportConfig, export
from edgekd.models import load_model
from edgekd.runtime import compare_latency, open_backend

BATCHES = (1, 32)
EAGER = "torch eager channels_last"


def export_once(
    weights: Path,
    out_dir: Path,
    calib: Path,
    threads: int,
    progress: Progress,
    *,
    quick: bool = False,
    again: bool = False,
) -> dict[str, Any]:
    """`edgekd.export.export` of a checkpoint, reused while OUT/export.json matches its weights."""
    summary_path = out_dir / "export.json"
    if summary_path.exists() and not again:
        summary = json.loads(summary_path.read_text())
        if summary["source"]["sha256"] == sha256_file(weights):
            progress.log(f"export {weights.parent.name}: reusing {summary_path}")
            return dict(summary)
    progress.log(f"export {weights.parent.name}: FP32 ONNX (parity gate), INT8 cpu + tensorrt from {calib.name}")
    config = ExportConfig(
        weights,
        out_dir,
        int8=True,
        calib=calib,
        int8_target=("cpu", "tensorrt"),
        latency=False,
        threads=threads,
        parity_samples=1000 if quick else None,
    )
    written: dict[str, Any] = json.loads(export(config, progress).summary_path.read_text())
    return written


@torch.no_grad()
def _eager(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    logits: torch.Tensor = model(inputs)
    return logits


def time_artefacts(
    weights: Path, onnx_files: dict[str, Path], pixels: torch.Tensor, threads: int, min_time: float
) -> dict[str, dict[int, float]]:
    """Median ms per call of every runner at each batch size (interleaved blocks)."""
    model, _ = load_model(weights)
    runtime_torch = open_backend(weights)  # channels_last, as edgekd runs PyTorch
    backends = {name: open_backend(path, threads=threads) for name, path in onnx_files.items()}
    results: dict[str, dict[int, float]] = {}
    for batch in BATCHES:
        batch_pixels = pixels[:batch]
        nchw_input = runtime_torch.prepare(batch_pixels)
        runners: dict[str, Callable[[], object]] = {
            EAGER: partial(runtime_torch.run, nchw_input),
            "torch eager NCHW": partial(_eager, model, nchw_input),
        }
        for name, backend in backends.items():
            runners[name] = partial(backend.run, backend.prepare(batch_pixels))
        timed = compare_latency(runners, batch, min_time_s=min_time, max_time_s=20 * min_time)
        for name, latency in timed.items():
            results.setdefault(name, {})[batch] = latency.median_ms
    return results


def deploy_model(
    role: str,
    weights: Path,
    out_dir: Path,
    calib: Path,
    pixels: torch.Tensor,
    threads: int,
    min_time: float,
    progress: Progress,
    *,
    quick: bool = False,
) -> dict[str, Any]:
    """Export one model and time all its artefacts: the figures of one deployment table."""
    summary = export_once(weights, out_dir, calib, threads, progress, quick=quick)
    artefacts = {(a["precision"], a["target"]): a for a in summary["artefacts"]}
    onnx_files = {"ort fp32": Path(artefacts[("fp32", None)]["path"])}
    drops = {}
    for target in ("cpu", "tensorrt"):
        record = artefacts[("int8", target)]
        onnx_files[f"ort int8 {target}"] = Path(record["path"])
        drops[f"ort int8 {target}"] = record["int8"]["accuracy"]["test"]
    progress.log(
        f"timing {weights.parent.name}: batch {' and '.join(map(str, BATCHES))}, {threads} threads, ≥ "
        f"{min_time:g} s each"
    )
    latency = time_artefacts(weights, onnx_files, pixels, threads, min_time)
    speed_search = (artefacts[("int8", "cpu")].get("details") or {}).get("speed_search") or {}
    return {
        "role": role,
        "arch": summary["source"].get("arch") or weights.parent.name,
        "weights": str(weights),
        "latency_ms": latency,
        "int8_test": drops,
        "fp32_test_top1": next(iter(drops.values()))["fp32_top1"],
        "parity": artefacts[("fp32", None)]["parity"],
        "int8_cpu_in_float": (artefacts[("int8", "cpu")].get("details") or {})
        .get("quantization", {})
        .get("weighted_in_float", []),
        "speed_search_chosen": speed_search.get("chosen"),
    }


def checks(models: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The deployment targets, one entry per check: status PASS | MISS | INFO and a line."""
    found = []
    for key, entry in models.items():
        latency, role = entry["latency_ms"], entry["role"]
        student = role == "default student"
        eager_ratio = latency[EAGER][1] / latency["ort fp32"][1]
        found.append(
            {
                "status": ("PASS" if eager_ratio >= 10 else "MISS") if student else "INFO",
                "line": (
                    f"{key}: ORT FP32 vs eager at batch 1: {eager_ratio:.1f}× (target ≥ 10× for the default student)"
                ),
            }
        )
        speedup = latency["ort fp32"][32] / latency["ort int8 cpu"][32]
        drop = entry["int8_test"]["ort int8 cpu"]["drop"]
        if role == "resnet18":
            ok = speedup >= 1.5 and drop <= 0.5
            found.append(
                {
                    "status": "PASS" if ok else "MISS",
                    "line": (
                        f"{key}: CPU INT8 vs FP32 at batch 32: {speedup:.2f}×, drop {drop:+.2f} pt (target ≥ 1.5×, ≤ "
                        "0.5 pt)"
                    ),
                }
            )
        else:
            ok = speedup >= 1.0 and drop <= 0.5
            verdict = "INT8 usable" if ok else "fallback: ship FP32 (INT8 not faster or too lossy)"
            found.append(
                {
                    "status": "PASS" if ok else "INFO",
                    "line": (
                        f"{key}: CPU INT8 vs FP32 at batch 32: {speedup:.2f}×, at batch 1: "
                        f"{latency['ort fp32'][1] / latency['ort int8 cpu'][1]:.2f}×, drop {drop:+.2f} pt → {verdict}"
                    ),
                }
            )
        agreement = entry["parity"]["agreement"]
        found.append(
            {
                "status": "PASS" if agreement >= 99.9 else "MISS",
                "line": f"{key}: FP32 ONNX top-1 agreement with PyTorch {agreement:.2f} % (target ≥ 99.9 %)",
            }
        )
    return found
