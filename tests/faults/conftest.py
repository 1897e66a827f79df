"""Fixtures of the fault tests: uninterrupted reference runs and a small disk to fill."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from fault_helpers import TEACHER, run_here


@pytest.fixture(scope="session")
def straight_teacher(tmp_path_factory) -> Path:
    """An uninterrupted `edgekd teacher train` run (the reference of the resumed ones)."""
    out = tmp_path_factory.mktemp("straight-teacher") / "out"
    finished = run_here(*TEACHER, "--out", out)
    assert finished.code == 0, finished.stderr
    return out


@contextlib.contextmanager
def mounted_tmpfs(mount_point: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of `size_bytes` at `mount_point`; skips the test where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip(
            "a full disk is simulated with a small tmpfs, and mounting one needs root (run the suite as root or "
            "in a container)"
        )
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("a full disk is simulated with a small tmpfs: mount/umount are not installed")
    mount_point.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs here (mount said: {mounted.stderr.strip() or mounted.returncode}); needs "
            "CAP_SYS_ADMIN"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    """`small_disk(size_bytes)` mounts a tmpfs of that size and returns its path."""
    with contextlib.ExitStack() as stack:
        counter = iter(range(100))
        yield lambda size_bytes: stack.enter_context(mounted_tmpfs(tmp_path / f"disk{next(counter)}", size_bytes))
