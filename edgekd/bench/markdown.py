"""`bench.md`: the benchmark's figures as Markdown tables (the README's Benchmarks section)."""

from __future__ import annotations

from typing import Any

from edgekd.distill.speed import MODES

SPEED_LABELS = {
    "student": "student alone",
    "teacher": "teacher inference",
    "online_kd": "online KD",
    "cached_kd": "KD from cache",
}


def _pct(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


_SYMBOLS = {"temperature": "T", "alpha": "α", "beta": "β", "gamma": "γ"}


def _settings(settings: dict[str, Any]) -> str:
    """`T=4, α=0.5, kl, lr 0.05`: the method's options that are set, then the lr."""
    parts = []
    for name, value in settings.items():
        if name == "lr" or value is None:
            continue
        parts.append(value if isinstance(value, str) else f"{_SYMBOLS.get(name, name)}={value:g}")
    return ", ".join([*parts, f"lr {settings['lr']:g}"])


def accuracy_table(result: dict[str, Any]) -> list[str]:
    teacher = result["teacher"]
    lines = [
        f"Teacher {teacher['arch']}: test top-1 **{teacher['test_top1']:.2f} %**.",
        "",
        "| student | settings | test top-1 (mean ± std) | seeds | gain vs alone (± paired std) | gap closed | "
        "beats alone? | train img/s |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, summary in result["students"].items():
        stats = summary["stats"]
        if name == "alone":
            gain, gap, verdict = "–", "–", "–"
        else:
            gain = f"{stats['gain_mean']:+.2f} ± {stats['gain_std']:.2f}"
            gap = "–" if stats["gap_closed"] is None else f"{100 * stats['gap_closed']:.0f} %"
            verdict = ("**yes**" if stats["beats_alone"] else "no") if stats["rule_applies"] else "n/a (< 3 seeds)"
        rates = [r["train_img_per_s"] for r in summary["runs"] if r.get("train_img_per_s")]
        rate = f"{sum(rates) / len(rates):.0f}" if rates else "–"
        lines.append(
            f"| {summary['label']} | {_settings(summary['settings'])} | {stats['mean']:.2f} ± {stats['std']:.2f} "
            f"| {stats['seeds']} | {gain} | {gap} | {verdict} | {rate} |"
        )
    return lines


def sweep_table(sweep: list[dict[str, Any]]) -> list[str]:
    if not sweep:
        return []
    base = next((r["val_top1"] for r in sweep if r["run"] == "none-lr0.1"), None)
    lines = [
        "| run | settings | val top-1 seed 0 | seed 1 | mean | Δ mean vs none-lr0.1 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in sorted(sweep, key=lambda r: -(r["val_top1"] if r["val_top1"] is not None else -1)):
        if row["val_top1"] is None:
            lines.append(
                f"| {row['run']} | {_settings(row['settings'])} | diverged ({row['diverged'].split(';')[0]}) | | | |"
            )
            continue
        by_seed = {int(k): v for k, v in row["val_by_seed"].items()}
        second = f"{by_seed[1]:.2f}" if 1 in by_seed else ""
        delta = "–" if base is None else f"{row['val_top1'] - base:+.2f}"
        lines.append(
            f"| {row['run']} | {_settings(row['settings'])} | {by_seed[0]:.2f} | {second} | {row['val_top1']:.2f} "
            f"| {delta} |"
        )
    return lines


def speed_table(speed: dict[str, Any]) -> list[str]:
    steps, epochs = speed["steps"], speed["epochs"]
    lines = ["| mode | step img/s | × student | epoch img/s | × student |", "|---|---:|---:|---:|---:|"]
    for mode in MODES:
        lines.append(
            f"| {SPEED_LABELS[mode]} | {steps['img_per_s'][mode]:.0f} | {steps['ratio_to_student'][mode]:.2f} | "
            f"{epochs['img_per_s'][mode]:.0f} | {epochs['ratio_to_student'][mode]:.2f} |"
        )
    lines.append(
        f"| bound 1/(1/student + 1/teacher) | {steps['online_bound_img_per_s']:.0f} | | "
        f"{epochs['online_bound_img_per_s']:.0f} | |"
    )
    return lines


def deploy_tables(deploy: dict[str, Any]) -> list[str]:
    lines = []
    for key, entry in deploy["models"].items():
        latency, drops = entry["latency_ms"], entry["int8_test"]
        fp32 = latency["ort fp32"]
        lines += [
            f"**{key}** ({entry['role']}), FP32 test top-1 {entry['fp32_test_top1']:.2f} %, ONNX agreement "
            f"{entry['parity']['agreement']:.2f} %",
            "",
            "| runner | batch 1 (ms) | batch 32 (ms) | × ORT FP32 @1 | × ORT FP32 @32 | INT8 test drop |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for runner, per_batch in latency.items():
            drop = drops.get(runner, {}).get("drop")
            lines.append(
                f"| {runner} | {per_batch[1]:.3f} | {per_batch[32]:.3f} | {fp32[1] / per_batch[1]:.2f} | "
                f"{fp32[32] / per_batch[32]:.2f} | {'' if drop is None else f'{drop:+.2f} pt'} |"
            )
        if entry.get("int8_cpu_in_float"):
            lines.append(
                f"\nCPU INT8 keeps {len(entry['int8_cpu_in_float'])} layers in float (speed search: INT8 was "
                "slower there)."
            )
        lines.append("")
    return lines


def render(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"# edgekd benchmark: FMNIST-32, {result['config'].get('protocol', 'short')} protocol"
        f"{' (quick mode: not the protocol)' if result['config']['quick'] else ''}",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {machine['cpu']}, {machine['threads']} threads, Python {machine['python']}, torch "
        f"{machine['torch']}, onnxruntime {machine['onnxruntime']}; total wall time "
        f"{result['wall_time_s'] / 60:.1f} min.",
        "",
        "## Accuracy (test split, runs on the full train set)",
        "",
        *accuracy_table(result),
    ]
    if result.get("sweep"):
        lines += [
            "",
            "## Val sweep (10,000 train images held out; seed 0): the evidence behind the defaults",
            "",
            *sweep_table(result["sweep"]),
        ]
    if result.get("speed"):
        lines += ["", "## Training speed (batch 128, 32 px)", "", *speed_table(result["speed"])]
    if result.get("deploy"):
        lines += ["", "## Deployment (this CPU)", "", *deploy_tables(result["deploy"])]
    lines += ["", "## Targets", ""] + [f"- **{t['status']}** {t['line']}" for t in result["targets"]]
    return "\n".join(lines) + "\n"
