"""Accuracy figures and the evaluation pass shared by training and `edgekd eval`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from edgekd.data import BatchLoader, ModelInput, to_unit_float


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[torch.Tensor]:
    """Number of samples whose label is within the top-k logits, for each k (0-dim tensors)."""
    max_k = min(max(ks), logits.shape[1])
    top = logits.topk(max_k, dim=1).indices
    hits = top.eq(labels[:, None])
    return [hits[:, : min(k, max_k)].any(dim=1).sum() for k in ks]


@dataclass
class Predictions:
    """Outputs of a model over a split.

    Attributes:
        logits: (N, num_classes) float32 on CPU, in split order.
        labels: (N,) int64.
    """

    logits: torch.Tensor
    labels: torch.Tensor

    @property
    def predicted(self) -> torch.Tensor:
        return self.logits.argmax(dim=1)

    def top1(self) -> float:
        """Top-1 accuracy in percent (NaN for an empty split)."""
        if len(self.labels) == 0:
            return float("nan")
        return 100.0 * self.predicted.eq(self.labels).float().mean().item()

    def top5(self) -> float:
        """Top-5 accuracy in percent (equals 100 when there are ≤ 5 classes)."""
        if len(self.labels) == 0:
            return float("nan")
        return 100.0 * topk_correct(self.logits, self.labels, (5,))[0].item() / len(self.labels)

    def per_class(self, num_classes: int) -> list[float | None]:
        """Accuracy in percent per class (None for a class absent from the split)."""
        result = []
        for cls in range(num_classes):
            mask = self.labels == cls
            result.append(None if not mask.any() else 100.0 * self.predicted[mask].eq(cls).float().mean().item())
        return result

    def agreement(self, other: "Predictions") -> float:
        """Share (percent) of samples where both predict the same class."""
        return 100.0 * self.predicted.eq(other.predicted).float().mean().item()

    def versus(self, other: "Predictions") -> dict[str, float | int]:
        """Paired comparison with another model on the same samples: how many only this one gets
        right, how many only the other, and the exact McNemar p-value of that split (two-sided
        binomial test on the discordant samples) — whether a top-1 difference is beyond noise."""
        from scipy.stats import binomtest

        mine, theirs = self.predicted.eq(self.labels), other.predicted.eq(other.labels)
        only_mine, only_theirs = int((mine & ~theirs).sum()), int((theirs & ~mine).sum())
        discordant = only_mine + only_theirs
        p_value = binomtest(only_mine, discordant, 0.5).pvalue if discordant else 1.0
        return {"only_this_right": only_mine, "only_other_right": only_theirs, "mcnemar_p": float(p_value)}


@torch.no_grad()
def predict(
    model: nn.Module, model_input: ModelInput, loader: BatchLoader, device: torch.device, precision=None
) -> Predictions:
    """Run `model` over every batch of an unshuffled loader (no augmentation).

    The pixels are resized from storage size to the model's input size by `model_input`.
    """
    model.eval()
    model_input = model_input.to(device)
    size = (model_input.spec.size, model_input.spec.size)
    logits, labels = [], []
    for batch in loader.epoch(0):
        pixels = to_unit_float(batch.images.to(device, non_blocking=True), size).contiguous(
            memory_format=torch.channels_last
        )
        with precision.autocast() if precision is not None else torch.autocast(device.type, enabled=False):
            out = model(model_input(pixels))
        logits.append(out.float().cpu())
        labels.append(batch.labels)
    if not logits:
        return Predictions(torch.empty(0, 0), torch.empty(0, dtype=torch.int64))
    return Predictions(torch.cat(logits), torch.cat(labels))


def accuracy_summary(predictions: Predictions | None, num_classes: int) -> dict | None:
    """top-1/top-5 (percent) and per-class accuracy of one split, or None when it is empty."""
    if predictions is None:
        return None
    return {
        "top1": predictions.top1(),
        "top5": predictions.top5(),
        "per_class": predictions.per_class(num_classes),
        "count": len(predictions.labels),
    }
