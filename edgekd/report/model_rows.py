"""One model's row of the report, from its artefact record and the eval.json and profile.json
files that name it: its role, its deployment target, its latency entries, its accuracy (with
agreement with the teacher) and its cost (params, FLOPs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgekd.models import model_cost
from edgekd.report.schema import Accuracy, Latency, Power


def model_role(record: dict[str, Any], teacher_sha: str | None) -> str:
    if teacher_sha is not None:
        if record["sha256"] == teacher_sha:
            return "teacher"
        return "student" if record["format"] == "torch" else "artefact"
    if record.get("role") == "teacher":
        return "teacher"
    return "student" if record["format"] == "torch" else "artefact"


def deploy_target(record: dict[str, Any], latency: list[Latency]) -> str:
    export = record.get("export") or {}
    if record["format"] == "tensorrt":
        facts = " ".join(str(v) for v in export.values()).lower()
        return (
            "jetson" if any(word in facts for word in ("jetson", "orin", "xavier", "aarch64", "tegra")) else "tensorrt"
        )
    if record["format"] == "onnx":
        quantization = export.get("quantization")
        if (
            isinstance(quantization, dict) and quantization.get("target") == "tensorrt"
        ):  # the S8S8 QDQ model export makes for TensorRT
            return "tensorrt"
    devices = {entry.device.split(":")[0] for entry in latency}
    return "cuda" if devices == {"cuda"} else "cpu"


def relative_path(path: Path, out_dir: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), out_dir.resolve())
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def latency_entries(profile_path: Path, payload: dict[str, Any], out_dir: Path) -> list[Latency]:
    backend = payload.get("backend", {})
    entries = []
    for item in payload.get("batches", []):
        power = item.get("power") or {}
        temps = [
            t["max"]
            for t in (power.get("temperature_c") or {}).values()
            if isinstance(t, dict) and t.get("max") is not None
        ]
        entries.append(
            Latency(
                backend=backend.get("backend", "?"),
                device=backend.get("device", "cpu"),
                machine=payload.get("machine", "unknown"),
                batch=item["batch"],
                threads=backend.get("threads"),
                p50_ms=item["median_ms"],
                p90_ms=item["p90_ms"],
                p95_ms=item.get("p95_ms"),
                p99_ms=item["p99_ms"],
                mean_ms=item["mean_ms"],
                min_ms=item.get("min_ms"),
                max_ms=item.get("max_ms"),
                iterations=item.get("iterations"),
                throughput_img_s=item["throughput_img_s"],
                device_mean_ms=(item.get("device") or {}).get("mean_ms"),
                power=Power(
                    mean_power_mw=power.get("mean_power_mw"),
                    energy_per_image_mj=power.get("energy_per_image_mj"),
                    max_temperature_c=max(temps) if temps else None,
                )
                if "mean_power_mw" in power
                else None,
                profile_path=relative_path(profile_path, out_dir),
            )
        )
    return entries


def pick_eval(candidates: list[tuple[Path, dict[str, Any]]], split: str) -> tuple[Path, dict[str, Any]] | None:
    """The latest eval of the preferred split (else of any split)."""
    if not candidates:
        return None
    preferred = [c for c in candidates if c[1]["data"]["split"] == split] or candidates
    return max(preferred, key=lambda c: c[1].get("created", ""))


def agreement_with_teacher(
    model_eval: dict[str, Any], teacher_eval: dict[str, Any] | None, teacher_sha: str | None
) -> float | None:
    """Agreement recorded by `eval --teacher`, else computed from both models' per-sample predictions."""
    recorded = model_eval.get("teacher")
    if recorded and (teacher_sha is None or recorded.get("sha256") == teacher_sha):
        agreement: float | None = recorded.get("agreement")
        return agreement
    if teacher_eval is None:
        return None
    same_data = (
        teacher_eval["data"]["fingerprint"] == model_eval["data"]["fingerprint"]
        and teacher_eval["data"]["split"] == model_eval["data"]["split"]
    )
    if not same_data:
        return None
    ours, theirs = model_eval["predictions"]["predicted"], teacher_eval["predictions"]["predicted"]
    return 100.0 * sum(a == b for a, b in zip(ours, theirs)) / len(ours) if ours and len(ours) == len(theirs) else None


def params_and_flops(
    record: dict[str, Any], cache: dict[tuple[Any, ...], tuple[int | None, float | None]]
) -> tuple[int | None, float | None]:
    """(params, FLOPs per image) of the artefact's architecture at its input size."""
    input_size = (record.get("input") or {}).get("input_size")
    if not record.get("arch") or not input_size:
        return None, None
    key = (record["arch"], tuple(input_size), record.get("num_classes"))
    if key not in cache:
        try:
            params, gflops = model_cost(record["arch"], input_size[1], input_size[0], record.get("num_classes") or 1000)
            cache[key] = (params, None if gflops is None else gflops * 1e9)
        except Exception:  # an architecture this timm cannot build on the meta device: cost unknown
            cache[key] = (None, None)
    return cache[key]


def accuracy_entry(
    sha: str,
    chosen: tuple[Path, dict[str, Any]] | None,
    teacher_sha: str | None,
    teacher_eval: dict[str, Any] | None,
    out_dir: Path,
) -> Accuracy | None:
    if chosen is None:
        return None
    eval_path, payload = chosen
    metrics = payload["metrics"]
    return Accuracy(
        top1=metrics["top1"],
        top5=metrics.get("top5"),
        per_class=metrics.get("per_class", []),
        agreement_with_teacher=100.0
        if sha == teacher_sha
        else agreement_with_teacher(payload, teacher_eval, teacher_sha),
        split=payload["data"]["split"],
        count=metrics["count"],
        dataset_fingerprint=payload["data"]["fingerprint"],
        backend=payload["backend"].get("backend"),
        device=payload["backend"].get("device"),
        eval_path=relative_path(eval_path, out_dir),
    )
