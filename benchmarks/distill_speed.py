"""Distillation training speed, side by side in one run: the student alone, the teacher's
inference, online KD and KD from the teacher-logit cache.

Protocol (FMNIST-32): resnet18 teacher, mobilenetv3_small_050 student, 32 px, batch 128,
2 CPU threads. Step rates time forward + backward + optimizer step on pre-made (already
augmented) batches, interleaved over rounds (median); epoch rates time one whole epoch each
through the Trainer (data, augmentation, steps; validation excluded).

Targets: KD from the cache ≥ 0.95 × student alone; online KD ≥ 0.95 × 1/(1/student + 1/teacher).

    python benchmarks/distill_speed.py --quick          # ~1–2 min: 2,048-sample epochs
    python benchmarks/distill_speed.py --json out.json  # full 60k-sample epochs (~4 min on 2 cores)
    python benchmarks/distill_speed.py --quick --methods dkd,dist   # DKD and DIST steps beside KD's
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgekd.distill.speed import MODES, SpeedConfig, measure_speed
from edgekd.errors import EdgekdError

LABELS = {
    "student": "student alone",
    "teacher": "teacher inference",
    "online_kd": "online KD",
    "cached_kd": "KD from cache",
}


def _table(result: dict) -> str:
    steps, epochs = result["steps"], result["epochs"]
    lines = [
        "| mode | step img/s | × student | epoch img/s | × student |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        lines.append(
            f"| {LABELS[mode]} | {steps['img_per_s'][mode]:.0f} | {steps['ratio_to_student'][mode]:.2f} "
            f"| {epochs['img_per_s'][mode]:.0f} | {epochs['ratio_to_student'][mode]:.2f} |"
        )
    for mode in steps["img_per_s"]:
        if mode not in MODES:  # --methods: step rates from the cache only
            lines.append(
                f"| {mode.replace('cached_', '')} from cache | {steps['img_per_s'][mode]:.0f} | "
                f"{steps['ratio_to_student'][mode]:.2f} | | |"
            )
    lines.append(
        f"| bound 1/(1/student+1/teacher) | {steps['online_bound_img_per_s']:.0f} | | "
        f"{epochs['online_bound_img_per_s']:.0f} | |"
    )
    lines.append("")
    for name, target in result["targets"].items():
        label = "KD from cache / student alone" if name == "cached_kd_vs_student" else "online KD / bound"
        lines.append(
            f"{label} (steps): {target['measured']:.3f}  target ≥ {target['target']}  "
            f"{'met' if target['met'] else 'MISSED'}"
        )
    lines.append(f"(epochs: {epochs['cached_kd_vs_student']:.3f} and {epochs['online_kd_vs_bound']:.3f})")
    machine = result["machine"]
    lines.append(
        f"machine: {machine['processor']}, {machine['threads']} threads, torch {machine['torch']}; wall "
        f"{result['wall_time_s']:.0f} s"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: fewer rounds, 2,048-sample epochs")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument(
        "--teacher", default=None, help="a trained teacher (default: random resnet18; speed does not depend on weights)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--methods", default="", help="more methods timed from the cache beside KD, e.g. dkd,dist (step rates)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    config = SpeedConfig(
        data=args.data, teacher=args.teacher, threads=args.threads, device=args.device, methods=methods
    )
    if args.quick:
        config = SpeedConfig(**{**config.__dict__, "rounds": 3, "steps": 5, "warmup": 2, "epoch_samples": 2048})
    try:
        result = measure_speed(config)
    except EdgekdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(_table(result))
    if args.json:
        from edgekd.artifacts import write_json

        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
