"""`--bias-adjust`: raise the student's output bias of classes it never saw (Hinton et al. 2015, §3).

A student distilled without any image of a class learns that class only from the teachers'
soft targets on other images; its logit for it is then systematically too low. Adding a shift
s to that class's output bias (the classifier's bias term, so the saved and exported student
carry it) moves its decision boundary without touching anything else.

Rule of `auto` (one shift s shared by all never-seen classes, a 1-D search):
    s* = argmax_{s >= 0} val top-1(s), the smallest maximiser, moved to the middle of the
         interval of s over which that val top-1 holds (a margin on both sides).
val top-1 is `--data`'s val split, held out before any class was dropped, so it holds every
class in its natural proportions: maximising it maximises the expected accuracy on data like
val, trading the never-seen classes' recall against the false alarms it costs the others. The
search is exact: predictions only change where s crosses a sample's margin
m = max(other logits) − max(never-seen logits), so val top-1 is evaluated at every such margin.
Test is never looked at. `NAME=VALUE[,NAME=VALUE]` sets the shifts by hand instead.

`auto:TOL` (TOL in percentage points) trades overall accuracy for the never-seen classes on
purpose: among the shifts whose val top-1 is at most TOL points below the best val top-1,
take the one with the highest val recall of the never-seen classes (smallest such s, middle
of its interval). `auto` is `auto:0`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edgekd.engine import Predictions
from edgekd.errors import ConfigError, ModelError


@dataclass
class BiasShift:
    """Shifts added to the output bias of some classes.

    Attributes:
        shifts: class index → shift (logit units).
        rule: `auto` or `manual`.
        val_top1_before, val_top1_after: val top-1 (percent) without and with the shifts.
    """

    shifts: dict[int, float]
    rule: str
    val_top1_before: float | None = None
    val_top1_after: float | None = None
    tolerance: float = 0.0

    def apply_to_logits(self, logits: torch.Tensor) -> torch.Tensor:
        shifted = logits.clone()
        for cls, value in self.shifts.items():
            shifted[:, cls] += value
        return shifted

    def apply_to_predictions(self, predictions: Predictions | None) -> Predictions | None:
        if predictions is None:
            return None
        return Predictions(self.apply_to_logits(predictions.logits), predictions.labels)

    def describe(self, class_names: list[str]) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "tolerance_pts": self.tolerance if self.rule == "auto" else None,
            "shifts": {class_names[c]: v for c, v in sorted(self.shifts.items())},
            "chosen_on": "val" if self.rule == "auto" else "given",
            "val_top1_before": self.val_top1_before,
            "val_top1_after": self.val_top1_after,
        }


def parse_bias_adjust(text: str, class_names: list[str], unseen: list[int]) -> dict[int, float] | float:
    """`auto[:TOL]` → TOL (float, points of val top-1 given up at most; 0 for `auto`), or
    `NAME=VALUE[,NAME=VALUE…]` → {class index: shift}; names must be never-seen classes."""
    head, colon, tol = text.strip().lower().partition(":")
    if head == "auto":
        try:
            tolerance = float(tol) if colon else 0.0
        except ValueError:
            tolerance = -1.0
        if not 0.0 <= tolerance < 100.0:
            raise ConfigError(
                f"--bias-adjust auto:TOL takes TOL in val top-1 points, >= 0 (e.g. auto:2); got '{text}'."
            )
        return tolerance
    shifts: dict[int, float] = {}
    for item in text.split(","):
        name, sep, value = item.rpartition("=")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or number is None:
            raise ConfigError(f"--bias-adjust takes 'auto' or NAME=VALUE[,NAME=VALUE], e.g. Sandal=3.5; got '{text}'.")
        if name not in class_names:
            raise ConfigError(f"--bias-adjust: no class named '{name}'; the classes are: {', '.join(class_names)}.")
        if class_names.index(name) not in unseen:
            raise ConfigError(
                f"--bias-adjust: '{name}' is not a class the student never saw (those are: "
                f"{', '.join(class_names[c] for c in unseen)})."
            )
        shifts[class_names.index(name)] = number
    return shifts


def choose_shift(val: Predictions, unseen: list[int], tolerance: float = 0.0) -> tuple[float, float, float]:
    """The `auto[:tolerance]` shift for the never-seen classes `unseen`, from val predictions.

    Returns:
        (shift s*, val top-1 at s = 0, val top-1 at s*), top-1 in percent.
    """
    logits, labels = val.logits.float(), val.labels
    mask = torch.zeros(logits.shape[1], dtype=torch.bool)
    mask[unseen] = True
    seen_best, seen_arg = logits.masked_fill(mask, float("-inf")).max(dim=1)
    unseen_best, unseen_arg = logits.masked_fill(~mask, float("-inf")).max(dim=1)
    margin = seen_best - unseen_best  # the sample's prediction flips to unseen_arg once s > margin
    right_if_below = labels.eq(seen_arg)  # correct while s <= margin
    right_if_above = labels.eq(unseen_arg)  # correct once s > margin
    # Candidate intervals start at 0 and at every positive margin: s in (m_k, m_{k+1}].
    points = torch.unique(torch.cat([torch.zeros(1), margin[margin > 0]]))
    below_margins, _ = margin[right_if_below].sort()
    above_margins, _ = margin[right_if_above].sort()

    # For s just above point p (p = 0: s = 0 exactly counts as "below" for margins >= 0).
    def correct_at(p: torch.Tensor, inclusive: bool) -> torch.Tensor:
        side = "left" if inclusive else "right"
        still_below = len(below_margins) - torch.searchsorted(below_margins, p, side=side)
        flipped = torch.searchsorted(above_margins, p, side=side)
        return still_below + flipped

    at_zero = int(correct_at(torch.zeros(1), True)[0])
    after = correct_at(points, False)  # s in (p_k, p_{k+1}]
    best = int(after.max())
    if tolerance > 0:
        # Never-seen samples the shift gets right: label == their best never-seen class, s > margin.
        gained, _ = margin[right_if_above & mask[labels]].sort()
        recall_after = torch.searchsorted(gained, points, side="right")
        recall_zero = int(torch.searchsorted(gained, torch.zeros(1), side="left")[0])
        floor = max(best, at_zero) - tolerance / 100.0 * len(labels)
        feasible = after >= floor - 1e-9
        if not bool(feasible.any()) or int(recall_after[feasible].max()) <= recall_zero:
            return 0.0, 100.0 * at_zero / len(labels), 100.0 * at_zero / len(labels)
        top = int(recall_after[feasible].max())
        k = int(torch.nonzero(feasible & (recall_after == top))[0, 0])
        low = float(points[k])
        high = float(points[k + 1]) if k + 1 < len(points) else low + 1.0
        return (low + high) / 2, 100.0 * at_zero / len(labels), 100.0 * int(after[k]) / len(labels)
    if best <= at_zero:
        return 0.0, 100.0 * at_zero / len(labels), 100.0 * at_zero / len(labels)
    k = int(torch.nonzero(after == best)[0, 0])
    low = float(points[k])
    high = float(points[k + 1]) if k + 1 < len(points) else low + 1.0  # open-ended: 1 logit of margin
    return (low + high) / 2, 100.0 * at_zero / len(labels), 100.0 * best / len(labels)


def classifier_bias(model: nn.Module) -> torch.Tensor:
    """The output bias of a timm classifier (`get_classifier()`), as a parameter."""
    get_classifier = getattr(model, "get_classifier", None)  # timm models have one
    head = get_classifier() if get_classifier is not None else None
    if not isinstance(head, nn.Linear) or head.bias is None:
        raise ModelError(
            f"--bias-adjust needs a linear classifier with a bias; {type(model).__name__}'s head is "
            f"{type(head).__name__}."
        )
    return head.bias


@torch.no_grad()
def apply_shift(model: nn.Module, shift: BiasShift) -> None:
    """Add the shifts to the model's classifier bias in place (exported models carry them)."""
    bias = classifier_bias(model)
    for cls, value in shift.shifts.items():
        bias[cls] += value
