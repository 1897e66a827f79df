"""The report's tables as plain strings, shared by the Markdown and HTML renderers.

Both renderers print these cells verbatim, so report.md and report.html show exactly the same
figures, formatted once from report.json's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekd.report.schema import Report, TeacherFacts

DASH = "–"


@dataclass
class Table:
    """A titled table of pre-formatted cells; `note` is a sentence printed under it."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


def pct(value: float | None) -> str:
    """Percent with two decimals (accuracy, agreement)."""
    return DASH if value is None else f"{value:.2f}"


def delta(value: float | None) -> str:
    """Signed percentage points."""
    return DASH if value is None else f"{value:+.2f}"


def ms(value: float | None) -> str:
    return DASH if value is None else f"{value:.3f}"


def rate(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def times(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}×"


def megabytes(value: int | None) -> str:
    return DASH if value is None else f"{value / 1e6:.3f}"


def millions(value: float | None) -> str:
    return DASH if value is None else f"{value / 1e6:.3f}"


def models_table(report: Report) -> Table:
    rows = []
    for m in report.models:
        acc = m.accuracy
        rows.append(
            [
                m.name,
                m.role,
                m.format,
                m.precision,
                m.target,
                m.arch or DASH,
                str(m.input_size or DASH),
                pct(acc.top1 if acc else None),
                pct(acc.top5 if acc else None),
                pct(acc.agreement_with_teacher if acc else None),
                millions(m.params),
                millions(m.flops),
                megabytes(m.size_bytes),
            ]
        )
    split = next((m.accuracy.split for m in report.models if m.accuracy), None)
    note = (
        f"Accuracy on the {split} split ({report.dataset['spec']}, fingerprint {report.dataset['fingerprint']}, "
        f"{report.dataset['count']} images)."
        if split and report.dataset
        else ""
    )
    return Table(
        "Models",
        [
            "model",
            "role",
            "format",
            "precision",
            "target",
            "arch",
            "input px",
            "top-1 %",
            "top-5 %",
            "agreement %",
            "params (M)",
            "MFLOPs/img",
            "size (MB)",
        ],
        rows,
        note,
    )


def comparison_table(report: Report) -> Table | None:
    if not report.comparisons:
        return None
    batch = report.reference_batch
    rows = [
        [
            c.model,
            delta(c.top1_delta),
            pct(c.agreement),
            times(c.speedup),
            times(c.size_ratio),
            times(c.params_ratio),
            times(c.flops_ratio),
        ]
        for c in report.comparisons
    ]
    note = (
        f"Against the teacher {report.teacher}. Top-1 Δ in points (model − teacher); ratios are teacher ÷ model "
        f"(× faster, × smaller); speed-up from mean latency at batch {batch} on the same machine, device and "
        "thread count."
    )
    return Table(
        "Student vs teacher",
        ["model", "top-1 Δ (pts)", "agreement %", f"speed-up @b{batch}", "size ×", "params ×", "FLOPs ×"],
        rows,
        note,
    )


def int8_table(report: Report) -> Table | None:
    """Each INT8 artefact (PTQ `int8`, QAD `int8-qad`) beside the FP32 student it came from."""
    if not report.int8_vs_fp32:
        return None
    rows = [
        [
            e.model,
            e.precision,
            e.target,
            e.student,
            pct(e.top1),
            pct(e.student_top1),
            delta(e.drop_pts),
            pct(e.agreement),
            ms(e.mean_ms),
            ms(e.fp32_mean_ms),
            times(e.speedup),
        ]
        for e in report.int8_vs_fp32
    ]
    batch = report.reference_batch
    note = (
        "INT8 top-1 against the FP32 student it was quantized from (PTQ: the student exported; QAD: the student "
        "it was trained from), on the same images: drop in points (FP32 − INT8 top-1), agreement = images with the "
        f"same predicted class. Latency: mean ms at batch {batch}, like for like with that student's FP32 ONNX "
        "(same machine, device, backend and threads); × = FP32 ÷ INT8."
    )
    return Table(
        "INT8 vs FP32 student",
        [
            "model",
            "precision",
            "target",
            "FP32 student",
            "top-1 %",
            "FP32 top-1 %",
            "drop vs FP32 (pts)",
            "agreement %",
            f"INT8 ms @b{batch}",
            "FP32 ms",
            "× vs FP32",
        ],
        rows,
        note,
    )


def latency_table(report: Report) -> Table | None:
    rows = []
    has_power = any(e.power for m in report.models for e in m.latency)
    for m in report.models:
        for e in m.latency:
            row = [
                m.name,
                e.backend,
                e.device,
                e.machine,
                str(e.threads or DASH),
                str(e.batch),
                ms(e.mean_ms),
                ms(e.p50_ms),
                ms(e.p90_ms),
                ms(e.p99_ms),
                rate(e.throughput_img_s),
            ]
            if has_power:
                row += [
                    rate(e.power.mean_power_mw) if e.power else DASH,
                    ms(e.power.energy_per_image_mj) if e.power else DASH,
                ]
            rows.append(row)
    if not rows:
        return None
    headers = [
        "model",
        "backend",
        "device",
        "machine",
        "threads",
        "batch",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "img/s",
    ]
    if has_power:
        headers += ["power mW", "mJ/img"]
    return Table(
        "Latency",
        headers,
        rows,
        f"Latency: {report.latency_definition}. Throughput = batch / mean latency."
        if report.latency_definition
        else "",
    )


def per_class_table(report: Report) -> Table | None:
    scored = [(m.name, m.accuracy.per_class) for m in report.models if m.accuracy and m.accuracy.per_class]
    if not scored or not report.class_names:
        return None
    rows = []
    for index, name in enumerate(report.class_names):
        rows.append([name] + [pct(per_class[index] if index < len(per_class) else None) for _, per_class in scored])
    return Table("Per-class top-1 %", ["class"] + [model for model, _ in scored], rows)


def _versus(teacher: TeacherFacts) -> str:
    if teacher.mcnemar_p is None:
        return ""
    return f" (ensemble +{teacher.only_ensemble_right}/−{teacher.only_member_right}, p {teacher.mcnemar_p:.2g})"


def distillation_table(report: Report) -> Table | None:
    if not report.distillation:
        return None
    rows = []
    for d in report.distillation:
        teachers = ", ".join(f"{t.arch or DASH} {pct(t.top1)}{_versus(t)}" for t in d.teachers)
        unseen = (
            "; ".join(f"{u.name} {pct(u.top1_before_bias_adjust)} → {pct(u.top1)}" for u in d.unseen_classes) or DASH
        )
        ensemble = f"{pct(d.ensemble_top1)} ({d.ensemble_rule})" if d.ensemble_rule else DASH
        gain = DASH if d.gain_vs_alone_pts is None else f"{d.gain_vs_alone_pts:+.2f} ({d.alone})"
        gap = DASH if d.gap_closed_pct is None else f"{d.gap_closed_pct:.0f} %"
        rows.append([d.model, d.method or DASH, teachers, ensemble, pct(d.student_top1), gain, gap, unseen])
    note = (
        "Test top-1 % as each student's card records it (its own data and split). Ensemble members: test images "
        "only the ensemble "
        "gets right / only the member, and McNemar's exact p (small p: the difference is beyond chance). "
        "Gain vs alone: test top-1 points over the same recipe and seed trained without a teacher (method none); "
        "gap closed: "
        "that gain as a share of the teacher's lead over the student alone. "
        "Classes never seen: test top-1 of that class without → with the bias adjustment."
    )
    return Table(
        "Distillation",
        [
            "student",
            "method",
            "teachers (test top-1 %)",
            "ensemble top-1 %",
            "student top-1 %",
            "gain vs alone (pts)",
            "gap closed",
            "classes never seen",
        ],
        rows,
        note,
    )


def seed_gain_table(report: Report) -> Table | None:
    """Each distillation recipe over its seeds: what one seed's gain cannot say."""
    if not report.distillation_over_seeds:
        return None
    rows = []
    for g in report.distillation_over_seeds:
        verdict = "n/a (< 3 seeds)" if g.beats_alone is None else ("yes" if g.beats_alone else "no")
        rows.append(
            [
                g.method or DASH,
                ", ".join(g.students),
                ", ".join(DASH if seed is None else str(seed) for seed in g.seeds),
                f"{g.student_top1_mean:.2f} ± {g.student_top1_std:.2f}",
                f"{g.alone_top1_mean:.2f}",
                f"{g.gain_mean_pts:+.2f} ± {g.gain_std_pts:.2f}",
                DASH if g.gap_closed_pct is None else f"{g.gap_closed_pct:.0f} %",
                verdict,
            ]
        )
    note = (
        "Test top-1 % over the seeds of one recipe, each seed paired with the same seed trained alone. Gain: mean ± "
        "std of the same-seed gains. Beats alone (the paired rule): the mean gain is above that std, over ≥ 3 seeds."
    )
    headers = ["method", "students", "seeds", "student top-1 %", "alone top-1 %", "gain (pts)", "gap closed"]
    return Table("Distillation over seeds", [*headers, "beats alone?"], rows, note)


def machines_table(report: Report) -> Table | None:
    machines = report.system.get("machines") or {}
    if not machines:
        return None
    rows = []
    for fingerprint, facts in machines.items():
        gpu = facts.get("gpu") or DASH
        if facts.get("gpu_driver"):
            gpu += f" (driver {facts['gpu_driver']})"
        rows.append(
            [
                fingerprint,
                str(facts.get("cpu_model") or DASH),
                f"{facts.get('cpu_physical_cores') or DASH}/{facts.get('cpu_logical_cores') or DASH}",
                gpu,
                str(facts.get("cuda") or DASH),
                str(facts.get("tensorrt") or DASH),
                str(facts.get("onnxruntime") or DASH),
                str(facts.get("torch") or DASH),
                str(facts.get("jetson_power_mode") or DASH),
            ]
        )
    return Table(
        "Machines",
        [
            "machine",
            "CPU",
            "cores (phys/logical)",
            "GPU",
            "CUDA",
            "TensorRT",
            "ONNX Runtime",
            "torch",
            "Jetson power mode",
        ],
        rows,
    )


def all_tables(report: Report) -> list[Table]:
    """Every table of the report, in reading order."""
    found = [
        models_table(report),
        comparison_table(report),
        int8_table(report),
        latency_table(report),
        per_class_table(report),
        distillation_table(report),
        seed_gain_table(report),
        machines_table(report),
    ]
    return [t for t in found if t is not None]
