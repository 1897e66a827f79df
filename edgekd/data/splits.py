"""Seeded, stratified index selection: held-out val/test splits and training subsets."""

from __future__ import annotations

import numpy as np

from edgekd.errors import DataError


def resolve_count(size: float, total: int, what: str) -> int:
    """A size given as a fraction (< 1) or a count (>= 1) → a count of samples."""
    if size < 0:
        raise DataError(f"{what} must be >= 0, got {size}.")
    count = int(round(size * total)) if size < 1 else int(size)
    if count >= total:
        raise DataError(f"{what}={size} would take {count} of {total} samples; use a smaller value.")
    return count


def stratified_split(labels: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pick `count` indices with class proportions kept (largest remainder), seeded.

    Returns:
        (kept, picked) index arrays, both sorted.
    """
    if count <= 0:
        return np.arange(len(labels)), np.array([], dtype=np.int64)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts / counts.sum() * count
    quota = np.floor(exact).astype(int)
    # Hand out the remaining picks to the classes with the largest fractional parts.
    for position in np.argsort(-(exact - quota), kind="stable")[: count - quota.sum()]:
        quota[position] += 1
    picked = []
    for cls, take in zip(classes, quota):
        members = np.flatnonzero(labels == cls)
        picked.append(rng.permutation(members)[: min(take, len(members))])
    picked_idx = np.sort(np.concatenate(picked)) if picked else np.array([], dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), picked_idx, assume_unique=True)
    return kept, picked_idx


def stratified_subset(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of a seeded stratified subset of `limit` samples (all of them if limit >= len)."""
    if limit >= len(labels):
        return np.arange(len(labels))
    _, picked = stratified_split(labels, limit, seed)
    return picked
