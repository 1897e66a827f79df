"""Consistent mixed views (`--mix`): a pure function of (seed, epoch, sample index), the same
for teacher and student, replayed exactly by the teacher-logit cache."""

from __future__ import annotations

import pytest
import torch
from distill_helpers import distill_config

from edgekd.data import AugmentRecipe, Batch, BatchLoader, ViewSampler, apply_views, load_dataset, to_unit_float
from edgekd.data.augment import MixRecipe, MixSampler, mix_views
from edgekd.distill import distill
from edgekd.distill.cache import CacheKey, TeacherCache
from edgekd.distill.methods.none import StudentAlone
from edgekd.distill.mixing import BatchMixer, MixedBatch
from edgekd.distill.targets import TeacherTargets
from edgekd.distill.teachers import TeacherBank, load_teacher
from edgekd.errors import ConfigError

SIZE = (16, 16)
AUGMENT = AugmentRecipe()


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _views(split, batch: Batch, epoch: int, seed: int = 0) -> torch.Tensor:
    """The unmixed views the Trainer makes of `batch` (same recipe, same sampler)."""
    return apply_views(
        to_unit_float(batch.images, SIZE), ViewSampler(AUGMENT, len(split), seed).params(epoch, batch.indices), AUGMENT
    )


def _mixed(mixer: BatchMixer, split, indices: list[int], epoch: int):
    index = torch.tensor(indices)
    batch = Batch(split.images[index], split.labels[index], index)
    return mixer(epoch, _views(split, batch, epoch), batch)


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_a_samples_mixed_view_depends_on_seed_epoch_and_index_only(digits, kind):
    split = digits.train
    mixer = BatchMixer(split, MixRecipe(kind, 1.0), AUGMENT, seed=0, size=SIZE)
    first, first_batch = _mixed(mixer, split, [0, 1, 2, 3, 4, 5, 6, 7], epoch=2)
    other = BatchMixer(split, MixRecipe(kind, 1.0), AUGMENT, seed=0, size=SIZE)  # a fresh process, another batch
    second, second_batch = _mixed(other, split, [100, 5, 3, 900], epoch=2)
    assert torch.equal(first[5], second[1]) and torch.equal(first[3], second[2])
    assert first_batch.lam[5] == second_batch.lam[1] and first_batch.partner_labels[3] == second_batch.partner_labels[2]
    next_epoch, _ = _mixed(other, split, [5], epoch=3)
    assert not torch.equal(next_epoch[0], first[5])
    reseeded, _ = _mixed(BatchMixer(split, MixRecipe(kind, 1.0), AUGMENT, seed=1, size=SIZE), split, [5], epoch=2)
    assert not torch.equal(reseeded[0], first[5])


def test_mixup_and_cutmix_weights_are_the_share_of_each_image():
    ones, zeros = torch.ones(64, 1, 16, 16), torch.zeros(64, 1, 16, 16)
    _, lam, centre = MixSampler(MixRecipe("cutmix", 1.0), 64, seed=0).params(0, torch.arange(64))
    assert 0 < lam.min() and lam.max() < 1
    mixed, kept = mix_views(ones, zeros, lam, centre, "cutmix")
    assert torch.allclose(mixed.mean(dim=(1, 2, 3)), kept)  # λ is the share of the own image actually kept
    assert set(mixed.unique().tolist()) <= {0.0, 1.0}
    blended, same = mix_views(ones, zeros, lam, centre, "mixup")
    assert torch.equal(same, lam) and torch.allclose(blended[:, 0, 0, 0], lam)


def test_the_label_term_mixes_both_labels_by_lambda():
    task = StudentAlone(torch.nn.Identity(), None, None)
    logits = torch.randn(4, 10)
    labels, partners, lam = torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8]), torch.tensor([0.25, 0.5, 0.75, 1.0])
    ce, labelled = task.label_terms(logits, MixedBatch(torch.zeros(4, 1, 8, 8), labels, torch.arange(4), partners, lam))
    ce_own = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    ce_partner = torch.nn.functional.cross_entropy(logits, partners, reduction="none")
    assert torch.allclose(ce, lam * ce_own + (1 - lam) * ce_partner) and bool(labelled.all())


def test_the_cache_replays_the_online_teacher_logits_of_mixed_batches(digits, digits_teacher, tmp_path):
    split = digits.train
    bank = TeacherBank([load_teacher(digits_teacher)])
    recipe = MixRecipe("cutmix", 1.0)
    key = CacheKey(digits.fingerprint, AUGMENT.describe(), 16, 0, mix=recipe.describe())
    cache = TeacherCache(tmp_path, key)
    recording = TeacherTargets(bank, cache, len(split), digits.num_classes)
    mixer = BatchMixer(split, recipe, AUGMENT, seed=0, size=SIZE)
    recording.start_epoch(0, torch.device("cpu"))
    for batch in BatchLoader(split, 128, shuffle=True, seed=0).epoch(0):
        mixed, mixed_batch = mixer(0, _views(split, batch, 0), batch)
        recording.logits(mixed, mixed_batch)
    assert recording.end_epoch(0) == [0]

    # Another run: other batch size, another process's mixer; every batch read from the cache.
    replay = TeacherTargets(bank, TeacherCache(tmp_path, key), len(split), digits.num_classes)
    replay.start_epoch(0, torch.device("cpu"))
    other = BatchMixer(split, recipe, AUGMENT, seed=0, size=SIZE)
    for batch in BatchLoader(split, 50, shuffle=True, seed=0).epoch(0):
        mixed, mixed_batch = other(0, _views(split, batch, 0), batch)
        [cached] = replay.logits(mixed, mixed_batch)
        online = bank(mixed)[0]
        assert torch.allclose(cached, online.half().float(), atol=2e-2, rtol=1e-2)  # fp16 storage
    assert replay.online_steps == 0 and replay.cached_steps > 0
    assert key.digest() != CacheKey(digits.fingerprint, AUGMENT.describe(), 16, 0).digest()


def test_distill_with_cutmix_records_the_mix_and_a_second_run_reads_every_step_cached(digits_teacher, tmp_path):
    cache = tmp_path / "cache"
    first = distill(
        distill_config(digits_teacher, tmp_path / "a", epochs=2, teacher_cache=cache, mix="cutmix", alpha=1.0)
    )
    second = distill(
        distill_config(digits_teacher, tmp_path / "b", epochs=2, teacher_cache=cache, mix="cutmix", method="dist")
    )
    assert first.card.training["mix"] == {"kind": "cutmix", "alpha": 1.0}
    assert first.card.training["teacher_cache"]["key"]["mix"] == {"kind": "cutmix", "alpha": 1.0}
    assert second.card.training["teacher_cache"]["online_steps"] == 0
    disk = first.card.training["teacher_cache"]["disk_use"]  # the card says what one epoch's table takes
    [table] = cache.rglob("epoch-0000.safetensors")
    assert disk["storage"] == "fp16" and disk["bytes_for_run"] == 2 * disk["bytes_per_epoch"]
    assert disk["bytes_per_epoch"] < table.stat().st_size < disk["bytes_per_epoch"] + 1024
    with pytest.raises(ConfigError, match="unknown --mix 'blend'"):
        distill(distill_config(digits_teacher, tmp_path / "c", mix="blend"))
