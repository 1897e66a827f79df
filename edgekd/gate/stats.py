"""Paired statistics on per-sample correctness: is an accuracy drop real or test-set noise?

Two models scored on the same samples give, per sample, a pair (reference correct, candidate
correct). Only the discordant pairs carry information about the difference:
`b` = reference right and candidate wrong, `c` = reference wrong and candidate right. The drop
in points is `100 · (b − c) / n`.

- McNemar's test asks whether the drop differs from zero: exact two-sided binomial test on
  `b` out of `m = b + c` at p = 1/2, or the χ² statistic with continuity correction when there
  are very many discordant pairs (then the approximation is excellent).
- The bounds of the drop come from the same exact model: given `m`, `b ~ Binomial(m, π)` and
  the drop is `100 · m (2π − 1) / n`, so Clopper–Pearson bounds on π give bounds on the drop.
  With few discordant pairs a bootstrap interval is far too narrow (3 errors out of 3 look
  "certain"); this one is exact, and for a threshold of 0 it is McNemar's one-sided test.

The gate's `--significance` rule fails a drop only when the one-sided lower confidence bound
of the drop exceeds the threshold, i.e. the data show the drop is larger than allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Above this many discordant pairs McNemar's χ² approximation replaces the exact binomial sum.
EXACT_LIMIT = 5000


@dataclass(frozen=True)
class PairedDrop:
    """How much worse a candidate is than a reference on the same samples.

    Attributes:
        n: paired samples.
        b: reference correct, candidate wrong.
        c: reference wrong, candidate correct.
        drop_pts: point estimate of the top-1 drop, percentage points (negative: a gain).
        lower_pts: one-sided lower confidence bound of the drop at level 1 − alpha (points).
        upper_pts: one-sided upper confidence bound (points).
        p_value: McNemar's two-sided p-value for "the drop is zero".
        test: "mcnemar-exact" or "mcnemar-chi2".
        alpha: the level the bounds were drawn at.
    """

    n: int
    b: int
    c: int
    drop_pts: float
    lower_pts: float
    upper_pts: float
    p_value: float
    test: str
    alpha: float

    def significantly_above(self, threshold_pts: float) -> bool:
        """True when the drop exceeds `threshold_pts` even at its lower confidence bound."""
        return self.lower_pts > threshold_pts

    def describe(self) -> str:
        level = round(100 * (1 - self.alpha))
        return f"{level}% bounds [{self.lower_pts:+.2f}, {self.upper_pts:+.2f}] pts, McNemar p={self.p_value:.3g} (b={self.b}, c={self.c}, n={self.n})"


def mcnemar_p_value(b: int, c: int) -> tuple[float, str]:
    """Two-sided McNemar p-value for discordant counts `b` and `c`.

    Returns:
        (p, test name). With no discordant pairs the models agree everywhere: p = 1.
    """
    discordant = b + c
    if discordant == 0:
        return 1.0, "mcnemar-exact"
    if discordant > EXACT_LIMIT:
        statistic = (abs(b - c) - 1) ** 2 / discordant
        return math.erfc(math.sqrt(statistic / 2)), "mcnemar-chi2"
    # Exact: P(X <= min(b, c)) doubled, X ~ Binomial(b + c, 1/2), summed in log space.
    k = min(b, c)
    log_half = discordant * math.log(0.5)
    log_terms = [math.lgamma(discordant + 1) - math.lgamma(i + 1) - math.lgamma(discordant - i + 1) + log_half for i in range(k + 1)]
    peak = max(log_terms)
    tail = math.exp(peak) * sum(math.exp(t - peak) for t in log_terms)
    return min(1.0, 2.0 * tail), "mcnemar-exact"


def _clopper_pearson(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """One-sided exact bounds (each at level 1 − alpha) of a binomial proportion."""
    from scipy.stats import beta

    lower = 0.0 if successes == 0 else float(beta.ppf(alpha, successes, trials - successes + 1))
    upper = 1.0 if successes == trials else float(beta.ppf(1 - alpha, successes + 1, trials - successes))
    return lower, upper


def paired_drop(reference_correct: np.ndarray, candidate_correct: np.ndarray, *, alpha: float = 0.05) -> PairedDrop:
    """Drop of the candidate's accuracy against the reference on the same samples.

    Args:
        reference_correct: (n,) bool, whether the reference model got each sample right.
        candidate_correct: (n,) bool, same samples in the same order.
        alpha: one-sided error level of the bounds (0.05 → 95 % one-sided bounds).
    """
    reference_correct = np.asarray(reference_correct, dtype=bool)
    candidate_correct = np.asarray(candidate_correct, dtype=bool)
    if reference_correct.shape != candidate_correct.shape or reference_correct.ndim != 1:
        raise ValueError("paired samples must be two 1-D arrays of the same length")
    n = int(reference_correct.size)
    if n == 0:
        raise ValueError("no paired samples")
    b = int(np.count_nonzero(reference_correct & ~candidate_correct))
    c = int(np.count_nonzero(~reference_correct & candidate_correct))
    discordant = b + c
    if discordant == 0:
        lower = upper = 0.0
    else:
        low_share, high_share = _clopper_pearson(b, discordant, alpha)
        lower = 100.0 * discordant * (2 * low_share - 1) / n
        upper = 100.0 * discordant * (2 * high_share - 1) / n
    p_value, test = mcnemar_p_value(b, c)
    return PairedDrop(n, b, c, 100.0 * (b - c) / n, lower, upper, p_value, test, alpha)
