"""The output-folder lock, against real holder processes: a live holder refuses the second run
in one line naming it; a SIGKILLed holder's lock is taken over; its half-written temporaries
are removed by the next owner, a live writer's never."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fault_helpers import ENV, LIMIT_S, POLL_S

from edgekd.errors import FolderInUse
from edgekd.locks import LOCK_NAME, folder_lock, read_holder

HOLDER = textwrap.dedent(
    """
    import sys, time
    from edgekd.artifacts import atomic_path
    from edgekd.locks import folder_lock

    folder = sys.argv[1]
    with folder_lock(folder), atomic_path(folder + "/model.onnx") as tmp:
        tmp.write_bytes(b"half an ONNX")
        print("held", flush=True)
        time.sleep(600)
    """
)


def _start_holder(folder: Path, tmp_path: Path) -> subprocess.Popen:
    """A process that holds `folder` while it is half-way through writing model.onnx."""
    log = tmp_path / "holder.stdout"
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=open(log, "w"), env=ENV)
    deadline = time.monotonic() + LIMIT_S
    while "held" not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, "the holder did not start"
        time.sleep(POLL_S)
    return process


def test_a_live_holder_refuses_a_second_run_in_one_line(tmp_path):
    folder = tmp_path / "out"
    holder = _start_holder(folder, tmp_path)
    try:
        with pytest.raises(FolderInUse) as refused:
            with folder_lock(folder):
                pass
        message = str(refused.value)
        assert (
            "\n" not in message
            and f"{folder} is in use by another edgekd run (pid {holder.pid} on {socket.gethostname()}" in message
        )
        assert read_holder(folder).pid == holder.pid  # the refused run left the holder's lock alone
    finally:
        holder.kill()
        holder.wait()


def test_a_sigkilled_holders_lock_is_taken_over_and_its_temporaries_removed(tmp_path):
    folder = tmp_path / "out"
    holder = _start_holder(folder, tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    (leftover,) = folder.glob(f".model.onnx.{holder.pid}.*.tmp")  # SIGKILL skips every clean-up
    assert read_holder(folder).pid == holder.pid

    live_writer_tmp = folder / f".other.onnx.{os.getpid()}.abcd1234.tmp"  # a writer still running
    live_writer_tmp.write_bytes(b"")
    said = []
    with folder_lock(folder, log=said.append):
        assert read_holder(folder).pid == os.getpid()
        assert not leftover.exists() and live_writer_tmp.exists()
    assert len(said) == 1 and f"pid {holder.pid}" in said[0] and "interrupted" in said[0]
    assert not (folder / LOCK_NAME).exists()  # released on exit


def test_a_refused_or_failed_run_leaves_no_new_folder_behind(tmp_path):
    folder = tmp_path / "runs" / "new"
    with pytest.raises(RuntimeError):
        with folder_lock(folder):
            raise RuntimeError("bad input found after the lock was taken")
    assert not (tmp_path / "runs").exists()
    with folder_lock(folder):
        (folder / "model.onnx").write_bytes(b"x")
    assert [p.name for p in folder.iterdir()] == ["model.onnx"]


def test_one_process_may_nest_the_lock_of_a_folder(tmp_path):
    with folder_lock(tmp_path / "out"):
        with folder_lock(tmp_path / "out"):
            pass
        assert read_holder(tmp_path / "out").pid == os.getpid()
    assert not (tmp_path / "out").exists()
