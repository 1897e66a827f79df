"""The gate's checks: each turns one threshold into rows (one per artefact × backend × device × batch).

A row passes, fails, or is skipped with its reason in plain words (no measurement at that
batch, a baseline from another machine under `--allow-foreign-baseline`, …). A threshold that
could not be checked on any selected artefact is bad input, not a pass (the gate refuses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekd.errors import ConfigError
from edgekd.gate.inputs import GateModel, GateReport, SamplePredictions, load_predictions
from edgekd.gate.options import GateOptions
from edgekd.gate.rows import FAIL, PASS, SKIP, CheckRow
from edgekd.gate.stats import PairedDrop, paired_drop


@dataclass
class GateContext:
    """What every check reads."""

    report: GateReport
    baseline: GateReport | None
    thresholds: GateOptions  # a GateThresholds (derived from the registry, which imports these checks)
    artefacts: list[GateModel]
    _predictions: dict[tuple[int, str], SamplePredictions | None] | None = None

    def predictions(self, model: GateModel) -> SamplePredictions | None:
        if self._predictions is None:
            self._predictions = {}
        key = (id(model), str(model.eval_path))
        if key not in self._predictions:
            self._predictions[key] = load_predictions(model)
        return self._predictions[key]

    def teacher(self, check: str) -> GateModel:
        teacher = self.report.teacher()
        if teacher is None:
            raise ConfigError(
                f"{check} needs a teacher in the report, and {self.report.path} has none (give 'edgekd report' "
                "the teacher's eval)."
            )
        return teacher

    def baseline_report(self, check: str) -> GateReport:
        if self.baseline is None:
            raise ConfigError(
                f"{check} needs a baseline report: pass --baseline REPORT (the last release's report.json)."
            )
        return self.baseline


def make_row(
    ctx: GateContext,
    check: str,
    label: str,
    model: GateModel,
    measured: float | None,
    unit: str,
    bound: str,
    status: str | None = None,
    detail: str = "",
    *,
    backend: str | None = None,
    device: str | None = None,
    batch: int | None = None,
    waived: bool = False,
) -> CheckRow:
    threshold = float(getattr(ctx.thresholds, check))
    if status is None:
        assert measured is not None, "a row without a measurement is given its status"
        ok = measured <= threshold if bound == "max" else measured >= threshold
        status = PASS if ok else FAIL
    return CheckRow(
        check,
        label,
        model.name,
        backend or model.backend,
        device or model.device,
        batch,
        measured,
        threshold,
        unit,
        bound,
        status,
        detail,
        waived,
    )


def paired_between(
    ctx: GateContext, reference: GateModel, candidate: GateModel, mask: np.ndarray | None = None
) -> PairedDrop | None:
    """Paired drop of `candidate` below `reference` on the same samples, if both have them."""
    ref, cand = ctx.predictions(reference), ctx.predictions(candidate)
    if ref is None or cand is None:
        return None
    if ref.labels.shape != cand.labels.shape or not np.array_equal(ref.labels, cand.labels):
        raise ConfigError(
            f"'{candidate.name}' and '{reference.name}' were not evaluated on the same samples ({cand.source} vs "
            f"{ref.source}): evaluate both on the same data and split."
        )
    if mask is None:
        mask = np.ones_like(ref.labels, dtype=bool)
    return paired_drop(ref.correct[mask], cand.correct[mask], alpha=ctx.thresholds.alpha)


def judge_drop(ctx: GateContext, paired: PairedDrop, threshold: float) -> tuple[str, str]:
    """Pass or fail a paired drop under the gate's significance mode, and the words why."""
    if ctx.thresholds.judgement() == "non-inferiority":
        if paired.provably_within(threshold):
            return PASS, ""
        if paired.drop_pts <= threshold:
            return FAIL, f"within the threshold, but not provably (upper bound {paired.score_upper_pts:+.2f} pts)"
        return FAIL, f"above the threshold; upper bound {paired.score_upper_pts:+.2f} pts"
    if paired.drop_pts > threshold and paired.significantly_above(threshold):
        return FAIL, ""
    return PASS, ("above the threshold but not significantly" if paired.drop_pts > threshold else "")


def _drop_row(ctx: GateContext, check: str, label: str, reference: GateModel, model: GateModel) -> CheckRow:
    """Top-1 drop of `model` below `reference`, judged on the point estimate or its confidence bounds."""
    if model.top1 is None or reference.top1 is None:
        missing = model.name if model.top1 is None else reference.name
        return make_row(ctx, check, label, model, None, "pts", "max", SKIP, f"no top-1 for '{missing}' (not evaluated)")
    drop = reference.top1 - model.top1
    paired = paired_between(ctx, reference, model)
    threshold = float(getattr(ctx.thresholds, check))
    detail = f"{model.top1:.2f} % vs {reference.top1:.2f} % ({reference.name})"
    if paired is not None:
        drop = paired.drop_pts  # identical up to rounding; taken from the samples so the two agree
        detail += f"; {paired.describe()}"
    if not ctx.thresholds.significance:
        return make_row(ctx, check, label, model, drop, "pts", "max", detail=detail)
    if paired is None:
        lacking = model if ctx.predictions(model) is None else reference
        raise ConfigError(
            f"--significance needs per-sample predictions, and '{lacking.name}' has no eval.json in its report "
            "entry: rerun 'edgekd eval' and 'edgekd report', or drop --significance."
        )
    status, why = judge_drop(ctx, paired, threshold)
    return make_row(ctx, check, label, model, drop, "pts", "max", status, detail + (f"; {why}" if why else ""))


