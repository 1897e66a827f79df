"""Dataset specs resolve to three disjoint, stratified splits of real images; bad input is one clear error."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from edgekd.data import load_dataset, parse_spec
from edgekd.errors import DataError
from tests.conftest import needs_fashion_mnist, write_digit_pngs


def test_digits_has_three_disjoint_stratified_splits():
    dataset = load_dataset("digits", val_size=0.1)
    counts = {s: len(dataset.split(s)) for s in ("train", "val", "test")}
    assert sum(counts.values()) == 1797
    assert counts["test"] == 359 and counts["val"] == 144
    assert dataset.train.images.dtype == torch.uint8 and dataset.train.images.shape[1:] == (1, 8, 8)
    # Stratified: every class is present in val with roughly its share.
    val_counts = dataset.val.class_counts(10)
    assert min(val_counts) >= 13 and max(val_counts) <= 16


def test_test_split_does_not_depend_on_val_size_or_split_seed():
    a = load_dataset("digits", val_size=0.1, split_seed=0)
    b = load_dataset("digits", val_size=0.3, split_seed=7)
    assert torch.equal(a.test.images, b.test.images)
    assert not torch.equal(a.val.labels[:50], b.val.labels[:50]) or len(a.val) != len(b.val)


def test_val_size_zero_trains_on_everything_and_limit_train_subsets():
    full = load_dataset("digits", val_size=0)
    assert len(full.val) == 0 and len(full.train) == 1797 - 359
    small = load_dataset("digits", val_size=0, limit_train=100)
    assert len(small.train) == 100
    assert min(small.train.class_counts(10)) >= 9
    assert small.fingerprint != full.fingerprint


@needs_fashion_mnist
def test_fashion_mnist_reads_the_real_idx_files():
    dataset = load_dataset("fashion-mnist", val_size=5000)
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (55000, 5000, 10000)
    assert dataset.class_names[5] == "Sandal"
    assert 0.25 < dataset.mean[0] < 0.32


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    from edgekd.data import dataset as dataset_module

    monkeypatch.setattr(dataset_module, "FASHION_MNIST_DIRS", (tmp_path / "nowhere",))
    monkeypatch.delenv("EDGEKD_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_truncated_idx_file_is_named(tmp_path):
    folder = tmp_path / "fm"
    folder.mkdir()
    header = bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    for prefix in ("train", "t10k"):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(100)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(10))
        )
    with pytest.raises(DataError, match="truncated"):
        load_dataset("fashion-mnist", data_dir=folder)


def test_imagefolder_with_train_and_val_gets_a_test_split_from_val(imagefolder_split):
    dataset = load_dataset(f"imagefolder:{imagefolder_split}", image_size=16)
    assert dataset.class_names == ["digit0", "digit1", "digit2"]
    assert len(dataset.train) == 60 and len(dataset.val) + len(dataset.test) == 24
    assert dataset.train.images.shape[1:] == (3, 16, 16)


def test_single_imagefolder_tree_is_split_deterministically(tmp_path):
    write_digit_pngs(tmp_path / "tree", per_class=30)
    a = load_dataset(f"imagefolder:{tmp_path / 'tree'}", image_size=16)
    b = load_dataset(f"imagefolder:{tmp_path / 'tree'}", image_size=16)
    assert len(a.test) == 18 and len(a.train) + len(a.val) == 72
    assert torch.equal(a.test.images, b.test.images) and a.fingerprint == b.fingerprint


def test_large_imagefolder_streams_the_same_pixels(imagefolder_split):
    from edgekd.data import BatchLoader

    in_memory = load_dataset(f"imagefolder:{imagefolder_split}", image_size=16)
    streaming = load_dataset(f"imagefolder:{imagefolder_split}", image_size=16, memory_budget=1, workers=0)
    assert not streaming.train.in_memory
    batch = next(BatchLoader(streaming.train, 8, shuffle=True, seed=3, workers=0).epoch(1))
    assert torch.equal(batch.images, in_memory.train.images[batch.indices])


def test_corrupt_image_is_named(imagefolder_split):
    broken = imagefolder_split / "train" / "digit1" / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="broken.png"):
        load_dataset(f"imagefolder:{imagefolder_split}", image_size=16)


def test_train_val_class_mismatch_says_which(imagefolder_split):
    (imagefolder_split / "val" / "digit2").rename(imagefolder_split / "val" / "digit9")
    with pytest.raises(DataError, match="extra digit9; missing digit2"):
        load_dataset(f"imagefolder:{imagefolder_split}", image_size=16)


def test_empty_folder_and_missing_path_fail_cleanly(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}")
    with pytest.raises(DataError, match="not found"):
        parse_spec(f"imagefolder:{tmp_path / 'missing'}")
    with pytest.raises(DataError, match="Did you mean: digits"):
        parse_spec("digit")


def _write_cifar10(root, rng):
    root.mkdir()
    for i in range(1, 3):
        batch = {b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, 20).tolist()}
        (root / f"data_batch_{i}").write_bytes(pickle.dumps(batch, protocol=2))
    (root / "test_batch").write_bytes(
        pickle.dumps(
            {b"data": rng.integers(0, 256, (10, 3072), dtype=np.uint8), b"labels": list(range(10))}, protocol=2
        )
    )
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))


def test_cifar10_python_batches_load(tmp_path):
    _write_cifar10(tmp_path / "cifar", np.random.default_rng(0))
    dataset = load_dataset(f"cifar10:{tmp_path / 'cifar'}", val_size=0)
    assert len(dataset.train) == 40 and len(dataset.test) == 10
    assert dataset.class_names[3] == "cat" and dataset.train.images.shape[1:] == (3, 32, 32)


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_pickle_that_would_run_code_is_refused(tmp_path):
    _write_cifar10(tmp_path / "cifar", np.random.default_rng(0))
    (tmp_path / "cifar" / "data_batch_1").write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": []}))
    with pytest.raises(DataError, match="refusing to load 'posix.system'|refusing to load 'os.system'"):
        load_dataset(f"cifar10:{tmp_path / 'cifar'}")
