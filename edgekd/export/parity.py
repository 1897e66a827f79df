"""The parity gate: does an exported artefact compute what the PyTorch model computes?

Both run on the same real val images through the inference-backend layer. FP32 must agree on
top-1 for ≥ 99.9 % of the images with max |Δlogit| ≤ 1e-3; FP16 must agree on ≥ 99.5 % (its
max |Δ| is reported, not gated: half precision moves logits by ~1e-3 relative by design).

A flip on a near tie is not held against the artefact: where the reference's top-1 logit leads
the runner-up by at most `tie_margin` × the image's largest |logit|, rounding alone decides the
class, and which way it falls depends on the CPU's kernels (AVX2, AVX512, AMX and AVX512-FP16
machines sum in other orders). On a val split of ~150 images a single such flip would otherwise
fail a 99.5 % gate on one machine and pass on another. Raw agreement and the near-tie count are
both reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgekd.engine.metrics import Predictions
from edgekd.errors import CheckFailed


@dataclass(frozen=True)
class ParityGate:
    """Thresholds: agreement in percent, max |Δlogit| (None: reported only), and the relative
    top-1 margin under which a flip is a near tie (its precision's rounding, not a defect)."""

    min_agreement: float
    max_abs_diff: float | None
    tie_margin: float = 0.0


# FP32 runtimes differ by ~1e-6 of the logit scale; FP16 rounds every op to 2^-11 ≈ 5e-4 relative.
FP32_GATE = ParityGate(min_agreement=99.9, max_abs_diff=1e-3, tie_margin=1e-4)
FP16_GATE = ParityGate(min_agreement=99.5, max_abs_diff=None, tie_margin=1e-2)


@dataclass(frozen=True)
class ParityReport:
    """One candidate against its reference on the same images.

    Attributes:
        candidate, reference: what was compared (e.g. "onnx fp32", "torch").
        split, samples: which images and how many.
        agreement: share of images with the same top-1 class (percent).
        max_abs_diff, mean_abs_diff: |Δlogit| over all images and classes.
        gate: the thresholds applied; passed: whether both held.
        near_tie_flips: images whose class changed on a near tie (see the module docstring).
        gated_agreement: agreement counting near-tie flips as agreeing: what the gate judges.
    """

    candidate: str
    reference: str
    split: str
    samples: int
    agreement: float
    max_abs_diff: float
    mean_abs_diff: float
    gate: ParityGate
    passed: bool
    near_tie_flips: int = 0
    gated_agreement: float = 100.0

    def line(self) -> str:
        limit = f" (gate ≥ {self.gate.min_agreement:g} %" + (
            f", ≤ {self.gate.max_abs_diff:g})" if self.gate.max_abs_diff is not None else ")"
        )
        ties = (
            f" ({self.near_tie_flips} near-tie flip(s) excused: {self.gated_agreement:.2f} %)"
            if self.near_tie_flips
            else ""
        )
        return (
            f"{self.candidate} vs {self.reference} on {self.samples} {self.split} images: agreement "
            f"{self.agreement:.2f} %{ties}, max |Δlogit| {self.max_abs_diff:.2e}{limit}"
        )

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["gate"] = asdict(self.gate)
        return payload


def compare(
    reference: Predictions, candidate: Predictions, gate: ParityGate, *, names: tuple[str, str], split: str
) -> ParityReport:
    """Compare two sets of logits over the same images (no exception; see `enforce`)."""
    delta = (candidate.logits - reference.logits).abs()
    agreement = reference.agreement(candidate)
    max_abs = float(delta.max()) if delta.numel() else 0.0
    samples = len(reference.labels)
    flips, near_ties = _flips(reference, candidate, gate.tie_margin)
    gated = 100.0 * (samples - flips + near_ties) / samples if samples else 100.0
    passed = gated >= gate.min_agreement and (gate.max_abs_diff is None or max_abs <= gate.max_abs_diff)
    return ParityReport(
        candidate=names[1],
        reference=names[0],
        split=split,
        samples=len(reference.labels),
        agreement=agreement,
        max_abs_diff=max_abs,
        mean_abs_diff=float(delta.mean()) if delta.numel() else 0.0,
        gate=gate,
        passed=passed,
        near_tie_flips=near_ties,
        gated_agreement=gated,
    )


def _flips(reference: Predictions, candidate: Predictions, tie_margin: float) -> tuple[int, int]:
    """(images whose top-1 changed, those of them where the reference led by ≤ tie_margin × max |logit|)."""
    logits = reference.logits.float()
    if logits.numel() == 0:
        return 0, 0
    flipped = logits.argmax(dim=1) != candidate.logits.argmax(dim=1)
    if logits.shape[1] < 2 or tie_margin <= 0:
        return int(flipped.sum()), 0
    top2 = logits.topk(2, dim=1).values
    near_tie = top2[:, 0] - top2[:, 1] <= tie_margin * logits.abs().amax(dim=1)
    return int(flipped.sum()), int((flipped & near_tie).sum())


def enforce(report: ParityReport) -> ParityReport:
    """Raise `CheckFailed` (exit 1) when the gate did not hold."""
    if not report.passed:
        raise CheckFailed(
            f"parity failed: {report.line()}. The artefact was not written; try --exporter torchscript or another "
            "--opset."
        )
    return report
