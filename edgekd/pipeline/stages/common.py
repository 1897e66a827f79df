"""Helpers the stage planners share: data identity, config payloads, locating section errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from edgekd.data import DataConfig, parse_spec
from edgekd.errors import ConfigError, EdgekdError
from edgekd.pipeline.config import Pipeline
from edgekd.pipeline.plan import Artefact


def data_identity(data: DataConfig) -> tuple[dict[str, Path], dict[str, Any]]:
    """What makes a dataset spec the same data as last time, cheaply.

    Returns:
        (input files to hash, extra config values). Fashion-MNIST and CIFAR: their files are
        hashed; an ImageFolder: a digest of every file's relative path, size and mtime (hashing
        the images themselves would take longer than some stages); digits: the scikit-learn
        version that ships it.
    """
    spec = parse_spec(data.spec)
    if spec.kind == "fashion-mnist":
        from edgekd.data.dataset import find_fashion_mnist  # the loader's own search order

        folder = find_fashion_mnist(data.data_dir)
        files = sorted(p for p in folder.iterdir() if p.name.startswith(("train-", "t10k-")))
        return {f"data:{p.name}": p for p in files}, {}
    if spec.kind == "digits":
        import sklearn

        return {}, {"digits_from_sklearn": sklearn.__version__}
    if spec.kind in ("cifar10", "cifar100"):
        files = sorted(p for p in spec.path.rglob("*") if p.is_file())
        return {f"data:{p.relative_to(spec.path)}": p for p in files}, {}
    digest = hashlib.sha256()
    count = 0
    for folder, dirs, names in os.walk(spec.path):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            stat = path.stat()
            digest.update(f"{path.relative_to(spec.path)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
            count += 1
    return {}, {"imagefolder_listing": digest.hexdigest(), "imagefolder_files": count}


def local_file(value: str | None) -> Path | None:
    """A path-like option (pretrained weights, calibration spec) that names an existing file."""
    if value is None or value == "cache":
        return None
    path = Path(value).expanduser()
    return path if path.is_file() else None


def without(payload: dict[str, Any], *keys: str) -> dict[str, Any]:
    """A describe() payload minus where the run writes (moving runs_dir must not rerun anything)."""
    return {k: v for k, v in payload.items() if k not in keys}


def section_error(pipeline: Pipeline, exc: EdgekdError, *key: Any) -> ConfigError:
    """A stage's own validation error (worded for CLI flags), pointed at the pipeline's key."""
    return ConfigError(f"{pipeline.where(*key)}: '{'.'.join(map(str, key))}': {exc}")


def artefact_inputs(*artefacts: Artefact) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for artefact in artefacts:
        files.update(artefact.input_files())
    return files
