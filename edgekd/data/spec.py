"""Parsing dataset specs: `fashion-mnist`, `digits`, `imagefolder:PATH`, `cifar10:PATH`, `unlabeled:PATH`, …"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from edgekd.errors import DataError

BUILTIN_KINDS = ("fashion-mnist", "digits")
PATH_KINDS = (
    "imagefolder",
    "cifar10",
    "cifar100",
    "unlabeled",
)  # unlabeled: transfer sets only (edgekd.data.unlabeled)
ALL_KINDS = BUILTIN_KINDS + PATH_KINDS


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec.

    Args:
        kind: one of `ALL_KINDS`.
        path: the folder for path-based kinds, None for built-in sets.
    """

    kind: str
    path: Path | None = None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"

    def folder(self) -> Path:
        """The PATH of a `kind:PATH` spec (`parse_spec` gives one to every kind in `PATH_KINDS`)."""
        if self.path is None:
            raise DataError(f"'{self}' needs a folder: {self.kind}:PATH.")
        return self.path


def parse_spec(text: str) -> DatasetSpec:
    """Parse a spec string; unknown kinds fail with the close matches."""
    text = text.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if kind in ("fmnist", "fashion_mnist", "fashionmnist"):
        kind = "fashion-mnist"
    if kind not in ALL_KINDS:
        close = difflib.get_close_matches(kind, ALL_KINDS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise DataError(
            f"unknown dataset spec '{text}'.{hint} Known: "
            f"{', '.join(k + (':PATH' if k in PATH_KINDS else '') for k in ALL_KINDS)}."
        )
    if kind in PATH_KINDS:
        if not sep or not rest:
            raise DataError(f"dataset spec '{text}' needs a path: write '{kind}:PATH'.")
        path = Path(rest).expanduser()
        if not path.exists():
            raise DataError(f"dataset path not found: {path} (from spec '{text}').")
        if not path.is_dir():
            raise DataError(f"dataset path is not a folder: {path} (from spec '{text}').")
        return DatasetSpec(kind, path.resolve())
    if sep:
        raise DataError(f"dataset '{kind}' takes no path; for a local copy use --data-dir or $EDGEKD_DATA_DIR.")
    return DatasetSpec(kind)
