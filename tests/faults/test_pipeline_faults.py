"""`edgekd run` under faults: a second run of a busy pipeline refuses in one line and writes
nothing; a run SIGKILLed during a stage is redone from that stage only (the finished teacher is
cached and untouched, the killed distillation resumes from its checkpoint)."""

from __future__ import annotations

import signal

import pytest
import yaml
from fault_helpers import Edgekd, run_here, snapshot

from edgekd.artifacts import sha256_file


def _pipeline(tmp_path):
    content = {
        "name": "tiny",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"spec": "digits", "limit_train": 600},
        "teacher": {"arch": "test_resnet", "img_size": 16, "epochs": 2, "batch_size": 64, "lr": 0.05, "device": "cpu"},
        "distill": {"student": "test_resnet", "img_size": 16, "epochs": 3, "batch_size": 64, "device": "cpu"},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path, tmp_path / "runs" / "tiny"


def _statuses(stderr: str) -> dict[str, str]:
    """'  cached teacher  …' lines → {run label: status}."""
    found = {}
    for line in stderr.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("cached", "ran", "failed"):
            found[parts[1]] = parts[0]
    return found


@pytest.mark.slow
def test_a_busy_pipeline_refuses_a_second_run_and_a_killed_run_redoes_only_its_stage(tmp_path):
    pipeline, root = _pipeline(tmp_path)
    first = Edgekd("run", pipeline, cwd=tmp_path, name="first")
    first.wait_until(lambda: any((root / "distill").glob("*/checkpoint.pt")), "the distillation's epoch-1 checkpoint")
    first.signal(signal.SIGSTOP)  # frozen mid-stage, holding the pipeline: no race with its end
    try:
        before = snapshot(root)
        second = run_here("run", pipeline)
        assert second.code == 2
        assert [line for line in second.error_lines() if line.startswith("error:")] == second.error_lines()[-1:]
        assert f"{root} is in use by another edgekd run (pid {first.pid} on" in second.error_lines()[-1]
        assert snapshot(root) == before  # it wrote nothing
    finally:
        first.signal(signal.SIGKILL)
    assert first.finish().code == -signal.SIGKILL
    teacher = root / "teacher" / "teacher.safetensors"
    teacher_sha, teacher_mtime = sha256_file(teacher), teacher.stat().st_mtime_ns

    rerun = run_here("run", pipeline)
    assert rerun.code == 0, rerun.stderr
    statuses = _statuses(rerun.stderr)
    assert statuses.pop("teacher") == "cached"
    assert list(statuses.values()) == ["ran"]  # the one distill run, and nothing else
    assert "resuming its checkpoint" in rerun.stderr and "after epoch 1" in rerun.stderr
    assert "was interrupted; taking over" in rerun.stderr
    assert (sha256_file(teacher), teacher.stat().st_mtime_ns) == (teacher_sha, teacher_mtime)
    assert list(root.glob("distill/*/student.safetensors"))
