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

- Those bounds are conditional on `m`: the upper one can never exceed `100 · m / n`, so on a
  small test set with few discordant pairs it claims more certainty than the data hold (20
  images with no disagreement would "prove" a drop of at most 0). A bound meant to *clear* a
  release must also carry the uncertainty of `m` itself: `score_upper_pts` is Tango's score
  bound for a difference of paired proportions (Tango 1998, the one the paired 2×2 literature
  recommends; at a drop of 0 its statistic is McNemar's z), found by root search.

The gate's `--significance` judges a drop in one of two modes (`GateThresholds.significance_mode`):
`inferiority` fails it only when the lower bound exceeds the threshold (the data prove the drop
is larger than allowed; the doubt goes to the artefact); `non-inferiority` passes it only when
`score_upper_pts` is within the threshold (the data prove the drop is small enough; the doubt
goes to the reference), which is what a release gate on a small test set needs.
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
        upper_pts: one-sided upper confidence bound (points), exact given the discordant count.
        score_upper_pts: Tango's one-sided score upper bound at the same level (points): also
            accounts for how many discordant pairs there happened to be; non-inferiority reads it.
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
    score_upper_pts: float
    p_value: float
    test: str
    alpha: float

    def significantly_above(self, threshold_pts: float) -> bool:
        """True when the drop exceeds `threshold_pts` even at its lower confidence bound."""
        return self.lower_pts > threshold_pts

    def provably_within(self, threshold_pts: float) -> bool:
        """True when even the score upper confidence bound of the drop is within `threshold_pts`."""
        return self.score_upper_pts <= threshold_pts

    def describe(self) -> str:
        level = round(100 * (1 - self.alpha))
        return (
            f"{level}% bounds [{self.lower_pts:+.2f}, {self.upper_pts:+.2f}] pts, "
            f"score upper {self.score_upper_pts:+.2f} pts, "
            f"McNemar p={self.p_value:.3g} (b={self.b}, c={self.c}, n={self.n})"
        )


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
    log_terms = [
        math.lgamma(discordant + 1) - math.lgamma(i + 1) - math.lgamma(discordant - i + 1) + log_half
        for i in range(k + 1)
    ]
    peak = max(log_terms)
    tail = math.exp(peak) * sum(math.exp(t - peak) for t in log_terms)
    return min(1.0, 2.0 * tail), "mcnemar-exact"


def _clopper_pearson(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """One-sided exact bounds (each at level 1 − alpha) of a binomial proportion."""
    from scipy.stats import beta

    lower = 0.0 if successes == 0 else float(beta.ppf(alpha, successes, trials - successes + 1))
    upper = 1.0 if successes == trials else float(beta.ppf(1 - alpha, successes + 1, trials - successes))
    return lower, upper


def tango_statistic(delta: float, b: int, c: int, n: int) -> float:
    """Tango's score statistic for "the drop share is `delta`" (b, c discordant counts of n pairs)."""
    numerator = b - c - n * delta
    if numerator == 0:
        return 0.0
    # p_c's maximum-likelihood estimate under the constraint p_b − p_c = delta (a quadratic's root).
    quad_a, quad_b, quad_c = 2 * n, -b - c + (2 * n - b + c) * delta, -c * delta * (1 - delta)
    restricted_pc = (math.sqrt(max(quad_b * quad_b - 4 * quad_a * quad_c, 0.0)) - quad_b) / (2 * quad_a)
    variance = n * (2 * restricted_pc + delta * (1 - delta))
    return numerator / math.sqrt(variance) if variance > 0 else math.copysign(math.inf, numerator)


def score_upper_bound(b: int, c: int, n: int, alpha: float) -> float:
    """Tango's one-sided upper bound (level 1 − alpha) of the drop share `p_b − p_c`, in [−1, 1]."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha))
    estimate, top = (b - c) / n, 1.0 - 1e-12
    if estimate >= top or tango_statistic(top, b, c, n) + z >= 0:
        return 1.0
    # The statistic falls as delta rises: the bound is where it reaches −z.
    return float(brentq(lambda delta: tango_statistic(delta, b, c, n) + z, estimate, top, xtol=1e-10))


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
    score_upper = 100.0 * score_upper_bound(b, c, n, alpha)
    return PairedDrop(n, b, c, 100.0 * (b - c) / n, lower, upper, score_upper, p_value, test, alpha)
