"""What every gate check reads and how it writes a row: the report, baseline and thresholds
(`GateContext`), one row per artefact × backend × device × batch (`make_row`), and the paired
top-1 drop between two models judged under the gate's significance mode.

A row passes, fails, or is skipped with its reason in plain words (no measurement at that
batch, a baseline from another machine under `--allow-foreign-baseline`, …). A threshold that
could not be checked on any selected artefact is bad input, not a pass (the gate refuses it).
The checks themselves live one family per module (accuracy, latency, size, int8, gain) and are
listed in `edgekd.gate.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def drop_row(ctx: GateContext, check: str, label: str, reference: GateModel, model: GateModel) -> CheckRow:
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
