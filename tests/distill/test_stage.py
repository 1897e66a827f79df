"""`distill()` end to end on digits: KD, FitNet and the student alone train, save, resume and
reload; the card lists the teachers; the logit cache serves later runs; bad input is refused."""

from __future__ import annotations

import dataclasses
import json

import pytest
import timm
import torch
from distill_helpers import distill_config

from edgekd.artifacts import sha256_file
from edgekd.data import BatchLoader, ModelInput, load_dataset
from edgekd.distill import distill
from edgekd.engine import predict
from edgekd.engine.progress import SilentProgress
from edgekd.errors import ConfigError, ModelError
from edgekd.models.weights import read_state_dict


def _metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_kd_trains_and_saves_a_plain_timm_student_with_its_card(digits_teacher, tmp_path):
    result = distill(distill_config(digits_teacher, tmp_path, temperature=3.0, alpha=0.8))
    card = json.loads((tmp_path / "student.json").read_text())
    assert card["role"] == "student" and card["arch"] == "test_resnet" and card["num_classes"] == 10
    assert card["dataset"]["spec"] == "digits" and card["dataset"]["fingerprint"]
    training = card["training"]
    assert (training["method"], training["temperature"], training["alpha"]) == ("kd", 3.0, 0.8)
    [teacher] = training["teachers"]
    assert teacher["path"] == str(digits_teacher / "teacher.safetensors") and teacher["arch"] == "resnet10t"
    assert teacher["sha256"] == sha256_file(digits_teacher / "teacher.safetensors") and teacher["top1"] > 50
    assert card["metrics"]["teacher"]["top1"] == teacher["top1"]
    assert card["metrics"]["test"]["top1"] > 30 and 0 <= card["metrics"]["test"]["agreement"] <= 100
    records = _metrics(tmp_path)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"train_loss", "train_ce", "train_kd", "val_top1", "val_top5", "val_agreement", "img_per_s"} <= set(
        records[-1]
    )

    # The weights are a plain timm state dict: timm.create_model + load_state_dict is enough.
    student = timm.create_model("test_resnet", num_classes=10)
    student.load_state_dict(read_state_dict(tmp_path / "student.safetensors"))
    dataset = load_dataset("digits")
    reloaded = predict(
        student, ModelInput(result.card.input), BatchLoader(dataset.test, 128, shuffle=False), torch.device("cpu")
    )
    assert reloaded.top1() == pytest.approx(card["metrics"]["test"]["top1"])


class _StopAtEpoch(SilentProgress):
    """Simulates Ctrl-C when epoch `n` starts."""

    def __init__(self, n):
        self.n = n

    def start(self, description, total):
        if description.startswith(f"epoch {self.n}/"):
            raise KeyboardInterrupt


def test_an_interrupted_fitnet_run_resumes_to_the_same_student(digits_teacher, tmp_path):
    straight = distill(distill_config(digits_teacher, tmp_path / "straight", method="fitnet", hint_epochs=1))
    config = distill_config(digits_teacher, tmp_path / "resumed", method="fitnet", hint_epochs=1)
    with pytest.raises(KeyboardInterrupt):
        distill(config, _StopAtEpoch(3))  # after the hint epoch and one KD epoch
    assert not (tmp_path / "resumed" / "student.safetensors").exists()
    resumed = distill(dataclasses.replace(config, resume=True))
    assert [r["stage"] for r in _metrics(tmp_path / "resumed")] == ["hint", "kd", "kd"]
    assert resumed.card.metrics["test"]["top1"] == pytest.approx(straight.card.metrics["test"]["top1"])
    a, b = (
        read_state_dict(tmp_path / "straight" / "student.safetensors"),
        read_state_dict(tmp_path / "resumed" / "student.safetensors"),
    )
    assert a.keys() == b.keys() and not any(k.startswith("adapter") for k in a)  # the adapter is not saved
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    facts = resumed.card.training
    assert (facts["hint_layer"], facts["guided_layer"], facts["hint_epochs"]) == ("layer2", "layer2", 1)


