"""The teacher-logit cache: exact round trip, never reads damaged tables, refuses mismatched ones, serves
batches by (epoch, sample index) and records the epochs it lacks."""

from __future__ import annotations

import json

import pytest
import torch

from edgekd.data import AugmentRecipe, Batch, ViewSampler, apply_views, load_dataset, to_unit_float
from edgekd.distill.cache import STORAGE, CacheKey, CacheStorage, TeacherCache, epoch_table
from edgekd.distill.targets import TeacherTargets
from edgekd.distill.teachers import TeacherBank, load_teacher
from edgekd.errors import ConfigError, DataError

KEY = CacheKey(dataset_fingerprint="abc", augment=AugmentRecipe().describe(), view_size=16, seed=0)


def test_tables_round_trip_in_fp16(tmp_path):
    cache = TeacherCache(tmp_path, KEY)
    table = torch.randn(50, 10) * 5
    cache.save("t1", epoch_table(2), table)
    loaded = cache.load("t1", epoch_table(2), 50, 10)
    assert loaded.dtype == torch.float16 and torch.equal(loaded, table.half())
    assert cache.load("t1", epoch_table(3), 50, 10) is None
    assert cache.root == tmp_path / f"views-{KEY.digest()}"
    assert json.loads((cache.root / "cache.json").read_text())["key"]["seed"] == 0
    assert not list(tmp_path.rglob("*.tmp"))
    assert TeacherCache(tmp_path, KEY).existed and not cache.existed


def test_disk_use_per_epoch_is_what_the_tables_take(tmp_path):
    cache = TeacherCache(tmp_path, KEY)
    use = cache.disk_use(rows=500, num_classes=10, teachers=2, epochs=20)
    assert use.storage == "fp16" and use.bytes_per_epoch == 2 * 500 * 10 * 2 and use.bytes_for_run == 20 * 20_000
    size = cache.save("t1", epoch_table(0), torch.randn(500, 10)).stat().st_size
    assert 10_000 < size < 10_000 + 1024  # the values plus a safetensors header
    assert "20.0 kB per epoch (fp16 logits, 2 teacher(s)), 400.0 kB for 20 epochs" in use.line()
    assert "256.23 MB per epoch (fp16 logits, 1 teacher(s)), 5.12 GB for 20 epochs" in (
        cache.disk_use(1_281_167, 100, 1, 20).line()
    )


def test_many_classes_keep_the_top_k_logits_and_a_floor_that_keeps_the_rest_mass(tmp_path):
    assert STORAGE.format(100) == "fp16" and STORAGE.format(101) == f"fp16-top{STORAGE.top_k}+floor"
    storage = CacheStorage(top_k=5, dense_up_to=20)
    cache = TeacherCache(tmp_path, KEY, storage=storage)
    table = torch.randn(40, 300) * 3
    table[7] = float("nan")  # a sample the recording run never saw
    path = cache.save("t1", epoch_table(0), table)
    assert path.stat().st_size < 40 * 22 + 1024 < 40 * 300 * 2 / 10  # 22 bytes a row instead of 600, + header
    assert cache.disk_use(40, 300, 1, 1).bytes_per_epoch == 40 * (5 * 4 + 2)
    assert (
        "166.55 MB per epoch (fp16-top32+floor logits"
        in TeacherCache(tmp_path / "b", KEY).disk_use(1_281_167, 1000, 1, 1).line()
    )  # ImageNet-1k's train set with the shipped storage: 130 bytes a sample
    loaded = cache.load("t1", epoch_table(0), 40, 300)
    assert loaded.shape == (40, 300) and loaded.dtype == torch.float16
    assert torch.isnan(loaded[7]).all() and not torch.isnan(loaded[torch.arange(40) != 7]).any()
    seen = table[torch.arange(40) != 7].half().float()
    kept = loaded[torch.arange(40) != 7].float()
    top = seen.topk(5, dim=1).indices
    assert torch.equal(kept.gather(1, top), seen.gather(1, top))  # the top 5 exactly as stored
    # At T = 1 the kept classes' probabilities are the teacher's, to fp16 rounding.
    assert torch.allclose(kept.softmax(1).gather(1, top), seen.softmax(1).gather(1, top), atol=2e-3)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40  # one bit of the floor values
    path.write_bytes(bytes(data))
    assert cache.load("t1", epoch_table(0), 40, 300) is None and cache.rebuilt == ["t1/epoch-0000: checksum mismatch"]
    cache.save("t1", "val", torch.randn(10, 300))
    with pytest.raises(DataError, match="not .10, 200. logits"):
        cache.load("t1", "val", 10, 200)


def test_a_storage_that_cannot_hold_its_top_k_is_refused():
    with pytest.raises(ConfigError, match="top_k"):
        CacheStorage(top_k=200, dense_up_to=100)


