"""CIFAR-10/100 'python version' batches, read with an unpickler that accepts only plain data.

The official batches are pickles. A pickle can run arbitrary code when loaded, so instead of
`pickle.load` we allow exactly the globals that numpy arrays need and nothing else.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from edgekd.errors import DataError

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles of bytes made under Python 3
}


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}': only plain data is accepted")


def load_plain_pickle(path: Path) -> dict[str, Any]:
    """Load a pickle that may contain only dicts, lists, strings, numbers, bytes and numpy arrays."""
    try:
        with open(path, "rb") as handle:
            payload = _PlainDataUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{path} is not a plain-data CIFAR batch: {exc}.") from exc
    if not isinstance(payload, dict):
        raise DataError(f"{path} is not a CIFAR batch (expected a dict, got {type(payload).__name__}).")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in payload.items()}


def _batch_arrays(batch: dict[str, Any], label_key: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in batch or label_key not in batch:
        raise DataError(f"{path} lacks 'data' or '{label_key}'.")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}.")
    labels = np.asarray(batch[label_key], dtype=np.int64)
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar(root: Path, kind: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str]]:
    """Read a CIFAR folder (`data_batch_1..5` + `test_batch`, or `train` + `test` for CIFAR-100).

    Returns:
        ((train_images NCHW uint8, train_labels), (test_images, test_labels), class_names)
    """
    # Accept both the folder itself and its parent (the tarball unpacks into cifar-10-batches-py/).
    for candidate in (root, root / "cifar-10-batches-py", root / "cifar-100-python"):
        if (candidate / "test_batch").exists() or (candidate / "test").exists():
            root = candidate
            break
    if kind == "cifar10":
        train_files = sorted(root.glob("data_batch_*"))
        test_files, meta_file, label_key, names_key = (
            [root / "test_batch"],
            root / "batches.meta",
            "labels",
            "label_names",
        )
    else:
        train_files = [root / "train"]
        test_files, meta_file, label_key, names_key = [root / "test"], root / "meta", "fine_labels", "fine_label_names"
    missing = [p.name for p in [*train_files, *test_files] if not p.exists()]
    if not train_files or missing:
        raise DataError(
            f"{root} is not a {kind} python-batches folder (missing {', '.join(missing) or 'data_batch_*'})."
        )
    splits = []
    for files in (train_files, test_files):
        parts = [_batch_arrays(load_plain_pickle(p), label_key, p) for p in files]
        splits.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    num_classes = int(max(splits[0][1].max(), splits[1][1].max())) + 1
    class_names = [str(i) for i in range(num_classes)]
    if meta_file.exists():
        names = load_plain_pickle(meta_file).get(names_key)
        if names:
            class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return splits[0], splits[1], class_names
