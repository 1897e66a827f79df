"""Latency of each candidate on the target, under `edgekd profile`'s latency definition.

Measured here with `edgekd.profile.run` (the `ort-cpu` target), or read back from the
profile.json files that `edgekd profile` wrote on the device (`--latency-from DIR`). Never
estimated from FLOPs: `flops_vs_latency` says how far the FLOPs ranking is from the measured one.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgekd import profile as profile_stage
from edgekd.artifacts import sha256_file
from edgekd.engine import Progress, SilentProgress
from edgekd.errors import DataError
from edgekd.profile import ProfileConfig, TimingConfig
from edgekd.schemas import load_profile
from edgekd.students.candidates import Candidate
from edgekd.students.config import LOCAL_TARGETS, StudentsConfig


def measure(
    onnx: Path,
    folder: Path,
    *,
    backend: str,
    device: str,
    batch: int,
    threads: int,
    timing: TimingConfig,
    progress: Progress,
) -> dict[str, Any]:
    """Profile one ONNX at one batch size (reusing a profile.json of the same file and settings).

    Returns:
        That batch's `LatencyStats` fields (ms, img/s) plus `profile` (the profile.json path).
    """
    path = folder / "profile.json"
    if path.exists():
        measured = load_profile(path, DataError)
        entry = measured.batch(batch)
        same = (
            measured.artefact.sha256 == sha256_file(onnx)
            and measured.timing == asdict(timing)
            and measured.backend.threads == threads
        )
        if entry is not None and same:
            return {**entry.model_dump(mode="json"), "profile": str(path)}
    result = profile_stage.run(
        ProfileConfig(
            onnx, out_dir=folder, backend=backend, device=device, batches=(batch,), threads=threads, timing=timing
        ),
        progress,
    )
    return {**result.batch(batch), "profile": str(result.path)}


def measure_on_target(config: StudentsConfig, onnx: Path, precision: str) -> dict[str, Any]:
    """`measure` one candidate's ONNX on the search's (local) target at the budget's batch and
    timing, into a `profile-<precision>-b<batch>` folder beside the file."""
    backend, device = LOCAL_TARGETS[config.target]
    return measure(
        onnx,
        onnx.parent / f"profile-{precision}-b{config.batch}",
        backend=backend,
        device=device,
        batch=config.batch,
        threads=config.threads,
        timing=config.timing,
        progress=SilentProgress(),
    )


def read_profiles(folder: Path, batch: int) -> dict[tuple[str, str], dict[str, Any]]:
    """(arch, precision) → that batch's figures, from every profile.json under `folder`.

    Raises:
        DataError: a profile.json that is not `edgekd profile`'s, or none at all.
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    files = sorted(Path(folder).rglob("profile.json"))
    if not files:
        raise DataError(
            f"--latency-from {folder}: no profile.json under it; run 'edgekd profile BUNDLE/<arch>.onnx --batch "
            f"{batch}' on the target for each candidate first."
        )
    for path in files:
        measured = load_profile(path, DataError)  # names the bad field of a file that is not edgekd profile's
        entry = measured.batch(batch)
        if entry is not None:
            found[(measured.artefact.arch, measured.artefact.precision)] = {
                **entry.model_dump(mode="json"),
                "profile": str(path),
                "device": measured.backend.device,
                "machine": measured.machine,
            }
    return found


# The most INT8 can gain over FP32 on a CPU: four 8-bit lanes where one 32-bit lane was, for
# compute-bound kernels (what ORT's U8S8 kernels reach at best; depthwise nets gain far less).
INT8_MAX_SPEEDUP = 4.0


def int8_skip_reason(fp32_ms: float, budget_ms: float) -> str | None:
    """Why timing a candidate's INT8 model cannot change the search (None: it can).

    Its FP32 latency already fits the budget (the search does not need a faster figure to keep
    it), or is more than `INT8_MAX_SPEEDUP` × the budget (INT8 cannot bring it under).
    """
    if fp32_ms <= budget_ms:
        return f"not measured: FP32 {fp32_ms:.3f} ms is already within the {budget_ms:.4g} ms budget"
    if fp32_ms > INT8_MAX_SPEEDUP * budget_ms:
        return (
            f"not measured: FP32 {fp32_ms:.3f} ms > {INT8_MAX_SPEEDUP:g} × the {budget_ms:.4g} ms budget, beyond "
            "what INT8 gains on a CPU"
        )
    return None


def choose_precision(candidate: Candidate, statistic: str) -> None:
    """Set the candidate's latency to its faster precision at the budget's statistic."""
    timed = {precision: stats[statistic] for precision, stats in candidate.latency.items()}
    if timed:
        candidate.precision = min(timed, key=timed.__getitem__)
        candidate.latency_ms = timed[candidate.precision]


def flops_vs_latency(candidates: list[Candidate], top: int = 5) -> dict[str, Any]:
    """Spearman ρ between MFLOPs and measured latency, and the `top` fastest by each ranking.

    Only candidates with both figures count; ρ is None for fewer than 3 of them.
    """
    from scipy.stats import spearmanr

    both = [c for c in candidates if c.mflops is not None and c.latency_ms is not None]
    by_flops = [c.arch for c in sorted(both, key=lambda c: (c.mflops, c.arch))]
    by_latency = [c.arch for c in sorted(both, key=lambda c: (c.latency_ms, c.arch))]
    rho = p_value = None
    if len(both) >= 3:
        result = spearmanr([c.mflops for c in both], [c.latency_ms for c in both])
        rho, p_value = float(result.statistic), float(result.pvalue)
    return {
        "candidates": len(both),
        "spearman_rho": rho,
        "p_value": p_value,
        f"top{top}_by_flops": by_flops[:top],
        f"top{top}_by_latency": by_latency[:top],
    }
