"""A report's comparisons: each model against the teacher (speed-up, top-1 and agreement) and
the accuracy-latency Pareto front of every model timed at the report's batch."""

from __future__ import annotations

from edgekd.report.schema import Comparison, ModelEntry, Pareto, ParetoPoint, Speedup

NATURAL_BACKEND = {"torch": "torch", "onnx": "ort", "tensorrt": "trt"}


def compare_with_teacher(model: ModelEntry, teacher: ModelEntry, batch: int | None) -> Comparison:
    speedups = []
    for entry in model.latency:
        # Like for like: same machine, device, batch and thread count (threads change CPU latency several-fold).
        matches = [
            t
            for t in teacher.latency
            if (t.machine, t.device, t.batch, t.threads) == (entry.machine, entry.device, entry.batch, entry.threads)
        ]
        if matches:
            best = min(matches, key=lambda t: t.mean_ms)
            speedups.append(
                Speedup(
                    batch=entry.batch,
                    device=entry.device,
                    machine=entry.machine,
                    threads=entry.threads,
                    backend=entry.backend,
                    teacher_backend=best.backend,
                    teacher_mean_ms=best.mean_ms,
                    model_mean_ms=entry.mean_ms,
                    speedup=best.mean_ms / entry.mean_ms,
                )
            )
    headline = [s for s in speedups if s.batch == batch]
    natural = NATURAL_BACKEND[model.format]
    headline.sort(
        key=lambda s: (s.backend != natural, s.device.startswith("cuda") == (model.target == "cpu"), -(s.threads or 0))
    )

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    top1 = model.accuracy.top1 if model.accuracy else None
    teacher_top1 = teacher.accuracy.top1 if teacher.accuracy else None
    return Comparison(
        model=model.name,
        teacher=teacher.name,
        top1_delta=None if top1 is None or teacher_top1 is None else top1 - teacher_top1,
        agreement=model.accuracy.agreement_with_teacher if model.accuracy else None,
        speedup=headline[0].speedup if headline else None,
        speedup_batch=batch if headline else None,
        speedups=speedups,
        size_ratio=ratio(teacher.size_bytes, model.size_bytes),
        params_ratio=ratio(teacher.params, model.params),
        flops_ratio=ratio(teacher.flops, model.flops),
    )


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For (latency, accuracy) points: True where no other point is at least as fast and as
    accurate and strictly better in one of the two."""
    flags = []
    for i, (latency, accuracy) in enumerate(points):
        dominated = any(
            j != i
            and other_latency <= latency
            and other_accuracy >= accuracy
            and (other_latency < latency or other_accuracy > accuracy)
            for j, (other_latency, other_accuracy) in enumerate(points)
        )
        flags.append(not dominated)
    return flags


def accuracy_latency_front(models: list[ModelEntry], batch: int | None) -> Pareto | None:
    rows = [(m, m.accuracy.top1, e) for m in models if m.accuracy for e in m.latency if e.batch == batch]
    if batch is None or not rows:
        return None
    flags = pareto_front([(e.mean_ms, top1) for _, top1, e in rows])
    return Pareto(
        batch=batch,
        points=[
            ParetoPoint(
                model=m.name,
                backend=e.backend,
                device=e.device,
                threads=e.threads,
                mean_ms=e.mean_ms,
                top1=top1,
                on_front=f,
            )
            for (m, top1, e), f in zip(rows, flags)
        ],
    )
