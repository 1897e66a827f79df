"""Writing artefacts safely and recording how they were made.

All files edgekd produces go through `atomic_write`: the bytes land in a temporary file in the
same directory and are moved into place with `os.replace`, so an interrupted run never leaves
a half-written checkpoint, model or report behind. A temporary file is named
`.<name>.<writer pid>.<random>.tmp`: one left by a killed writer (SIGKILL skips all clean-up)
is recognised by its dead pid and removed by the next run that owns the folder
(`remove_stale_temporaries`). A stage's private work folder (`work_folder`) is named the same
way, inside the output folder it works for, so the same clean-up removes one left by a killed
run: a folder under /tmp would outlive the run with nobody to remove it. A write that does not
fit on the disk raises `DiskFull`, naming the file, and leaves the previous file in place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from edgekd import __version__
from edgekd.errors import DiskFull


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


_TEMP_SUFFIX = ".tmp"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it into place only if the block succeeds.

    Raises:
        DiskFull: the file system of `path` ran out of space (the previous file is kept).
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        # mkstemp creates 0600 and some writers (safetensors) recreate the file: set the usual
        # permissions on what was written, just before it takes the artefact's name.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except Exception as exc:
        if is_out_of_space(exc):
            raise _disk_full(target) from exc
        raise
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def _disk_full(target: Path) -> DiskFull:
    return DiskFull(
        f"cannot write {target}: the disk is full (no space left in {target.parent}); free some space or "
        f"write elsewhere. The previous {target.name}, if any, is kept."
    )


@contextlib.contextmanager
def full_disk_named(target: str | os.PathLike[str]) -> Iterator[None]:
    """Report running out of space in the block as `DiskFull` naming `target`: for a work copy
    of an artefact, written before the artefact itself (`atomic_path` names its own)."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as exc:
        if is_out_of_space(exc):
            raise _disk_full(Path(target)) from exc
        raise


def is_out_of_space(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a full disk or quota. safetensors' writer reports
    the OS error only in its message, so the message is checked as well as the errno."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _NO_SPACE:
            return True
        text = str(seen)
        if any(
            mark in text for mark in ("No space left on device", "Disk quota exceeded", f"(os error {errno.ENOSPC})")
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def work_folder(parent: str | os.PathLike[str], purpose: str) -> Iterator[Path]:
    """A private folder `.<purpose>.<pid>.<random>.tmp` inside `parent` for the block, then removed.

    Hidden and named like a temporary file, so readers of `parent` skip it and the next owner
    of `parent` (`remove_stale_temporaries`) removes it when this process was killed before
    its clean-up. `parent` must be a folder this process owns (holds `folder_lock` on).
    """
    folder = Path(tempfile.mkdtemp(prefix=f".{purpose}.{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files and work folders in `folder` (not below it) whose writer
    process is gone.

    Only the folder's owner calls this (`edgekd.locks.folder_lock`); a temporary of a writer
    that is still running, or of another host's writer whose pid is not known here, is never
    touched. Returns the entries removed.
    """
    removed = []
    for entry in Path(folder).glob(f".*{_TEMP_SUFFIX}"):
        parts = entry.name[: -len(_TEMP_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit() or _pid_alive(int(parts[1])):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except FileNotFoundError:
            pass
    return removed


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write `payload` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide what an artefact computes."""
    versions = {"edgekd": __version__, "python": platform.python_version()}
    for name in ("torch", "timm", "onnx", "onnxruntime", "numpy", "tensorrt"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except Exception:  # an optional library that is absent or broken is simply not recorded
                continue
        versions[name] = getattr(module, "__version__", "unknown")
    return versions


def provenance(config: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    """What every artefact records so that its run can be reproduced."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]),
        "seed": seed,
        "config": config,
        "versions": library_versions(),
        "host": {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count()},
    }