def check_drop_vs_teacher(ctx: GateContext) -> list[CheckRow]:
    teacher = ctx.teacher("--max-drop-vs-teacher")
    return [
        _drop_row(ctx, "max_drop_vs_teacher", "top-1 drop vs teacher", teacher, m)
        for m in ctx.artefacts
        if m is not teacher
    ]


def check_drop_vs_baseline(ctx: GateContext) -> list[CheckRow]:
    baseline = ctx.baseline_report("--max-drop-vs-baseline")
    rows = []
    for model in ctx.artefacts:
        reference = baseline.find(model.name)
        if reference is None:
            rows.append(
                make_row(
                    ctx,
                    "max_drop_vs_baseline",
                    "top-1 drop vs baseline",
                    model,
                    None,
                    "pts",
                    "max",
                    SKIP,
                    f"no '{model.name}' in the baseline report",
                )
            )
        else:
            rows.append(_drop_row(ctx, "max_drop_vs_baseline", "top-1 drop vs baseline", reference, model))
    return rows


def check_class_drop(ctx: GateContext) -> list[CheckRow]:
    """Worst single-class drop below the teacher (with --significance: judged class by class)."""
    teacher = ctx.teacher("--max-class-drop")
    rows = []
    names = ctx.report.class_names
    for model in ctx.artefacts:
        if model is teacher:
            continue
        if not model.per_class or not teacher.per_class or len(model.per_class) != len(teacher.per_class):
            rows.append(
                make_row(
                    ctx,
                    "max_class_drop",
                    "worst class drop vs teacher",
                    model,
                    None,
                    "pts",
                    "max",
                    SKIP,
                    "no per-class accuracy for it or the teacher",
                )
            )
            continue
        drops = [
            (t - s, k)
            for k, (t, s) in enumerate(zip(teacher.per_class, model.per_class))
            if t is not None and s is not None
        ]
        worst, worst_class = max(drops)
        class_name = names[worst_class] if worst_class < len(names) else str(worst_class)
        detail = f"class '{class_name}': {model.per_class[worst_class]:.2f} % vs {teacher.per_class[worst_class]:.2f} %"
        status = None
        if ctx.thresholds.significance:
            status, detail = _class_significance(ctx, teacher, model, worst, detail, names)
        rows.append(
            make_row(ctx, "max_class_drop", "worst class drop vs teacher", model, worst, "pts", "max", status, detail)
        )
    return rows


def _class_significance(
    ctx: GateContext, teacher: GateModel, model: GateModel, worst: float, detail: str, names: list[str]
) -> tuple[str, str]:
    """Class by class, the paired judgement of `judge_drop`: the row fails when any class fails."""
    threshold = ctx.thresholds.threshold("max_class_drop")
    ref = ctx.predictions(teacher)
    if ref is None or ctx.predictions(model) is None:
        raise ConfigError(
            f"--significance needs per-sample predictions of '{model.name}' and the teacher (eval.json in the report)."
        )
    failing = []
    for cls in np.unique(ref.labels):
        paired = paired_between(ctx, teacher, model, ref.labels == cls)
        assert paired is not None  # both have per-sample predictions (checked above)
        status, _ = judge_drop(ctx, paired, threshold)
        if status == FAIL:
            failing.append(names[cls] if cls < len(names) else str(cls))
    if failing:
        verdict = (
            "not provably within the threshold" if ctx.thresholds.judgement() == "non-inferiority" else "significant"
        )
        return FAIL, detail + f"; {verdict} in {', '.join(failing)}"
    return PASS, detail + ("; above the threshold but not significantly" if worst > threshold else "")


def check_agreement(ctx: GateContext) -> list[CheckRow]:
    rows = []
    for model in ctx.artefacts:
        if model.agreement is None:
            rows.append(
                make_row(
                    ctx,
                    "min_agreement",
                    "agreement with teacher",
                    model,
                    None,
                    "%",
                    "min",
                    SKIP,
                    "no agreement recorded (evaluate with --teacher)",
                )
            )
        else:
            rows.append(make_row(ctx, "min_agreement", "agreement with teacher", model, model.agreement, "%", "min"))
    return rows


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


def check_size(ctx: GateContext) -> list[CheckRow]:
    rows = []
    for model in ctx.artefacts:
        if model.size_bytes is None:
            rows.append(make_row(ctx, "max_size_mb", "file size", model, None, "MB", "max", SKIP, "no size recorded"))
        else:
            rows.append(
                make_row(
                    ctx,
                    "max_size_mb",
                    "file size",
                    model,
                    model.size_bytes / 1e6,
                    "MB",
                    "max",
                    detail=f"{model.format} {model.precision}",
                )
            )
    return rows
