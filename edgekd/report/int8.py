"""Each INT8 artefact beside the FP32 student it came from: top-1 drop, agreement and latency.

Which student that is, the artefact's own metadata says. ONNX Runtime PTQ (`edgekd export --int8`)
quantizes the checkpoint it exports, named by sha256 in the ONNX's `source`; the INT8 of a QAD
student (`edgekd.export.qdq`) names the FP32 student QAD started from in `qad_from`. So the PTQ
and the QAD INT8 of one student line up against the same FP32 figures.

Everything comes from data the report already holds. The FP32 top-1 is that student's own eval,
else the eval of the FP32 ONNX exported from it (the same weights), on the same split and images
(the same data fingerprint, or the same labels in the same order);
agreement is the share of those images where both predict the same class; latency is compared
with the FP32 ONNX of that student at the report's batch, on the same machine, device, backend and
thread count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.report.schema import Int8VsFp32, Latency, ModelEntry

QAD_KEY = "qad_from"  # the INT8 ONNX metadata entry `edgekd.export.qdq` writes


def _from_student(record: dict[str, Any]) -> tuple[str, str | None, str] | None:
    """(method, sha256 of the FP32 student, its file name) of an INT8 artefact record; None for others."""
    export = record.get("export") or {}
    if not str(record.get("precision", "")).startswith("int8"):
        return None
    if isinstance(export.get(QAD_KEY), dict):
        start = export[QAD_KEY]
        return "qad", start.get("sha256"), Path(str(start.get("path") or "?")).name
    source = export.get("source") if isinstance(export.get("source"), dict) else {}
    if source.get("kind", "checkpoint") != "checkpoint" or not source.get("sha256"):
        return None  # quantized from a bare ONNX: no student to compare with
    return "ptq", source["sha256"], str(source.get("name") or source.get("path") or "?")


def _fp32_onnx_of(student_sha: str, records: dict[str, dict[str, Any]]) -> list[str]:
    """The sha256s of the FP32 ONNX artefacts exported from the student `student_sha`."""
    return [
        sha
        for sha, r in records.items()
        if r.get("format") == "onnx"
        and r.get("precision", "fp32") == "fp32"
        and ((r.get("export") or {}).get("source") or {}).get("sha256") == student_sha
    ]


def _same_images(a: ModelEntry, b: ModelEntry, evals: dict[str, tuple[Path, dict[str, Any]] | None]) -> bool:
    """Whether two models were scored on the same images: same data fingerprint and split, or (a
    QAD student fine-tuned on a train subset has another fingerprint, the same test split) the same
    split with the same labels in the same order."""
    if (
        a.accuracy is None
        or b.accuracy is None
        or (a.accuracy.split, a.accuracy.count)
        != (
            b.accuracy.split,
            b.accuracy.count,
        )
    ):
        return False
    if a.accuracy.dataset_fingerprint == b.accuracy.dataset_fingerprint:
        return True
    labels = [(evals.get(m.sha256) or (None, {}))[1].get("predictions", {}).get("labels") for m in (a, b)]
    return bool(labels[0]) and labels[0] == labels[1]


def _agreement(ours: dict[str, Any] | None, theirs: dict[str, Any] | None) -> float | None:
    """Percent of images where two evals (of the same images) predict the same class."""
    if ours is None or theirs is None:
        return None
    a, b = ours["predictions"]["predicted"], theirs["predictions"]["predicted"]
    return 100.0 * sum(x == y for x, y in zip(a, b)) / len(a) if a and len(a) == len(b) else None


def _latency_pair(model: ModelEntry, reference: ModelEntry | None, batch: int | None) -> tuple[Latency, Latency] | None:
    """The fastest like-for-like (machine, device, backend, threads) pair of measurements at `batch`."""
    if reference is None or batch is None:
        return None
    pairs = [
        (ours, theirs)
        for ours in model.latency
        if ours.batch == batch
        for theirs in reference.latency
        if (theirs.batch, theirs.machine, theirs.device, theirs.backend, theirs.threads)
        == (batch, ours.machine, ours.device, ours.backend, ours.threads)
    ]
    return min(pairs, key=lambda pair: pair[0].mean_ms) if pairs else None


def int8_vs_fp32(
    records: dict[str, dict[str, Any]],
    models: list[ModelEntry],
    evals: dict[str, tuple[Path, dict[str, Any]] | None],
    batch: int | None,
) -> list[Int8VsFp32]:
    """One entry per INT8 artefact whose FP32 student is known from its metadata.

    Args:
        records: sha256 → artefact record (`edgekd.report.sources.read_artefact`).
        models: the report's models (their accuracy and latency already assembled).
        evals: sha256 → the chosen (eval.json path, payload) of each evaluated model.
        batch: the report's reference batch (latency columns).
    """
    by_sha = {m.sha256: m for m in models}
    entries = []
    for model in models:
        origin = _from_student(records[model.sha256])
        if origin is None:
            continue
        method, student_sha, student_file = origin
        student = by_sha.get(student_sha) if student_sha else None
        onnx_copies = [by_sha[sha] for sha in _fp32_onnx_of(student_sha, records)] if student_sha else []
        candidates = ([student] if student else []) + onnx_copies
        reference = next((c for c in candidates if _same_images(c, model, evals)), None)
        fp32_onnx = next((c for c in onnx_copies if _latency_pair(model, c, batch)), None)
        timing = _latency_pair(model, fp32_onnx, batch)
        top1 = model.accuracy.top1 if model.accuracy else None
        student_top1 = reference.accuracy.top1 if reference else None
        entries.append(
            Int8VsFp32(
                model=model.name,
                method=method,
                precision=model.precision,
                target=model.target,
                student=student.name if student else student_file,
                reference=reference.name if reference else None,
                top1=top1,
                student_top1=student_top1,
                drop_pts=None if top1 is None or student_top1 is None else student_top1 - top1,
                agreement=_agreement(
                    (evals.get(model.sha256) or (None, None))[1],
                    (evals.get(reference.sha256) or (None, None))[1] if reference else None,
                ),
                batch=batch if timing else None,
                backend=timing[0].backend if timing else None,
                threads=timing[0].threads if timing else None,
                mean_ms=timing[0].mean_ms if timing else None,
                fp32_mean_ms=timing[1].mean_ms if timing else None,
                speedup=timing[1].mean_ms / timing[0].mean_ms if timing else None,
            )
        )
    return entries
