"""Latency checks at the gate's `--batch`: p99, p99 increase over the baseline (same machine
only), and mean-latency speed-up over the teacher."""

from __future__ import annotations

from typing import Any

from edgekd.errors import ConfigError
from edgekd.gate.context import GateContext, make_row
from edgekd.gate.inputs import GateModel
from edgekd.gate.rows import SKIP, CheckRow


def _unprofiled(ctx: GateContext, check: str, label: str, unit: str, bound: str, model: GateModel) -> CheckRow:
    batches = sorted({entry.batch for entry in model.latency})
    reason = f"not profiled at batch {ctx.thresholds.batch}" + (
        f" (profiled: {', '.join(map(str, batches))})" if batches else ""
    )
    return make_row(ctx, check, label, model, None, unit, bound, SKIP, reason, batch=ctx.thresholds.batch)


def check_p99(ctx: GateContext) -> list[CheckRow]:
    rows = []
    for model in ctx.artefacts:
        entries = model.latency_at(ctx.thresholds.batch)
        if not entries:
            rows.append(_unprofiled(ctx, "max_p99_ms", "p99 latency", "ms", "max", model))
        for entry in entries:
            rows.append(
                make_row(
                    ctx,
                    "max_p99_ms",
                    "p99 latency",
                    model,
                    entry.p99_ms,
                    "ms",
                    "max",
                    detail=f"p50 {entry.p50_ms:.3f} ms",
                    backend=entry.backend,
                    device=entry.device,
                    batch=entry.batch,
                )
            )
    return rows


def check_p99_vs_baseline(ctx: GateContext) -> list[CheckRow]:
    """p99 increase over the baseline's, only where both were measured on the same machine."""
    baseline = ctx.baseline_report("--max-p99-increase-vs-baseline")
    check, label = "max_p99_increase_vs_baseline", "p99 increase vs baseline"
    rows = []
    for model in ctx.artefacts:
        entries = model.latency_at(ctx.thresholds.batch)
        if not entries:
            rows.append(_unprofiled(ctx, check, label, "%", "max", model))
        reference = baseline.find(model.name)
        for entry in entries:
            where: dict[str, Any] = dict(backend=entry.backend, device=entry.device, batch=entry.batch)
            base = (
                None
                if reference is None
                else next(
                    (
                        b
                        for b in reference.latency
                        if (b.backend, b.device, b.batch) == (entry.backend, entry.device, entry.batch)
                    ),
                    None,
                )
            )
            if base is None:
                rows.append(
                    make_row(
                        ctx,
                        check,
                        label,
                        model,
                        None,
                        "%",
                        "max",
                        SKIP,
                        f"the baseline has no '{model.name}' on {entry.backend}/{entry.device} at batch {entry.batch}",
                        **where,
                    )
                )
                continue
            if base.machine != entry.machine:
                message = (
                    f"'{model.name}' latency was measured on machine {entry.machine} and the baseline's on "
                    f"{base.machine}"
                )
                if not ctx.thresholds.allow_foreign_baseline:
                    raise ConfigError(
                        f"{message}: latency is only compared on the same machine. Profile both there, or pass "
                        "--allow-foreign-baseline to skip this check."
                    )
                rows.append(
                    make_row(
                        ctx,
                        check,
                        label,
                        model,
                        None,
                        "%",
                        "max",
                        SKIP,
                        f"{message}: skipped (--allow-foreign-baseline)",
                        waived=True,
                        **where,
                    )
                )
                continue
            increase = 100.0 * (entry.p99_ms / base.p99_ms - 1.0)
            rows.append(
                make_row(
                    ctx,
                    check,
                    label,
                    model,
                    increase,
                    "%",
                    "max",
                    detail=f"{entry.p99_ms:.3f} ms vs {base.p99_ms:.3f} ms",
                    **where,
                )
            )
    return rows


def check_speedup(ctx: GateContext) -> list[CheckRow]:
    """Teacher mean latency / artefact mean latency at the same device, machine and batch.

    As in the report's speed-up column, the teacher is taken at its fastest backend there.
    """
    teacher = ctx.teacher("--min-speedup")
    rows = []
    for model in ctx.artefacts:
        if model is teacher:
            continue
        entries = model.latency_at(ctx.thresholds.batch)
        if not entries:
            rows.append(_unprofiled(ctx, "min_speedup", "speed-up over teacher", "×", "min", model))
        for entry in entries:
            where: dict[str, Any] = dict(backend=entry.backend, device=entry.device, batch=entry.batch)
            candidates = [
                t for t in teacher.latency_at(entry.batch) if t.device == entry.device and t.machine == entry.machine
            ]
            if not candidates:
                rows.append(
                    make_row(
                        ctx,
                        "min_speedup",
                        "speed-up over teacher",
                        model,
                        None,
                        "×",
                        "min",
                        SKIP,
                        f"teacher not profiled on {entry.device} at batch {entry.batch} on the same machine",
                        **where,
                    )
                )
                continue
            fastest = min(candidates, key=lambda t: t.mean_ms)
            speedup = fastest.mean_ms / entry.mean_ms
            rows.append(
                make_row(
                    ctx,
                    "min_speedup",
                    "speed-up over teacher",
                    model,
                    speedup,
                    "×",
                    "min",
                    detail=f"mean {entry.mean_ms:.3f} ms vs teacher {fastest.mean_ms:.3f} ms ({fastest.backend})",
                    **where,
                )
            )
    return rows
