"""Helpers of the fault tests (imported by name: this folder is on sys.path under pytest).

Every fault is real: `edgekd` runs as its own process (`python -m edgekd`), signals are sent
with `os.kill`, and a kill "mid-epoch" waits for a file the run itself writes (its epoch-1
checkpoint appears atomically, so once it exists the run is inside epoch 2) rather than for a
sleep tuned to one machine.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

import edgekd

REPO = Path(__file__).resolve().parents[2]
# The package under test, first on the path of every child process (a worktree or a checkout).
_PACKAGE_ROOT = str(Path(edgekd.__file__).resolve().parents[1])
# The threads of this process: an interrupted child and its resumption here must compute
# exactly as the straight run does, and a CPU kernel's reduction order depends on the threads.
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([_PACKAGE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]),
    "OMP_NUM_THREADS": str(torch.get_num_threads()),
    "OMP_WAIT_POLICY": "PASSIVE",
    "COLUMNS": "200",
}
ENV.pop("EDGEKD_DEBUG", None)  # refusals must print their one line, not a traceback
POLL_S = 0.002
LIMIT_S = 300  # a run that takes this long is hung: fail rather than wait for ever

# A teacher run of these tests: timm's test_resnet on 600 digits at 16 px, 3 epochs (~0.5 s each).
DATA = ("--data", "digits", "--limit-train", "600", "--img-size", "16", "--batch-size", "64", "--device", "cpu")
TEACHER = ("teacher", "train", "test_resnet", *DATA, "--epochs", "3", "--lr", "0.05")
# A quick export with INT8 on digits (no timing): the work the export fault tests interrupt.
EXPORT = (
    "--int8",
    "--calib",
    str(REPO / "calibration" / "digits-val.yaml"),
    "--no-latency",
    "--no-speed-search",
    "--parity-samples",
    "64",
)


def distill_args(teacher: Path, *extra: str) -> tuple[str, ...]:
    return ("distill", "--teacher", str(teacher), "--student", "test_resnet", *DATA, "--epochs", "3", *extra)


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def _default_sigint() -> None:
    """A suite started in the background of a non-interactive shell (`make test &`, some CI
    runners) inherits SIGINT ignored, and so would every run it starts: Python then never raises
    KeyboardInterrupt and a Ctrl-C test would see the run finish. Give the run what a terminal
    gives it: SIGINT at its default, which Python turns into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Edgekd:
    """One `python -m edgekd ARGS…` process; stdout and stderr go to files (no pipe to fill)."""

    def __init__(self, *args: str | os.PathLike, cwd: Path, name: str = "run", env: dict[str, str] | None = None):
        self.args = [str(a) for a in args]
        self.out_path, self.err_path = cwd / f"{name}.stdout", cwd / f"{name}.stderr"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edgekd", *self.args],
                stdout=out,
                stderr=err,
                env={**ENV, **(env or {})},
                cwd=cwd,
                preexec_fn=_default_sigint,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll `condition` until it holds; fails if the process ends first."""
        deadline = time.monotonic() + LIMIT_S
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"edgekd {' '.join(self.args)} ended (exit {self.process.returncode}) before "
                    f"{what}:\n{self.stderr()}"
                )
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"edgekd {' '.join(self.args)}: no {what} after {LIMIT_S} s")
            time.sleep(POLL_S)

    def signal(self, number: int) -> None:
        os.kill(self.pid, number)

    def finish(self) -> Finished:
        try:
            code = self.process.wait(timeout=LIMIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return Finished(code, self.out_path.read_text(), self.stderr())


def run(*args: str | os.PathLike, cwd: Path, name: str = "run") -> Finished:
    """Run `edgekd ARGS…` to its end in a process of its own."""
    return Edgekd(*args, cwd=cwd, name=name).finish()


def run_here(*args: str | os.PathLike) -> Finished:
    """Run `edgekd ARGS…` in this process (no second start of torch: the runs that are not
    faulted — references, resumptions, refused runs — cost only their work)."""
    from edgekd.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Finished(code, out.getvalue(), err.getvalue())


def interrupt_in_epoch_2(args: tuple, out: Path, cwd: Path, number: int) -> Finished:
    """Start a training run and send it `number` once epoch 1's checkpoint exists.

    Asserts that the signal landed in epoch 2: the checkpoint still holds epoch 1 and no
    final weights were written (a run the signal missed fails here instead of passing).
    """
    process = Edgekd(*args, cwd=cwd, name=f"interrupted-{signal.Signals(number).name}")
    process.wait_until(lambda: (out / "checkpoint.pt").exists(), "its epoch-1 checkpoint")
    process.signal(number)
    finished = process.finish()
    assert checkpoint_epoch(out / "checkpoint.pt") == 1, finished.stderr
    assert not list(out.glob("*.safetensors")), "the signal came after the run had finished"
    return finished


def checkpoint_epoch(path: Path) -> int:
    """The epochs a training checkpoint holds (loaded as `--resume` loads it: weights only)."""
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


def assert_same_tensors(a: Path, b: Path) -> None:
    """Two safetensors files hold the same tensor names, dtypes and bitwise-equal values."""
    from safetensors.torch import load_file

    left, right = load_file(str(a)), load_file(str(b))
    assert left.keys() == right.keys()
    different = [
        name for name in left if left[name].dtype != right[name].dtype or not torch.equal(left[name], right[name])
    ]
    assert not different, f"{len(different)} of {len(left)} tensors differ, e.g. {different[:3]}"


def temporaries(folder: Path) -> list[Path]:
    """Temporary files of atomic writes under `folder` (a writer's leftovers)."""
    return sorted(folder.rglob(".*.tmp"))


def final_files(folder: Path) -> list[Path]:
    """Files under their final names (not a temporary file, not the lock file, nothing in a
    hidden work folder)."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def assert_every_file_loads(folder: Path) -> list[str]:
    """Every file under its final name is whole: JSON parses, ONNX passes onnx.checker,
    safetensors load, checkpoints load (weights only). Returns the names checked."""
    import onnx
    from safetensors.torch import load_file

    checked = []
    for path in final_files(folder):
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            [json.loads(line) for line in path.read_text().splitlines()]
        elif path.suffix == ".onnx":
            onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        elif path.suffix == ".safetensors":
            load_file(str(path))
        elif path.suffix == ".pt":
            torch.load(path, map_location="cpu", weights_only=True)
        elif path.suffix in (".md", ".html"):
            text = path.read_text()
            assert text.rstrip().endswith("</html>") if path.suffix == ".html" else text.strip(), path
        checked.append(path.name)
    return checked


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime ns) of every file under `folder`: to show that a refused run wrote nothing."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }
