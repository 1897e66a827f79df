"""Sensitivity search (`--max-drop PTS`): keep the layers whose INT8 costs the most in float.

1. Quantize everything; if the val top-1 drop is within budget, stop.
2. Rank the weighted layers by what keeping each one alone in float buys back: the fall in
   KL(FP32 ‖ INT8) of the output distribution on a probe subset of val (one quantization per
   layer; the calibration ranges are computed once and reused).
3. Keep layers in float in that order, re-measuring the drop on the whole val split after each,
   until it is within budget. Every measurement is recorded.

The caller supplies the quantize and predict steps, so this module only decides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from edgekd.engine.metrics import Predictions
from edgekd.engine.progress import Progress


@dataclass
class SensitivityResult:
    """Outcome of the search.

    Attributes:
        budget: allowed val top-1 drop (points).
        drop_all_quantized: val top-1 drop with every layer quantized (points).
        drop: val top-1 drop of the chosen model (points).
        kept_in_float: node names left in float, most costly first.
        ranking: every candidate with its score (KL reduction when kept in float), best first.
        steps: (layers in float, val drop) after each greedy step.
        met: whether the budget holds for the chosen model.
        path: the chosen quantized model (a working file).
    """

    budget: float
    drop_all_quantized: float
    drop: float
    kept_in_float: list[str] = field(default_factory=list)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    met: bool = True
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.pop("path")
        return payload


def output_kl(reference: Predictions, candidate: Predictions) -> float:
    """Mean KL(reference ‖ candidate) of the softmax outputs (nats per image)."""
    log_p = torch.log_softmax(reference.logits.double(), dim=1)
    log_q = torch.log_softmax(candidate.logits.double(), dim=1)
    return float((log_p.exp() * (log_p - log_q)).sum(dim=1).mean())


def search(
    candidates: list[tuple[str, str]],
    quantize_with: Callable[[tuple[str, ...]], Path],
    predict_val: Callable[[Path], Predictions],
    predict_probe: Callable[[Path], Predictions],
    fp32_val: Predictions,
    fp32_probe: Predictions,
    budget: float,
    progress: Progress,
) -> SensitivityResult:
    """Find the fewest costly layers to keep in float for a val top-1 drop ≤ `budget` points.

    Args:
        candidates: (node name, op type) of the weighted layers that may stay in float.
        quantize_with: quantizes with these extra nodes in float; returns the model path.
        predict_val, predict_probe: run a quantized model over val / the probe subset.
        fp32_val, fp32_probe: the FP32 model's predictions on the same images.
    """
    fp32_top1 = fp32_val.top1()
    first = quantize_with(())
    drop = fp32_top1 - predict_val(first).top1()
    result = SensitivityResult(budget=budget, drop_all_quantized=drop, drop=drop, path=first)
    progress.log(
        f"sensitivity: all {len(candidates)} weighted layers in INT8 → val drop {drop:.2f} pt (budget {budget:g})"
    )
    if drop <= budget:
        return result
    base_kl = output_kl(fp32_probe, predict_probe(first))
    progress.start("ranking layers", total=len(candidates))
    scores = []
    for name, op_type in candidates:
        kl = output_kl(fp32_probe, predict_probe(quantize_with((name,))))
        scores.append({"node": name, "op_type": op_type, "kl_reduction": base_kl - kl})
        progress.advance(1)
    progress.finish({"ranked": len(scores), "kl_all_int8": round(base_kl, 5)})
    result.ranking = sorted(scores, key=lambda s: -s["kl_reduction"])
    kept: list[str] = []
    for entry in result.ranking:
        kept.append(entry["node"])
        path = quantize_with(tuple(kept))
        drop = fp32_top1 - predict_val(path).top1()
        result.steps.append({"in_float": len(kept), "node": entry["node"], "val_drop": drop})
        result.kept_in_float, result.drop, result.path = list(kept), drop, path
        if drop <= budget:
            progress.log(f"sensitivity: {len(kept)} layer(s) in float → val drop {drop:.2f} pt: {', '.join(kept)}")
            return result
    result.met = False
    return result
