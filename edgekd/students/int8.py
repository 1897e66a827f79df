"""`--int8`: the CPU INT8 recipe of a candidate, exported and timed only where its latency can
change the search's verdict.

The search times every candidate's FP32 ONNX first. A candidate whose FP32 latency already fits
the budget stays feasible whatever INT8 gives; one more than `latency.INT8_MAX_SPEEDUP` × over it
cannot come under. Only the ones in between pay for quantization, its gate and a second timing;
the others say why in `students.json` (`int8`, and their decision).
"""

from __future__ import annotations

from pathlib import Path

from edgekd.data import Dataset
from edgekd.engine import Progress
from edgekd.errors import EdgekdError
from edgekd.students import latency
from edgekd.students.candidates import Candidate, export_int8
from edgekd.students.config import StudentsConfig


def time_where_it_matters(
    config: StudentsConfig, candidates: list[Candidate], calib: Path, dataset: Dataset, progress: Progress
) -> None:
    """Export and time the CPU INT8 recipe of each timed candidate whose INT8 latency can decide
    whether it fits (`latency.int8_skip_reason` says why the others are left at FP32)."""
    assert config.budget_ms is not None  # set by the time candidates are timed (validate, teacher budget)
    timed = [c for c in candidates if not c.dropped and c.latency_ms is not None]
    progress.start("INT8: export (gate) and timing where it can change the budget's verdict", len(timed))
    for candidate in timed:
        fp32_ms = candidate.latency["fp32"][config.statistic]
        candidate.int8 = latency.int8_skip_reason(fp32_ms, config.budget_ms)
        if candidate.int8 is None:
            fp32 = candidate.onnx["fp32"]
            try:
                candidate.onnx["int8"] = export_int8(
                    fp32, fp32.parent.parent / "export-int8", calib=calib, threads=config.threads, dataset=dataset
                )
            except EdgekdError as exc:  # the FP32 model still stands; its INT8 recipe does not
                candidate.int8 = f"export failed, kept at FP32: {exc}"
            else:
                candidate.latency["int8"] = latency.measure_on_target(config, candidate.onnx["int8"], "int8")
                latency.choose_precision(candidate, config.statistic)
                progress.log(
                    f"{candidate.arch}: INT8 {candidate.latency['int8'][config.statistic]:.3f} ms "
                    f"{config.percentile} → {candidate.precision} {candidate.latency_ms:.3f} ms"
                )
        progress.advance(1, candidate=candidate.arch)
    progress.finish({"int8_timed": sum("int8" in c.latency for c in timed), "of": len(timed)})


def note_in_decisions(candidates: list[Candidate]) -> None:
    """Say in each decision why a candidate's INT8 model was not timed (students.json's reader
    should not take a missing INT8 figure for a slow or failed one)."""
    for candidate in candidates:
        if candidate.int8:
            note = f"INT8 {candidate.int8}"
            candidate.decision = f"{candidate.decision}; {note}" if candidate.decision else note
