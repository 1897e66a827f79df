"""What distillation bought: a distilled student beside the same recipe and seed trained alone, and a
recipe over its seeds."""

from __future__ import annotations

import pytest

from edgekd.report.gain import gain_over_seeds, with_gain_vs_alone
from edgekd.report.schema import Distillation, Report, TeacherFacts
from edgekd.report.sources import recipe_over_seeds
from edgekd.report.tables import distillation_table, seed_gain_table


def entry(model: str, method: str, top1: float, teacher: float = 90.0) -> Distillation:
    return Distillation(
        model=model, method=method, teachers=[TeacherFacts(arch="resnet18", top1=teacher)], student_top1=top1
    )


def test_gain_and_gap_closed_pair_only_the_same_recipe_and_seed():
    recipe, other_seed = ("mobilenetv3", "fp", 0), ("mobilenetv3", "fp", 1)
    entries = [
        (recipe, entry("kd", "kd", 84.0)),
        (recipe, entry("alone", "none", 80.0)),
        (other_seed, entry("kd-s1", "kd", 85.0)),
    ]
    kd, alone, unpaired = with_gain_vs_alone(entries)
    assert (
        kd.alone == "alone" and kd.gain_vs_alone_pts == 4.0 and kd.gap_closed_pct == 40.0
    )  # 4 of the teacher's 10-point lead
    assert alone.alone is None and alone.gain_vs_alone_pts is None
    assert unpaired.alone is None  # seed 1 has no student-alone run to compare with


def test_no_gap_closed_when_the_student_alone_already_matches_the_teacher():
    recipe = ("a", "b", 0)
    (kd, _) = with_gain_vs_alone(
        [(recipe, entry("kd", "kd", 91.0)), (recipe, entry("alone", "none", 92.0, teacher=90.0))]
    )
    assert kd.gain_vs_alone_pts == -1.0 and kd.gap_closed_pct is None


def test_the_distillation_table_shows_gain_and_gap_closed():
    recipe = ("a", "b", 0)
    paired = with_gain_vs_alone([(recipe, entry("kd", "kd", 84.0)), (recipe, entry("alone", "none", 80.0))])
    report = Report(created="now", title="t", system={}, models=[], distillation=paired)
    table = distillation_table(report)
    row = dict(zip(table.headers, table.rows[0]))
    assert row["gain vs alone (pts)"] == "+4.00 (alone)" and row["gap closed"] == "40 %"


def seeded(model: str, method: str, top1: float, seed: int) -> Distillation:
    return entry(model, method, top1).model_copy(update={"seed": seed})


def test_a_recipe_on_three_seeds_is_judged_by_the_paired_rule_and_recipes_never_pool():
    kd_gains, other_gains = [4.0, 1.0, 1.0], [9.0, 9.5]
    entries = []
    for seed, (kd_gain, alone_top1) in enumerate(zip(kd_gains, [80.0, 82.0, 81.0])):
        pair = ("arch", "data", seed)
        entries += [(pair, seeded(f"kd-s{seed}", "kd", alone_top1 + kd_gain, seed))]
        entries += [(pair, seeded(f"alone-s{seed}", "none", alone_top1, seed))]
        if seed < len(other_gains):  # the same method at another temperature: its own recipe
            entries += [(pair, seeded(f"kd-t2-s{seed}", "kd", alone_top1 + other_gains[seed], seed))]
    over_seeds = {"kd-s": "kd T=4", "alone": "alone", "kd-t2": "kd T=2"}
    paired = with_gain_vs_alone(entries)
    keys = [next(v for k, v in over_seeds.items() if d.model.startswith(k)) for d in paired]

    kd, other = gain_over_seeds(list(zip(keys, paired)))
    assert kd.students == ["kd-s0", "kd-s1", "kd-s2"] and kd.seeds == [0, 1, 2]
    assert kd.gain_mean_pts == pytest.approx(2.0) and kd.gain_std_pts == pytest.approx(3.0**0.5)
    assert kd.beats_alone is True  # 2.0 > 1.73
    assert kd.alone_top1_mean == pytest.approx(81.0) and kd.gap_closed_pct == pytest.approx(100 * 2.0 / 9.0)
    assert other.students == ["kd-t2-s0", "kd-t2-s1"] and other.beats_alone is None  # 2 seeds: no verdict

    table = seed_gain_table(Report(created="now", title="t", system={}, models=[], distillation_over_seeds=[kd, other]))
    rows = [dict(zip(table.headers, row)) for row in table.rows]
    assert rows[0]["gain (pts)"] == "+2.00 ± 1.73" and rows[0]["beats alone?"] == "yes"
    assert rows[1]["beats alone?"] == "n/a (< 3 seeds)"


def test_one_seed_or_a_steady_loss_is_never_called_a_win():
    pair = ("a", "b", 0)
    one_seed = with_gain_vs_alone([(pair, seeded("kd", "kd", 90.0, 0)), (pair, seeded("alone", "none", 80.0, 0))])
    assert gain_over_seeds([("r", d) for d in one_seed]) == []
    copied = one_seed[0].model_copy(update={"model": "copy/kd"})  # the same run found twice is still one seed
    assert gain_over_seeds([("r", d) for d in [*one_seed, copied]]) == []
    entries = []
    for seed in range(3):
        pair = ("a", "b", seed)
        entries += [
            (pair, seeded(f"kd-s{seed}", "kd", 80.0 - seed, seed)),
            (pair, seeded(f"a{seed}", "none", 81.0, seed)),
        ]
    (loss,) = gain_over_seeds([("r" if d.method == "kd" else "alone", d) for d in with_gain_vs_alone(entries)])
    assert loss.gain_mean_pts == pytest.approx(-2.0) and loss.beats_alone is False and loss.gap_closed_pct < 0


def card(seed: int, out_dir: str, lr: float = 0.05) -> dict:
    train = {"epochs": 3, "seed": seed, "optim": {"lr": lr}}
    config = {"method": "kd", "out_dir": out_dir, "resume": False, "train": train, "method_options": {}}
    return {
        "arch": "mobilenetv3_small_050",
        "dataset": {"fingerprint": "f"},
        "provenance": {"seed": seed, "config": config},
    }


def test_seeds_of_one_recipe_share_a_key_and_another_lr_does_not():
    assert recipe_over_seeds(card(0, "runs/kd-s0")) == recipe_over_seeds(card(1, "runs/kd-s1"))
    assert recipe_over_seeds(card(0, "runs/kd-s0")) != recipe_over_seeds(card(1, "runs/kd-s1", lr=0.1))
