"""Teacher ensembles: members with other input sizes and normalisation, each member's top-1 vs the
ensemble's vs the student's in student.json, the rule and T applied when reading the per-teacher
cache, and teachers with different class lists refused in one line."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch
from distill_helpers import distill_config

from edgekd.data import BatchLoader, ModelInput, load_dataset
from edgekd.distill import distill, ensemble_logits, load_teacher, soft_targets
from edgekd.distill.teachers import check_teachers_agree
from edgekd.engine import Predictions, predict
from edgekd.errors import ConfigError
from edgekd.models.weights import read_state_dict
from edgekd.report import ReportConfig, build_report


@pytest.fixture(scope="module")
def second_teacher(digits_teacher, tmp_path_factory):
    """The digits teacher's weights as a bare checkpoint, run at 24 px with other normalisation:
    a member that sees other inputs, so it predicts differently."""
    path = tmp_path_factory.mktemp("second") / "bare.pth"
    torch.save(read_state_dict(digits_teacher / "teacher.safetensors"), path)
    return path


def _ensemble_config(digits_teacher, second_teacher, out, **fields):
    config = distill_config(
        digits_teacher,
        out,
        epochs=2,
        teacher_arch="resnet10t",
        teacher_img_size=24,
        teacher_mean=(0.4,),
        teacher_std=(0.3,),
        **fields,
    )
    return dataclasses.replace(config, teacher=(str(digits_teacher), str(second_teacher)))


def test_soft_targets_prob_and_logit_rules():
    a, b = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([[0.0, 2.0, 0.0]])
    prob = soft_targets([a, b], 2.0, "prob")
    assert torch.allclose(prob, (torch.softmax(a / 2, 1) + torch.softmax(b / 2, 1)) / 2)
    assert torch.allclose(soft_targets([a, b], 2.0, "logit"), torch.softmax((a + b) / 4, 1))
    assert torch.allclose(ensemble_logits([a, b], "prob").softmax(1), soft_targets([a, b], 1.0, "prob"))


def test_card_lists_each_member_the_ensemble_and_the_student(digits_teacher, second_teacher, tmp_path):
    result = distill(
        _ensemble_config(digits_teacher, second_teacher, tmp_path / "run", teacher_cache=tmp_path / "cache")
    )
    card = json.loads((tmp_path / "run" / "student.json").read_text())
    summary = card["metrics"]["ensemble"]
    assert summary["rule"] == "prob" and [m["path"] for m in summary["members"]] == [
        str(digits_teacher / "teacher.safetensors"),
        str(second_teacher),
    ]
    # Each member's figure is that teacher's own test top-1 on its own input (size, normalisation).
    test = load_dataset("digits").test
    logits = []
    for source, member in zip((digits_teacher, second_teacher), summary["members"]):
        teacher = load_teacher(source, arch="resnet10t", img_size=24, mean=(0.4,), std=(0.3,), default_img_size=16)
        own = predict(
            teacher.model, ModelInput(teacher.input), BatchLoader(test, 256, shuffle=False), torch.device("cpu")
        )
        assert member["top1"] == pytest.approx(own.top1(), abs=0.2)
        logits.append(own.logits)
    assert summary["members"][0]["top1"] != summary["members"][1]["top1"]  # two different members
    # Per member, the paired count behind "beats": images only the ensemble / only the member gets right.
    ensemble_test = Predictions(ensemble_logits(logits, "prob"), test.labels)
    for member, own_logits in zip(summary["members"], logits):
        paired = member["test_vs_ensemble"]
        ens_right, own_right = ensemble_test.predicted.eq(test.labels), own_logits.argmax(1).eq(test.labels)
        # ±1: the card's members come from the logit cache (stored at lower precision), ties may break apart.
        assert abs(paired["only_ensemble_right"] - int((ens_right & ~own_right).sum())) <= 1
        assert abs(paired["only_member_right"] - int((own_right & ~ens_right).sum())) <= 1
        assert 0.0 < paired["mcnemar_p"] <= 1.0
    assert summary["top1"] == pytest.approx(Predictions(ensemble_logits(logits, "prob"), test.labels).top1(), abs=0.2)
    assert (
        summary["student_top1"] == card["metrics"]["test"]["top1"]
        and summary["top1"] == card["metrics"]["teacher"]["top1"]
    )
    assert result.card.training["teacher_cache"]["online_steps"] > 0
    # The report lists each member, the ensemble and the student from the card.
    report = build_report(ReportConfig(inputs=(tmp_path / "run",), out_dir=tmp_path / "report")).report
    (entry,) = report.distillation
    assert [t.top1 for t in entry.teachers] == [m["top1"] for m in summary["members"]]
    assert (
        entry.ensemble_rule == "prob"
        and entry.ensemble_top1 == summary["top1"]
        and entry.student_top1 == summary["student_top1"]
    )
    assert [t.mcnemar_p for t in entry.teachers] == [m["test_vs_ensemble"]["mcnemar_p"] for m in summary["members"]]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert (
        "## Distillation" in markdown
        and f"ensemble +{entry.teachers[0].only_ensemble_right}/−{entry.teachers[0].only_member_right}" in markdown
    )

    # Another rule and T read the same per-teacher cache: no teacher runs.
    again = distill(
        _ensemble_config(
            digits_teacher,
            second_teacher,
            tmp_path / "logit",
            teacher_cache=tmp_path / "cache",
            ensemble="logit",
            temperature=2.0,
        )
    )
    assert again.card.training["teacher_cache"]["online_steps"] == 0
    assert again.card.metrics["ensemble"]["rule"] == "logit"
    assert again.card.metrics["ensemble"]["top1"] == pytest.approx(
        Predictions(ensemble_logits(logits, "logit"), test.labels).top1(), abs=0.2
    )


def test_teachers_with_other_class_lists_are_refused_naming_both(digits_teacher, tmp_path, run_cli):
    other = tmp_path / "other"
    shutil.copytree(digits_teacher, other)
    card = json.loads((other / "teacher.json").read_text())
    card["class_names"] = ["1", "0", *card["class_names"][2:]]
    (other / "teacher.json").write_text(json.dumps(card))
    with pytest.raises(
        ConfigError, match=r"teachers .* and .*other.* have different class lists \(same classes in another order\)"
    ):
        check_teachers_agree([load_teacher(digits_teacher), load_teacher(other)])
    card["class_names"] = [*card["class_names"][:9], "ten"]
    (other / "teacher.json").write_text(json.dumps(card))
    result = run_cli(
        "distill",
        "--teacher",
        digits_teacher,
        "--teacher",
        other,
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
    )
    assert result.code == 2 and "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (
        "different class lists (only the first has 9; only the second has ten)" in result.stderr
        and str(other) in result.stderr
    )
    assert not (tmp_path / "out").exists() or not (tmp_path / "out" / "student.safetensors").exists()