def test_the_cache_serves_a_later_run_with_another_temperature(digits_teacher, tmp_path):
    cache = tmp_path / "cache"
    first = distill(distill_config(digits_teacher, tmp_path / "a", teacher_cache=cache))
    steps = first.card.training["teacher_cache"]["online_steps"]
    assert steps > 0 and first.card.training["teacher_cache"]["cached_steps"] == 0
    second = distill(distill_config(digits_teacher, tmp_path / "b", teacher_cache=cache, temperature=2.0))
    assert second.card.training["teacher_cache"] == {
        **second.card.training["teacher_cache"],
        "cached_steps": steps,
        "online_steps": 0,
    }
    assert second.teachers[0]["top1"] == pytest.approx(first.teachers[0]["top1"])  # test logits cached too
    # Same T from the cache as online: the same losses but for fp16 rounding of the logits, which
    # 20 steps at lr 0.1 amplify to ~1 %; another sample's or view's logits would be far off.
    replay = distill(distill_config(digits_teacher, tmp_path / "c", teacher_cache=cache))
    assert replay.fit.history[0]["train_kd"] == pytest.approx(first.fit.history[0]["train_kd"], rel=0.05)
    # Another seed means other views: its own entry, recorded afresh, never the seed-0 logits.
    other_seed = distill(distill_config(digits_teacher, tmp_path / "d", teacher_cache=cache, recipe={"seed": 1}))
    assert other_seed.card.training["teacher_cache"]["cached_steps"] == 0
    assert len(list(cache.glob("views-*"))) == 2


def test_none_trains_the_student_alone_and_still_measures_the_teacher(digits_teacher, tmp_path):
    result = distill(distill_config(digits_teacher, tmp_path, method="none"))
    assert set(_metrics(tmp_path)[0]) >= {"train_ce", "val_agreement"} and "train_kd" not in _metrics(tmp_path)[0]
    assert result.card.training["method"] == "none" and result.card.metrics["teacher"]["top1"] > 50
    alone = distill(distill_config(None, tmp_path / "alone", method="none"))
    assert "teacher" not in alone.card.metrics and alone.card.metrics["test"]["top1"] == pytest.approx(
        result.card.metrics["test"]["top1"]
    )


def test_bad_input_is_refused_before_training(digits_teacher, tmp_path):
    with pytest.raises(ConfigError, match="needs a teacher"):
        distill(distill_config(None, tmp_path, method="kd"))
    with pytest.raises(ModelError, match="unknown layer 'layer9'.*Available: .*layer2"):
        distill(distill_config(digits_teacher, tmp_path, method="fitnet", hint_layer="layer9"))
    with pytest.raises(ConfigError, match="--hint-epochs .3. must be smaller than --epochs .3."):
        distill(distill_config(digits_teacher, tmp_path, method="fitnet", hint_epochs=3))
    with pytest.raises(ConfigError, match="only apply to --method fitnet"):
        distill(distill_config(digits_teacher, tmp_path, method="kd", hint_layer="layer2"))
    with pytest.raises(ConfigError, match="--alpha"):
        distill(distill_config(digits_teacher, tmp_path, alpha=1.5))
    assert not (tmp_path / "student.safetensors").exists()


def test_several_teachers_are_listed_and_each_cached_separately(digits_teacher, tmp_path):
    bare = tmp_path / "second.pth"
    torch.save(read_state_dict(digits_teacher / "teacher.safetensors"), bare)
    config = distill_config(
        digits_teacher,
        tmp_path / "run",
        epochs=1,
        ensemble="logit",
        teacher_cache=tmp_path / "cache",
        teacher_arch="resnet10t",
    )
    result = distill(dataclasses.replace(config, teacher=(str(digits_teacher), str(bare))))
    first, second = result.card.training["teachers"]
    assert (first["has_card"], second["has_card"]) == (True, False) and first["sha256"] != second["sha256"]
    assert result.card.metrics["teacher"]["count"] == 2 and result.card.metrics["teacher"]["ensemble"] == "logit"
    [entry] = (tmp_path / "cache").glob("views-*")
    assert len([d for d in entry.iterdir() if d.is_dir()]) == 2  # one table set per teacher
