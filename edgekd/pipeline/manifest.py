"""Stage manifests: what a finished run was made from, so a rerun can tell whether it is still valid.

Each run directory gets `manifest.json` as the very last thing it writes: the hash of the
run's own config, the sha256 of every input file, the sha256 of every output file, and for
profile runs the machine fingerprint. A run is cached when all of these still match; any
difference is reported in words ("config changed", "input student.safetensors changed", …).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekd.artifacts import read_json, sha256_file, write_json

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "edgekd.pipeline-manifest/1"

_hash_memo: dict[tuple[str, int, int], str] = {}


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of a config's canonical JSON (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_hash(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) within this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_memo:
        _hash_memo[key] = sha256_file(path)
    return _hash_memo[key]


def relative_to(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


@dataclass
class Manifest:
    """The record of one finished stage run.

    Attributes:
        inputs: {input name: sha256} of the files it read.
        outputs: {path relative to the run directory: sha256} of the files it wrote.
        machine: machine fingerprint for runs whose result depends on the machine (profile).
        summary: a short line shown in the plan when the run is cached (e.g. "test top-1 89.2 %").
        passed: for gate runs, whether the gate passed (a cached failing gate still fails).
    """

    stage: str
    run: str
    config_hash: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    machine: str | None = None
    summary: str = ""
    passed: bool | None = None
    wall_time_s: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)
    schema: str = MANIFEST_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_manifest(run_dir: Path) -> Manifest | None:
    """The manifest in `run_dir`, or None when there is none or it is unreadable (→ rerun)."""
    path = run_dir / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        payload = read_json(path)
        if payload.get("schema") != MANIFEST_SCHEMA:
            log.debug("%s: schema %r is not %s; the run is redone", path, payload.get("schema"), MANIFEST_SCHEMA)
            return None
        return Manifest(**payload)
    except (ValueError, TypeError, OSError) as exc:
        log.debug("%s is unreadable (%s: %s); the run is redone", path, type(exc).__name__, exc)
        return None


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    write_json(run_dir / MANIFEST_NAME, manifest.to_dict())


def remove_manifest(run_dir: Path) -> None:
    """Forget a run before redoing it, so a failure midway never looks finished."""
    path = run_dir / MANIFEST_NAME
    if path.exists():
        os.unlink(path)


def staleness(
    manifest: Manifest | None, run_dir: Path, config_digest: str, inputs: dict[str, Path], machine: str | None
) -> str | None:
    """Why a run must be redone, or None when its manifest still matches.

    Args:
        inputs: {name: file} the run reads now.
        machine: the current machine fingerprint, for machine-dependent runs.
    """
    if manifest is None:
        return "not run yet"
    if manifest.config_hash != config_digest:
        return "config changed"
    if machine is not None and manifest.machine != machine:
        return "another machine"
    if set(manifest.inputs) != set(inputs):
        return "inputs changed"
    for name, path in inputs.items():
        if not path.exists():
            return f"input {name} missing"
        if file_hash(path) != manifest.inputs[name]:
            return f"input {name} changed"
    for relative, digest in manifest.outputs.items():
        path = run_dir / relative
        if not path.exists():
            return f"output {relative} missing"
        if file_hash(path) != digest:
            return f"output {relative} modified"
    return None
