"""`edgekd students export-candidates`: the candidates' ONNX files and a script that times them
on another device with `edgekd profile`, so `--latency-from` can read the device's figures back.

BUNDLE/<arch>.onnx (+ <arch>.int8-cpu.onnx), BUNDLE/candidates.json (params, MFLOPs, sha256,
why a candidate was dropped) and BUNDLE/profile.sh, which writes
BUNDLE/profiles/<file stem>/profile.json on the device.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from edgekd.artifacts import atomic_write_text, sha256_file, write_json
from edgekd.data import DataConfig
from edgekd.engine import Progress, SilentProgress
from edgekd.errors import ConfigError
from edgekd.models import read_card, resolve_model_path
from edgekd.students.candidates import prepare, resolve_candidates
from edgekd.students.config import SEARCH_EXPORTER

PROFILE_SCRIPT = """#!/bin/sh
# Times every candidate of this bundle on this device with `edgekd profile` (one latency
# definition for all), writing profiles/<name>/profile.json. Extra arguments go to edgekd profile,
# e.g. ./profile.sh --device cuda, or BATCH=8 ./profile.sh. Then, on the search machine:
#   edgekd students ... --target NAME --latency-from BUNDLE/profiles
set -e
cd "$(dirname "$0")"
for model in *.onnx *.engine; do
  [ -e "$model" ] || continue
  edgekd profile "$model" --batch "${BATCH:-%(batch)d}" --out "profiles/$model" "$@"
done
"""


def export_candidates(
    teacher: Path | None,
    out: Path,
    data: DataConfig,
    *,
    candidates: tuple[str, ...] | None = None,
    img_size: int | None = None,
    int8_calib: Path | None = None,
    batch: int = 1,
    seed: int = 0,
    exporter: str = SEARCH_EXPORTER,
    threads: int = 2,
    progress: Progress | None = None,
) -> Path:
    """Write the bundle; returns BUNDLE/candidates.json.

    Args:
        teacher: gives the input size when `img_size` is None.
        data: the data's classes and normalisation (and the parity images).
        int8_calib: a calibration spec: also ship each candidate's CPU INT8 ONNX.
        batch: the batch size profile.sh times by default.
    """
    progress = progress or SilentProgress()
    if img_size is None:
        card = read_card(resolve_model_path(teacher, ("teacher", "student"))) if teacher is not None else None
        if card is None:
            raise ConfigError("export-candidates needs the input size: pass --teacher DIR (its card's) or --img-size.")
        img_size = card.input.size
    dataset = data.load(img_size)
    out = Path(out)
    rows = []
    for arch in resolve_candidates(candidates):
        progress.log(f"{arch}: cost and ONNX export (parity gate)")
        candidate = prepare(
            arch,
            dataset,
            img_size,
            out / "work",
            seed=seed,
            int8_calib=int8_calib,
            exporter=exporter,
            threads=threads,
            progress=SilentProgress(),
        )
        files = {}
        for precision, path in candidate.onnx.items():
            shipped = out / (f"{arch}.onnx" if precision == "fp32" else f"{arch}.{path.name.split('.', 1)[1]}")
            shutil.copyfile(path, shipped)
            files[precision] = {"file": shipped.name, "sha256": sha256_file(shipped)}
        rows.append(
            {
                "arch": arch,
                "params": candidate.params,
                "mflops": candidate.mflops,
                "reparameterized": candidate.reparameterized,
                "files": files,
                "dropped": candidate.dropped,
            }
        )
        if candidate.dropped:
            progress.log(f"{arch}: dropped, {candidate.dropped}")
    atomic_write_text(out / "profile.sh", PROFILE_SCRIPT % {"batch": batch})
    (out / "profile.sh").chmod(0o755)
    write_json(
        out / "candidates.json",
        {"schema": "edgekd.students-bundle/1", "img_size": img_size, "data": dataset.describe(), "candidates": rows},
    )
    return out / "candidates.json"
