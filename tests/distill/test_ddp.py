"""DDP on CPU: `edgekd distill --nproc 2` (torchrun, gloo) is as accurate as one process (within
the paired noise of the test split), only rank 0 writes, and the teacher-logit tables gathered
from both ranks are complete."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow  # two extra Python processes: ~40 s on 2 busy cores

COMMON = (
    "--student",
    "test_resnet",
    "--method",
    "kd",
    "--data",
    "digits",
    "--epochs",
    "6",
    "--img-size",
    "16",
    "--device",
    "cpu",
)


def test_two_processes_reach_the_single_process_accuracy(run_cli, digits_teacher, tmp_path):
    cache = tmp_path / "cache"
    # Global batch 64 both ways: 2 ranks × 32 visit exactly the single process's batches.
    ddp = run_cli(
        "distill",
        "--nproc",
        "2",
        "--teacher",
        digits_teacher,
        *COMMON,
        "--batch-size",
        "32",
        "--teacher-cache",
        cache,
        "--out",
        tmp_path / "ddp",
    )
    assert ddp.code == 0, ddp.stderr
    ddp_card = json.loads((tmp_path / "ddp" / "student.json").read_text())
    assert ddp_card["training"]["world_size"] == 2
    assert ddp_card["training"]["process_group"] == "gloo"
    assert len((tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()) == 6  # one writer
    assert not [p for p in (tmp_path / "ddp").iterdir() if p.name.endswith(".tmp")]

    single = run_cli(
        "distill",
        "--teacher",
        digits_teacher,
        *COMMON,
        "--batch-size",
        "64",
        "--teacher-cache",
        cache,
        "--out",
        tmp_path / "single",
    )
    assert single.code == 0, single.stderr
    single_card = json.loads((tmp_path / "single" / "student.json").read_text())
    assert single_card["training"]["process_group"] is None
    # Every sample of every epoch was recorded by one rank or the other: nothing runs online.
    assert single_card["training"]["teacher_cache"]["online_steps"] == 0
    # Not equal runs (each rank normalises its own half-batch in BatchNorm), so their test top-1
    # differs by training noise, which depends on the CPU's float arithmetic. The bound comes from
    # the data: 3 paired standard errors, sqrt(images only one model gets right) / n.
    ddp_right, single_right = (
        _correct_on_test(tmp_path / run / "student.safetensors", tmp_path / f"eval-{run}") for run in ("ddp", "single")
    )
    discordant = int((ddp_right != single_right).sum())
    difference = 100.0 * float(ddp_right.float().mean() - single_right.float().mean())
    assert abs(difference) <= 3 * 100.0 * discordant**0.5 / len(ddp_right) + 1e-9, (difference, discordant)


def _correct_on_test(weights, out_dir):
    from edgekd.evaluate import EvalConfig, evaluate

    predictions = evaluate(EvalConfig(artefact=weights, out_dir=out_dir)).payload["predictions"]
    return torch.tensor(predictions["predicted"]) == torch.tensor(predictions["labels"])


def test_torchrun_with_one_process_joins_a_process_group(digits_teacher, tmp_path):
    """`torchrun --nproc-per-node 1` takes the DDP path (the one a GPU box's NCCL check uses)."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=1",
        "-m",
        "edgekd",
        "distill",
        "--teacher",
        str(digits_teacher),
        *COMMON,
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "one"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((tmp_path / "one" / "student.json").read_text())
    assert (card["training"]["world_size"], card["training"]["process_group"]) == (1, "gloo")
