"""One writer per output folder: `DIR/.edgekd.lock`, held with `flock` while a stage writes DIR.

Every stage that owns an output folder (teacher, distill, export, report, and `edgekd run` for
the pipeline's root) holds its lock for its whole run, so a second run on the same folder stops
at once with one line naming the holder instead of interleaving its writes with the first's.

Why `fcntl.flock` and not a file created with `O_CREAT | O_EXCL`: the kernel releases an flock
when its holder dies, however it dies (Ctrl-C, SIGKILL, the OOM killer), so a lock left by a
killed run is free by construction. An O_EXCL file outlives its creator, and deciding that it is
stale means trusting a pid: pids are reused, a pid from another host cannot be checked at all,
and two runs that both find a stale file can both delete it and both go ahead. The lock file
still records the holder (pid, host, command, start time): for the message the refused run
prints, and so that the next run can say that the previous one was interrupted. Linux also
honours flock on NFS (it maps it to POSIX byte-range locks there). The descriptor is not
inherited across exec (torchrun, subprocesses); a child forked without exec shares the lock
until it exits, which is right: it may still be writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from edgekd.artifacts import is_out_of_space, remove_stale_temporaries
from edgekd.errors import DiskFull, FolderInUse

LOCK_NAME = ".edgekd.lock"

_held: dict[Path, int] = {}  # folders this process holds → nesting depth (a lock is re-entrant here)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a folder's lock, as recorded in its lock file."""

    pid: int
    host: str
    command: str
    since: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.since}: {self.command}"


def read_holder(folder: str | os.PathLike[str]) -> Holder | None:
    """The holder recorded in `folder`'s lock file, None when there is none or it is unreadable."""
    try:
        payload = json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8"))
        return Holder(int(payload["pid"]), str(payload["host"]), str(payload["command"]), str(payload["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _this_holder() -> Holder:
    program = Path(sys.argv[0]).name
    command = " ".join(["edgekd" if program == "__main__.py" else program, *sys.argv[1:]])  # python -m edgekd
    return Holder(
        os.getpid(), socket.gethostname(), command[:300], datetime.now(timezone.utc).isoformat(timespec="seconds")
    )


def _refusal(folder: Path) -> FolderInUse:
    holder = read_holder(folder)
    if holder is None:  # the holder has just opened the file and not yet written to it
        who = "another edgekd process"
    else:
        who = f"another edgekd run ({holder.describe()})"
    return FolderInUse(f"{folder} is in use by {who}; wait for it to finish, or write to another folder.")


def _acquire(lock_path: Path) -> int:
    """Open and flock `lock_path`; returns the descriptor. Raises FolderInUse when held."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise _refusal(lock_path.parent) from exc
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        if current is not None and current.st_ino == os.fstat(fd).st_ino:
            return fd
        # The previous holder released (and removed) the file between our open and our flock:
        # we locked an orphan inode that nobody else will look at. Start again on the new file.
        os.close(fd)


@contextlib.contextmanager
def folder_lock(
    folder: str | os.PathLike[str], *, log: Callable[[str], None] | None = None, enabled: bool = True
) -> Iterator[None]:
    """Hold `folder`'s lock for the block (creating the folder if needed).

    On entry, a lock file left by a run that died (its flock gone with it) is taken over and
    reported through `log`, and temporary files of writers that died are removed. On exit the
    lock file is removed, and so are the folders this lock created if nothing was written.

    Args:
        log: receives one line when a previous, interrupted run's lock is taken over.
        enabled: False holds nothing (non-zero DDP ranks: rank 0 owns the folder).

    Raises:
        FolderInUse: another process holds the lock (exit 2, one line naming it).
        DiskFull: not even the lock file fits.
    """
    folder = Path(folder)
    key = folder.resolve()
    if not enabled or key in _held:
        if enabled:
            _held[key] += 1
        try:
            yield
        finally:
            if enabled:
                _held[key] -= 1
        return
    created = _first_missing(folder)
    lock_path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = _acquire(lock_path)
    except BaseException as exc:
        _remove_if_empty(folder, created)
        if isinstance(exc, OSError) and is_out_of_space(exc):
            raise _disk_full(lock_path) from exc
        raise
    try:
        previous = read_holder(folder)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(_this_holder().__dict__) + "\n").encode("utf-8"))
        except OSError as exc:
            if is_out_of_space(exc):
                raise _disk_full(lock_path) from exc
            raise
        if previous is not None and log is not None:
            log(f"{folder}: the previous run ({previous.describe()}) was interrupted; taking over its folder")
        remove_stale_temporaries(folder)
        _held[key] = 1
        yield
    finally:
        _held.pop(key, None)
        # Removed while still locked, so nobody can lock this inode and believe it current
        # (`_acquire` checks the inode against the path's).
        lock_path.unlink(missing_ok=True)
        os.close(fd)
        _remove_if_empty(folder, created)


def _disk_full(lock_path: Path) -> DiskFull:
    return DiskFull(
        f"cannot write {lock_path}: the disk is full (no space left in {lock_path.parent}); free some space or "
        "write elsewhere."
    )


def _first_missing(folder: Path) -> Path | None:
    """The outermost of `folder` and its parents that does not exist yet (None: it exists)."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_if_empty(folder: Path, created: Path | None) -> None:
    """Remove the folders this lock created (`folder` up to `created`) while they are empty,
    so that a run refused for bad input leaves nothing behind."""
    if created is None:
        return
    for candidate in (folder, *folder.parents):
        try:
            candidate.rmdir()
        except OSError:  # not empty (or not ours to remove): keep it and its parents
            return
        if candidate == created:
            return
