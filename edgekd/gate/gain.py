"""`--min-gain-vs-alone PTS`: a distilled student must beat the same recipe and seed trained alone.

The report pairs each distilled student with its student-alone twin (method `none`,
`edgekd.report.gain`). The gain is measured on the two models' own evaluations, paired on the
same test images, and judged like the drop checks: on the point estimate, or with
`--significance` / `--significance-mode` on the paired bounds of the drop of the distilled
student below the one trained alone, against −PTS. It judges the recipe, so it reads the
students of the report whatever `--artefact` selects.
"""

from __future__ import annotations

from edgekd.errors import ConfigError
from edgekd.gate.context import GateContext, judge_drop, make_row, paired_between
from edgekd.gate.rows import SKIP, CheckRow
from edgekd.report import schema

CHECK, LABEL = "min_gain_vs_alone", "top-1 gain vs student alone"


def check_gain_vs_alone(ctx: GateContext) -> list[CheckRow]:
    pairs = [(d.model, d.alone) for d in schema.load_report(ctx.report.path).distillation if d.alone]
    if not pairs:
        raise ConfigError(
            "--min-gain-vs-alone needs a distilled student and the same recipe and seed trained alone in "
            f"{ctx.report.path}: "
            "add 'none' to the pipeline's distill methods (e.g. methods: [kd, none]) or report an 'edgekd distill "
            "--method none' run beside it."
        )
    rows = []
    for name, alone_name in pairs:
        model, alone = ctx.report.find(name), ctx.report.find(alone_name)
        if model is None or alone is None or model.top1 is None or alone.top1 is None:
            missing = name if model is None or model.top1 is None else alone_name
            placeholder = model or alone or next(iter(ctx.artefacts))
            rows.append(
                make_row(
                    ctx,
                    CHECK,
                    LABEL,
                    placeholder,
                    None,
                    "pts",
                    "min",
                    SKIP,
                    f"no test top-1 for '{missing}' (not evaluated)",
                )
            )
            continue
        gain = model.top1 - alone.top1
        detail = f"{model.top1:.2f} % vs {alone.top1:.2f} % ({alone.name})"
        paired = paired_between(ctx, alone, model)
        if paired is not None:
            gain = -paired.drop_pts  # from the samples, so the gain and its bounds agree
            detail += f"; {paired.describe()}"
        if not ctx.thresholds.significance:
            rows.append(make_row(ctx, CHECK, LABEL, model, gain, "pts", "min", detail=detail))
            continue
        if paired is None:
            raise ConfigError(
                f"--significance needs per-sample predictions of '{name}' and '{alone_name}' (eval.json in the "
                "report): rerun 'edgekd eval' and 'edgekd report', or drop --significance."
            )
        # A gain of at least PTS is a drop below the student alone of at most −PTS.
        status, why = judge_drop(ctx, paired, -ctx.thresholds.threshold("min_gain_vs_alone"))
        rows.append(
            make_row(
                ctx,
                CHECK,
                LABEL,
                model,
                gain,
                "pts",
                "min",
                status,
                detail + (f"; {why} (as a drop below the student alone)" if why else ""),
            )
        )
    return rows
