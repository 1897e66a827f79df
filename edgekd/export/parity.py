"""The parity gate: does an exported artefact compute what the PyTorch model computes?

Both run on the same real val images through the inference-backend layer. FP32 must agree on
top-1 for ≥ 99.9 % of the images with max |Δlogit| ≤ 1e-3; FP16 must agree on ≥ 99.5 % (its
max |Δ| is reported, not gated: half precision moves logits by ~1e-3 relative by design).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgekd.engine.metrics import Predictions
from edgekd.errors import CheckFailed


@dataclass(frozen=True)
class ParityGate:
    """Thresholds: agreement in percent, max |Δlogit| (None: reported only)."""

    min_agreement: float
    max_abs_diff: float | None


FP32_GATE = ParityGate(min_agreement=99.9, max_abs_diff=1e-3)
FP16_GATE = ParityGate(min_agreement=99.5, max_abs_diff=None)


@dataclass(frozen=True)
class ParityReport:
    """One candidate against its reference on the same images.

    Attributes:
        candidate, reference: what was compared (e.g. "onnx fp32", "torch").
        split, samples: which images and how many.
        agreement: share of images with the same top-1 class (percent).
        max_abs_diff, mean_abs_diff: |Δlogit| over all images and classes.
        gate: the thresholds applied; passed: whether both held.
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

    def line(self) -> str:
        limit = f" (gate ≥ {self.gate.min_agreement:g} %" + (f", ≤ {self.gate.max_abs_diff:g})" if self.gate.max_abs_diff is not None else ")")
        return f"{self.candidate} vs {self.reference} on {self.samples} {self.split} images: agreement {self.agreement:.2f} %, max |Δlogit| {self.max_abs_diff:.2e}{limit}"

    def to_dict(self) -> dict:
        payload = asdict(self)
        payload["gate"] = asdict(self.gate)
        return payload


def compare(reference: Predictions, candidate: Predictions, gate: ParityGate, *, names: tuple[str, str], split: str) -> ParityReport:
    """Compare two sets of logits over the same images (no exception; see `enforce`)."""
    delta = (candidate.logits - reference.logits).abs()
    agreement = reference.agreement(candidate)
    max_abs = float(delta.max()) if delta.numel() else 0.0
    passed = agreement >= gate.min_agreement and (gate.max_abs_diff is None or max_abs <= gate.max_abs_diff)
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
    )


def enforce(report: ParityReport) -> ParityReport:
    """Raise `CheckFailed` (exit 1) when the gate did not hold."""
    if not report.passed:
        raise CheckFailed(f"parity failed: {report.line()}. The artefact was not written; try --exporter torchscript or another --opset.")
    return report
