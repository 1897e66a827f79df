"""Accuracy checks: top-1 drop below the teacher or the baseline, the worst class's drop, and
agreement with the teacher (point estimates, or paired tests under `--significance`)."""

from __future__ import annotations

import numpy as np

from edgekd.errors import ConfigError
from edgekd.gate.context import GateContext, drop_row, judge_drop, make_row, paired_between
from edgekd.gate.inputs import GateModel
from edgekd.gate.rows import FAIL, PASS, SKIP, CheckRow


def check_drop_vs_teacher(ctx: GateContext) -> list[CheckRow]:
    teacher = ctx.teacher("--max-drop-vs-teacher")
    return [
        drop_row(ctx, "max_drop_vs_teacher", "top-1 drop vs teacher", teacher, m)
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
            rows.append(drop_row(ctx, "max_drop_vs_baseline", "top-1 drop vs baseline", reference, model))
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
