"""Shared fixtures: real data (digits, PNG folders written here), the CLI run in-process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgekd.cli import main
from edgekd.data.dataset import FASHION_MNIST_DIRS

# Two threads like the machines the suite is sized for; also keeps runs repeatable.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run `edgekd ARGS…` in this process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def write_digit_pngs(
    root: Path, per_class: int = 12, classes: tuple[int, ...] = (0, 1, 2), size: int = 24
) -> list[Path]:
    """Write real scikit-learn digits as RGB PNGs under root/<class>/; returns the files."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    written = []
    for cls in classes:
        folder = root / f"digit{cls}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(bunch.images[bunch.target == cls][:per_class]):
            pixels = np.round(image * 255 / 16).astype(np.uint8)
            rgb = np.stack([pixels, 255 - pixels, pixels // 2], axis=-1)
            path = folder / f"{i:03d}.png"
            Image.fromarray(rgb).resize((size, size), Image.NEAREST).save(path)
            written.append(path)
    return written


@pytest.fixture
def imagefolder_split(tmp_path) -> Path:
    """An ImageFolder with train/ and val/ (no test/) of real digit images."""
    write_digit_pngs(tmp_path / "set" / "train", per_class=20)
    write_digit_pngs(tmp_path / "set" / "val", per_class=8)
    return tmp_path / "set"


def fashion_mnist_available() -> bool:
    candidates = [Path(os.environ["EDGEKD_DATA_DIR"])] if os.environ.get("EDGEKD_DATA_DIR") else []
    return any((d / "train-images-idx3-ubyte.gz").exists() for d in [*candidates, *FASHION_MNIST_DIRS])


needs_fashion_mnist = pytest.mark.skipif(
    not fashion_mnist_available(),
    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist (make test does this)",
)
