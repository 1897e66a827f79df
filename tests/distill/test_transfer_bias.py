"""Classes missing from what the student learns from: `--drop-classes`, `--bias-adjust` chosen on
val (exact 1-D search), the shift carried by the saved student, per-class accuracy marked."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from distill_helpers import distill_config

from edgekd.data import BatchLoader, ModelInput, load_dataset
from edgekd.distill import distill
from edgekd.distill.bias import BiasShift, apply_shift, choose_shift, parse_bias_adjust
from edgekd.engine import Predictions, predict
from edgekd.errors import ConfigError
from edgekd.models.weights import read_state_dict


def _brute_force(val: Predictions, unseen: list[int], grid: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [
            Predictions(BiasShift({c: float(s) for c in unseen}, "auto").apply_to_logits(val.logits), val.labels)
            .predicted.eq(val.labels)
            .float()
            .mean()
            * 100
            for s in grid
        ]
    )


def test_auto_shift_is_the_exact_val_optimum_and_sits_inside_its_plateau():
    torch.manual_seed(0)
    labels = torch.randint(0, 5, (400,))
    logits = torch.randn(400, 5) + 3 * torch.nn.functional.one_hot(labels, 5)
    logits[:, 2] -= 4.0  # class 2 "never seen": its logit is far too low
    val = Predictions(logits, labels)
    shift, before, after = choose_shift(val, [2])
    grid = torch.linspace(0, 10, 2001)
    brute = _brute_force(val, [2], grid)
    assert before == pytest.approx(brute[0].item())
    assert after == pytest.approx(brute.max().item()) and after > before + 5
    assert _brute_force(val, [2], torch.tensor([shift]))[0].item() == pytest.approx(after)
    # A margin on both sides: nudging the shift a little keeps the optimum.
    assert _brute_force(val, [2], torch.tensor([shift - 1e-3, shift + 1e-3])).min().item() == pytest.approx(after)


def test_a_tolerance_buys_recall_of_the_never_seen_class_within_that_many_val_points():
    torch.manual_seed(1)
    labels = torch.randint(0, 5, (500,))
    logits = torch.randn(500, 5) * 1.5 + 2 * torch.nn.functional.one_hot(labels, 5)
    logits[:, 2] -= 4.0
    val = Predictions(logits, labels)
    grid = torch.linspace(0, 12, 2401)
    brute = _brute_force(val, [2], grid)
    recall = torch.stack(
        [
            Predictions(BiasShift({2: float(s)}, "auto").apply_to_logits(logits), labels)
            .predicted[labels == 2]
            .eq(2)
            .float()
            .mean()
            for s in grid
        ]
    )
    strict, _, strict_top1 = choose_shift(val, [2])
    loose, _, loose_top1 = choose_shift(val, [2], tolerance=3.0)
    assert loose > strict and brute.max().item() - 3.0 - 1e-4 <= loose_top1 <= strict_top1
    allowed = brute >= brute.max() - 3.0 - 1e-4
    chosen_recall = (
        Predictions(BiasShift({2: loose}, "auto").apply_to_logits(logits), labels)
        .predicted[labels == 2]
        .eq(2)
        .float()
        .mean()
    )
    assert chosen_recall.item() == pytest.approx(recall[allowed].max().item())


def test_no_shift_when_nothing_is_gained():
    labels = torch.tensor([0, 1, 0, 1])
    logits = torch.tensor([[5.0, 0.0, -9.0], [0.0, 5.0, -9.0], [5.0, 0.0, -9.0], [0.0, 5.0, -9.0]])
    assert choose_shift(Predictions(logits, labels), [2]) == (0.0, 100.0, 100.0)


def test_manual_shifts_are_parsed_for_never_seen_classes_only():
    names = ["T-shirt", "Sandal", "Bag"]
    assert parse_bias_adjust("auto", names, [1]) == 0.0 and parse_bias_adjust("auto:2.5", names, [1]) == 2.5
    with pytest.raises(ConfigError, match="auto:TOL"):
        parse_bias_adjust("auto:-1", names, [1])
    assert parse_bias_adjust("Sandal=2.5", names, [1]) == {1: 2.5}
    with pytest.raises(ConfigError, match="not a class the student never saw"):
        parse_bias_adjust("Bag=1", names, [1])
    with pytest.raises(ConfigError, match="no class named 'Shoe'; the classes are: T-shirt, Sandal, Bag"):
        parse_bias_adjust("Shoe=1", names, [1])
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_bias_adjust("Sandal", names, [1])


def test_apply_shift_moves_only_the_classifier_bias():
    model = timm.create_model("test_resnet", num_classes=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_shift(model, BiasShift({2: 1.5}, "manual"))
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed == ["fc.bias"] and model.state_dict()["fc.bias"][2] == pytest.approx(before["fc.bias"][2] + 1.5)


def test_kd_without_a_class_then_bias_adjust_auto(digits_teacher, tmp_path):
    result = distill(
        distill_config(digits_teacher, tmp_path, epochs=4, temperature=4.0, drop_classes=("3",), bias_adjust="auto")
    )
    card = json.loads((tmp_path / "student.json").read_text())
    metrics = card["metrics"]
    rows = {r["class"]: r for r in metrics["per_class"]}
    assert (
        rows["3"]["seen"] is False
        and rows["3"]["train_labelled"] == 0
        and all(r["seen"] for n, r in rows.items() if n != "3")
    )
    assert card["training"]["never_seen_classes"] == ["3"] and card["training"]["train_data"]["dropped_classes"] == [
        "3"
    ]
    adjust = metrics["bias_adjust"]
    assert adjust["rule"] == "auto" and adjust["chosen_on"] == "val" and adjust["shifts"]["3"] >= 0
    assert (
        adjust["val_top1_after"]
        >= adjust["val_top1_before"]
        == pytest.approx(metrics["before_bias_adjust"]["val"]["top1"])
    )
    assert metrics["val"]["top1"] == pytest.approx(adjust["val_top1_after"])
    assert rows["3"]["test"] >= rows["3"]["test_before_bias_adjust"]
    # The saved student carries the shift: reloading it reproduces the adjusted test figures.
    student = timm.create_model("test_resnet", num_classes=10)
    student.load_state_dict(read_state_dict(tmp_path / "student.safetensors"))
    test = predict(
        student,
        ModelInput(result.card.input),
        BatchLoader(load_dataset("digits").test, 256, shuffle=False),
        torch.device("cpu"),
    )
    assert test.top1() == pytest.approx(metrics["test"]["top1"], abs=1e-4)
    assert test.per_class(10)[3] == pytest.approx(rows["3"]["test"], abs=1e-4)
    # The report marks the never-seen class with its figures before and after the shift.
    from edgekd.report import ReportConfig, build_report

    (entry,) = build_report(
        ReportConfig(inputs=(tmp_path / "student.safetensors",), out_dir=tmp_path / "report")
    ).report.distillation
    (unseen,) = entry.unseen_classes
    assert (
        unseen.name == "3"
        and unseen.top1 == rows["3"]["test"]
        and unseen.top1_before_bias_adjust == rows["3"]["test_before_bias_adjust"]
    )


def test_bias_adjust_needs_dropped_classes_and_a_val_split(digits_teacher, tmp_path):
    import dataclasses

    with pytest.raises(ConfigError, match="give --drop-classes too"):
        distill(distill_config(digits_teacher, tmp_path, bias_adjust="auto"))
    config = distill_config(digits_teacher, tmp_path, drop_classes=("3",), bias_adjust="auto")
    with pytest.raises(ConfigError, match="--val-size 0 left none"):
        distill(dataclasses.replace(config, data=dataclasses.replace(config.data, val_size=0)))
    assert not (tmp_path / "student.safetensors").exists()