def test_other_views_get_their_own_entry_and_never_these_logits(tmp_path):
    TeacherCache(tmp_path, KEY).save("t1", epoch_table(0), torch.randn(50, 10))
    other = TeacherCache(tmp_path, CacheKey("abc", AugmentRecipe(crop_padding=2).describe(), 16, seed=1))
    assert other.load("t1", epoch_table(0), 50, 10) is None
    assert other.other_entries() == [f"views-{KEY.digest()}"]


def test_an_edited_entry_is_refused_naming_the_difference(tmp_path):
    cache = TeacherCache(tmp_path, KEY)
    manifest = json.loads((cache.root / "cache.json").read_text())
    manifest["key"]["seed"] = 1
    (cache.root / "cache.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError) as info:
        TeacherCache(tmp_path, KEY)
    assert "seed (cache 1, this run 0)" in str(info.value) and "augment" not in str(info.value)
    (cache.root / "cache.json").write_text("{not json")
    with pytest.raises(DataError, match="unreadable"):
        TeacherCache(tmp_path, KEY)


def test_a_file_is_not_a_cache_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        TeacherCache(tmp_path / "file", KEY)


def test_damaged_tables_are_never_read_but_deleted_to_be_rebuilt(tmp_path):
    cache = TeacherCache(tmp_path, KEY)
    path = cache.save("t1", "val", torch.randn(20, 10))
    data = bytearray(path.read_bytes())
    data[-7] ^= 0x40  # flip one bit inside the logits
    path.write_bytes(bytes(data))
    assert cache.load("t1", "val", 20, 10) is None
    assert not path.exists() and cache.rebuilt == ["t1/val: checksum mismatch"]
    path.write_bytes(bytes(data[: len(data) // 2]))  # cut short, as an interrupted copy leaves it
    assert cache.load("t1", "val", 20, 10) is None
    assert not path.exists() and len(cache.rebuilt) == 2
    cache.save("t1", "test", torch.randn(20, 10))
    with pytest.raises(DataError, match="needs .30, 10."):
        cache.load("t1", "test", 30, 10)


def test_a_table_copied_from_another_entry_is_refused(tmp_path):
    source = TeacherCache(tmp_path, KEY)
    copied_from = source.save("t1", "val", torch.randn(20, 10))
    other = TeacherCache(tmp_path, CacheKey("xyz", KEY.augment, 16, 0))
    (other.root / "t1").mkdir()
    (other.root / "t1" / "val.safetensors").write_bytes(copied_from.read_bytes())
    with pytest.raises(DataError, match="another cache"):
        other.load("t1", "val", 20, 10)


def _epoch_batches(dataset, epoch, batch_size=100):
    sampler = ViewSampler(AugmentRecipe(), len(dataset.train), seed=0)
    order = torch.randperm(len(dataset.train), generator=torch.Generator().manual_seed(epoch))
    for indices in order.split(batch_size):
        batch = Batch(dataset.train.images[indices], dataset.train.labels[indices], indices)
        yield apply_views(to_unit_float(batch.images, (16, 16)), sampler.params(epoch, indices), AugmentRecipe()), batch


def test_targets_record_an_epoch_then_serve_it_without_running_the_teacher(digits_teacher, tmp_path):
    dataset = load_dataset("digits", limit_train=300)
    bank = TeacherBank([load_teacher(digits_teacher)])
    cache = TeacherCache(tmp_path, CacheKey(dataset.fingerprint, AugmentRecipe().describe(), 16, 0))
    recording = TeacherTargets(bank, cache, len(dataset.train), 10)
    assert recording.start_epoch(1, torch.device("cpu")) == [0]  # nothing cached: the teacher runs
    online = {}
    for pixels, batch in _epoch_batches(dataset, 1):
        for index, row in zip(batch.indices.tolist(), recording.logits(pixels, batch)[0]):
            online[index] = row
    assert recording.end_epoch(1) == [0] and recording.online_steps == 3

    reading = TeacherTargets(bank, cache, len(dataset.train), 10)
    assert reading.start_epoch(1, torch.device("cpu")) == []
    for pixels, batch in _epoch_batches(dataset, 1, batch_size=64):  # other batches, same views
        cached = reading.logits(pixels, batch)[0]
        expected = torch.stack([online[i] for i in batch.indices.tolist()])
        assert torch.allclose(cached, expected, rtol=2e-3, atol=2e-3)  # fp16 storage
    assert reading.cached_steps == 5 and reading.online_steps == 0
    assert reading.start_epoch(2, torch.device("cpu")) == [0]  # epoch 2 was never recorded


def test_a_killed_writers_temporary_table_is_removed_by_the_next_save(tmp_path):
    import subprocess

    cache = TeacherCache(tmp_path, KEY)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs: the writer SIGKILLed mid-write
    leftover = cache.root / "t1" / f".epoch-0001.safetensors.{gone.pid}.x1y2z3.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a table")
    cache.save("t1", epoch_table(1), torch.randn(20, 10))
    assert not leftover.exists() and cache.load("t1", epoch_table(1), 20, 10) is not None
