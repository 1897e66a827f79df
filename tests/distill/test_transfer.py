"""Transfer sets: the training split's composition (data, transfer, dropped classes, mixing
ratio), the per-sample loss of mixed batches, and `distill()` from an unlabeled folder alone."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from distill_helpers import distill_config
from PIL import Image

from edgekd.data import Batch, load_dataset
from edgekd.distill import distill
from edgekd.distill.losses import kd_loss, soft_targets
from edgekd.distill.methods.kd import KnowledgeDistillation
from edgekd.distill.transfer import build_training_set
from edgekd.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def unlabeled_digits(tmp_path_factory, digits):
    """The digits train images as greyscale PNGs in two nested folders, no class folders."""
    root = tmp_path_factory.mktemp("unlabeled-digits")
    for i, image in enumerate(digits.train.images[:, 0].numpy()):
        folder = root / f"part{i % 2}" / "deeper"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    return root


def test_drop_classes_removes_labelled_images_only_from_training(digits):
    result = build_training_set(digits, drop_classes=("3", "7"))
    labels = result.split.labels
    assert not bool(((labels == 3) | (labels == 7)).any())
    assert len(result.split) == len(digits.train) - int(((digits.train.labels == 3) | (digits.train.labels == 7)).sum())
    assert result.seen == [c not in (3, 7) for c in range(10)] and result.dropped == ("3", "7")
    # val and test are untouched: held out before the drop, they keep every class.
    assert set(digits.val.labels.tolist()) == set(range(10)) == set(digits.test.labels.tolist())
    assert result.fingerprint and result.fingerprint != build_training_set(digits, drop_classes=("3",)).fingerprint
    assert build_training_set(digits).fingerprint is None


def test_unknown_class_names_are_listed(digits):
    with pytest.raises(ConfigError, match=r"no class named 'Sandal'; the classes are: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"):
        build_training_set(digits, drop_classes=("Sandal",))


def test_transfer_alone_and_mixing_ratios(digits, unlabeled_digits):
    n = len(digits.train)
    alone = build_training_set(digits, transfer=f"unlabeled:{unlabeled_digits}", ratio=1.0)
    assert len(alone.split) == n and alone.labelled == 0 and [p["name"] for p in alone.parts] == ["transfer"]
    # The PNGs are the train images: the unlabeled set decodes to exactly the same pixels (as a set).
    assert sorted(map(bytes, alone.split.images.numpy().reshape(n, -1))) == sorted(
        map(bytes, digits.train.images.numpy().reshape(n, -1))
    )
    both = build_training_set(digits, transfer=f"unlabeled:{unlabeled_digits}", limit_transfer=100)
    assert (len(both.split), both.labelled) == (n + 100, n)
    quarter = build_training_set(digits, transfer=f"unlabeled:{unlabeled_digits}", limit_transfer=100, ratio=0.25)
    unlabeled = len(quarter.split) - quarter.labelled
    assert quarter.labelled == n and unlabeled == round(0.25 / 0.75 * n)  # the smaller side is repeated
    assert len({both.fingerprint, quarter.fingerprint, alone.fingerprint}) == 3
    with pytest.raises(ConfigError, match="--transfer-ratio must be within"):
        build_training_set(digits, transfer=f"unlabeled:{unlabeled_digits}", ratio=0.0)


def test_a_labelled_transfer_set_must_have_the_same_classes(digits, tmp_path):
    from tests.conftest import write_digit_pngs

    write_digit_pngs(tmp_path / "three", per_class=6, classes=(0, 1, 2), size=12)
    with pytest.raises(ConfigError, match="needs the same classes"):
        build_training_set(digits, transfer=f"imagefolder:{tmp_path / 'three'}")
    # A labelled set with --data's classes joins with its labels, converted to --data's size and channels.
    extra = build_training_set(digits, transfer="digits", limit_transfer=50, drop_classes=("0",))
    assert extra.labelled == len(extra.split) and extra.split.images.shape[1:] == digits.train.images.shape[1:]
    assert not bool((extra.split.labels == 0).any()) and extra.parts[1]["dropped_images"] > 0


def test_mixed_batches_take_the_soft_term_alone_on_unlabeled_samples():
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 10, requires_grad=True), torch.randn(6, 10)
    labels = torch.tensor([1, -1, 3, -1, -1, 0])
    kd = KnowledgeDistillation(torch.nn.Identity(), None, None, temperature=3.0, alpha=0.7)
    out = kd.kd_terms(student, Batch(torch.zeros(6), labels, torch.arange(6)), [teacher])
    targets = soft_targets([teacher], 3.0)
    each = kd_loss(student, targets, 3.0, reduction="none")
    ce = F.cross_entropy(student, labels.clamp_min(0), reduction="none")
    labelled = labels >= 0
    expected = torch.where(labelled, 0.3 * ce + 0.7 * each, each).mean()
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert out["ce"].item() == pytest.approx(ce[labelled].mean().item(), rel=1e-6)
    assert each.mean().item() == pytest.approx(
        kd_loss(student, targets, 3.0).item(), rel=1e-6
    )  # batchmean = mean of per-sample
    # All labelled: the plain formula, unchanged.
    plain = kd.kd_terms(student, Batch(torch.zeros(6), labels.clamp_min(0), torch.arange(6)), [teacher])
    assert plain["loss"].item() == pytest.approx((0.3 * ce.mean() + 0.7 * each.mean()).item(), rel=1e-6)


def test_distill_from_an_unlabeled_folder_alone_records_both_sets(digits_teacher, digits, unlabeled_digits, tmp_path):
    config = distill_config(
        digits_teacher,
        tmp_path / "run",
        epochs=4,
        transfer_data=f"unlabeled:{unlabeled_digits}",
        transfer_ratio=1.0,
        teacher_cache=tmp_path / "cache",
    )
    result = distill(config)
    card = json.loads((tmp_path / "run" / "student.json").read_text())
    train_data = card["training"]["train_data"]
    assert (train_data["labelled"], train_data["unlabeled"]) == (0, len(digits.train))
    [part] = train_data["parts"]
    assert (
        part["kind"] == "unlabeled"
        and part["spec"] == f"unlabeled:{unlabeled_digits.resolve()}"
        and len(part["fingerprint"]) == 16
    )
    assert card["dataset"]["fingerprint"] == digits.fingerprint  # validation and test stay --data's
    assert card["training"]["teacher_cache"]["key"]["transfer_fingerprint"] == train_data["fingerprint"]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["train_data"]["sets"][0]["fingerprint"] == part["fingerprint"] and "val_top1" in records[-1]
    assert result.card.metrics["test"]["top1"] > 40  # chance is 10 %: the teacher's soft targets teach


def test_method_none_cannot_learn_from_unlabeled_images(digits_teacher, unlabeled_digits, tmp_path):
    with pytest.raises(ConfigError, match="learns from labels only"):
        distill(distill_config(None, tmp_path, method="none", transfer_data=f"unlabeled:{unlabeled_digits}"))
    with pytest.raises(ConfigError, match="--transfer-ratio needs --transfer-data"):
        distill(distill_config(digits_teacher, tmp_path, transfer_ratio=0.5))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images under"):
        distill(distill_config(digits_teacher, tmp_path, transfer_data=f"unlabeled:{empty}"))
    assert not (tmp_path / "student.safetensors").exists()


def test_cli_refuses_bad_transfer_input_in_one_line(digits_teacher, tmp_path, run_cli):
    base = [
        "distill",
        "--teacher",
        digits_teacher,
        "--student",
        "test_resnet",
        "--data",
        "digits",
        "--img-size",
        "16",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        tmp_path / "out",
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    for extra, message in (
        (["--transfer-data", f"unlabeled:{empty}"], "no images under"),
        (["--transfer-data", f"unlabeled:{tmp_path / 'nope'}"], "not found"),
        (["--drop-classes", "3,Sandal"], "no class named 'Sandal'; the classes are: 0, 1"),
        (["--bias-adjust", "auto"], "give --drop-classes too"),
        (["--drop-classes", "3", "--bias-adjust", "5=2"], "'5' is not a class the student never saw"),
    ):
        result = run_cli(*base, *extra)
        assert result.code == 2, (extra, result)
        assert (
            message in result.stderr
            and "Traceback" not in result.stderr
            and len(result.stderr.strip().splitlines()) == 1
        )
    assert not (tmp_path / "out" / "student.safetensors").exists()


def test_a_streaming_transfer_set_mixes_with_in_memory_data_through_workers(digits, unlabeled_digits):
    from edgekd.data import BatchLoader

    spec = f"unlabeled:{unlabeled_digits}"
    in_memory = build_training_set(digits, transfer=spec, limit_transfer=40, ratio=0.5)
    streamed = build_training_set(digits, transfer=spec, limit_transfer=40, ratio=0.5, memory_budget=100)
    assert in_memory.split.in_memory and not streamed.split.in_memory
    assert streamed.fingerprint == in_memory.fingerprint  # same composition, whatever the storage
    batches = list(BatchLoader(streamed.split, 256, shuffle=True, seed=3, workers=2).epoch(1))
    indices = torch.cat([b.indices for b in batches])
    assert torch.equal(torch.cat([b.images for b in batches]), in_memory.split.images[indices])
    assert torch.equal(torch.cat([b.labels for b in batches]), in_memory.split.labels[indices])
