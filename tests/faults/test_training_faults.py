"""Training interrupted mid-epoch (SIGINT, SIGKILL) resumes to the very weights of a straight run.

Views are pure functions of (seed, epoch, sample index) and the checkpoint carries the weights,
optimizer, schedule and RNG state, so resuming after epoch 1 is exact: the tensors are compared
bitwise, on any CPU (every run of a test uses the same threads on the same machine).
"""

from __future__ import annotations

import json
import shutil
import signal

import pytest
from fault_helpers import (
    TEACHER,
    Edgekd,
    assert_same_tensors,
    distill_args,
    interrupt_in_epoch_2,
    run_here,
    snapshot,
    temporaries,
)

from edgekd.locks import LOCK_NAME, read_holder

SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGKILL, id="SIGKILL")]


def _check_interrupted(finished, number, out) -> None:
    """How each signal ends a run: Ctrl-C cleans up; SIGKILL leaves its lock file (stale)."""
    if number == signal.SIGINT:
        assert finished.code == 130 and "interrupted" in finished.stderr
        assert "Traceback" not in finished.stderr
        assert not (out / LOCK_NAME).exists() and not temporaries(out)
    else:
        assert finished.code == -signal.SIGKILL
        assert read_holder(out) is not None  # the dead run's lock file, to be taken over


@pytest.mark.parametrize("number", SIGNALS)
def test_teacher_train_interrupted_mid_epoch_resumes_to_the_same_weights(straight_teacher, tmp_path, number):
    out = tmp_path / "out"
    _check_interrupted(interrupt_in_epoch_2((*TEACHER, "--out", out), out, tmp_path, number), number, out)

    resumed = run_here(*TEACHER, "--out", out, "--resume")
    assert resumed.code == 0, resumed.stderr
    assert "resumed from" in resumed.stderr and "after epoch 1" in resumed.stderr
    assert ("taking over its folder" in resumed.stderr) == (number == signal.SIGKILL)
    assert_same_tensors(out / "teacher.safetensors", straight_teacher / "teacher.safetensors")
    assert [r["epoch"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())] == [1, 2, 3]
    assert not temporaries(out) and not (out / LOCK_NAME).exists()


@pytest.fixture(scope="module")
def straight_student(straight_teacher, tmp_path_factory):
    """An uninterrupted distillation that records a fresh teacher cache: (run dir, cache dir)."""
    cwd = tmp_path_factory.mktemp("straight-student")
    finished = run_here(*distill_args(straight_teacher, "--teacher-cache", cwd / "cache", "--out", cwd / "out"))
    assert finished.code == 0, finished.stderr
    return cwd / "out", cwd / "cache"


@pytest.mark.parametrize("number", SIGNALS)
def test_distill_interrupted_while_recording_the_teacher_cache_resumes_to_the_same_student(
    straight_teacher, straight_student, tmp_path, number
):
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = distill_args(straight_teacher, "--teacher-cache", cache, "--out", out)
    _check_interrupted(interrupt_in_epoch_2(args, out, tmp_path, number), number, out)
    assert sorted(p.name for p in cache.rglob("epoch-*.safetensors")) == [
        "epoch-0000.safetensors"
    ]  # epoch 2's was being recorded

    resumed = run_here(*args, "--resume")
    assert resumed.code == 0, resumed.stderr
    assert "after epoch 1" in resumed.stderr
    assert ("taking over its folder" in resumed.stderr) == (number == signal.SIGKILL)
    assert_same_tensors(out / "student.safetensors", straight_student[0] / "student.safetensors")
    reference_cache = straight_student[1]
    for table in sorted(reference_cache.rglob("*.safetensors")):
        assert_same_tensors(cache / table.relative_to(reference_cache), table)
    assert not temporaries(out) and not temporaries(cache)


def test_a_half_written_cache_table_is_never_read_and_is_rebuilt(straight_teacher, straight_student, tmp_path):
    reference_cache = straight_student[1]
    cache = tmp_path / "cache"
    shutil.copytree(reference_cache, cache)
    (damaged,) = cache.rglob("epoch-0001.safetensors")
    whole = damaged.read_bytes()
    damaged.write_bytes(
        whole[: len(whole) // 2]
    )  # what a copy cut short or a crash before the data reached the disk leaves

    finished = run_here(*distill_args(straight_teacher, "--teacher-cache", cache, "--out", tmp_path / "out"))
    assert finished.code == 0, finished.stderr
    assert "damaged table(s) were never read" in finished.stderr
    facts = json.loads((tmp_path / "out" / "student.json").read_text())["training"]["teacher_cache"]
    assert len(facts["rebuilt"]) == 1 and "epoch-0001" in facts["rebuilt"][0]
    steps = facts["cached_steps"] + facts["online_steps"]
    assert facts["online_steps"] == steps // 3  # the teacher ran for epoch 2 only
    assert_same_tensors(damaged, reference_cache / damaged.relative_to(cache))  # rebuilt exactly


def test_a_second_distill_into_a_busy_folder_refuses_in_one_line(straight_teacher, tmp_path):
    out = tmp_path / "out"
    args = distill_args(straight_teacher, "--out", out)
    holder = Edgekd(*args, cwd=tmp_path, name="holder")
    holder.wait_until(lambda: read_holder(out) is not None, "its lock file")
    holder.signal(signal.SIGSTOP)  # frozen while it holds the folder: no race with its end
    try:
        before = snapshot(out)
        second = run_here(*args)
        assert second.code == 2
        (line,) = second.error_lines()
        assert line.startswith("error:") and f"is in use by another edgekd run (pid {holder.pid} on" in line
        assert snapshot(out) == before  # it wrote nothing
    finally:
        holder.signal(signal.SIGKILL)
        holder.finish()
