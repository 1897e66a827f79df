"""Distillation methods side by side on a small set (scikit-learn's digits by default, or any
`--data` spec such as `imagefolder:PATH`): the student alone, KD, DKD and DIST (and any other
registered method), each at its shipped defaults, over several seeds with the bench's paired rule.

Protocol: `--data` (digits: 1,437 train / 360 test; 10 % of train held out as val where the set
has no val split), 32 px; teacher timm `resnet18` trained once (`--teacher-epochs`, lr 0.1);
students timm `mobilenetv3_small_050`, `--epochs` each, lr 0.05 (edgekd distill's default),
batch 64, the same seeds for every method; teacher logits cached so that every student sees the
same teacher outputs. A method *beats* the student alone when its mean gain over ≥ 3 seeds
exceeds the std of the paired differences. Both val top-1 (for choosing) and test top-1 (for
reporting) are printed, and written with every seed's figures to `OUT/results.json`.

    python benchmarks/methods_digits.py --seeds 3 --epochs 15 --out runs/methods-digits

`--reuse` takes the figures of a run directory that already holds a finished student whose card
records this protocol (the same settings, the same teacher weights) instead of training it again,
so an interrupted comparison, or one that adds a method, trains only what is missing.

A method may carry its own options, `:`-separated, to compare variants of one method, and
`mix=none|mixup|cutmix` for its views (else `--mix`):
`--methods none,kd,kd:mix=cutmix,fitnet,fitnet:hint_epochs=2:stage_schedule=per-stage`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

from edgekd.data import DataConfig
from edgekd.distill import DistillConfig, distill
from edgekd.distill.config import DEFAULT_LR, DEFAULT_TRAIN
from edgekd.distill.methods import METHODS
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.errors import ConfigError, EdgekdError, TrainingError
from edgekd.seed_stats import compare_to_alone
from edgekd.teacher import TeacherConfig, train_teacher


def method_variant(text: str, mix: str = "none") -> tuple[str, dict[str, object], str]:
    """`fitnet:hint_epochs=2:beta=1` → ("fitnet", {"hint_epochs": 2, "beta": 1.0}, mix), each value
    converted to the type the method declares for it; a `mix=` pair replaces the default `mix`."""
    name, *pairs = text.split(":")
    if name not in METHODS:
        raise ConfigError(f"unknown method '{name}' in --methods: use one of {', '.join(sorted(METHODS))}.")
    declared = {option.name: option for option in METHODS[name].options}
    options: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "mix":
            mix = value
            continue
        if key not in declared:
            raise ConfigError(
                f"--methods {text}: {name} has no option '{key}' (it has {', '.join(declared) or 'none'})."
            )
        options[key] = declared[key].type(value)
    return name, options, mix


def finished_metrics(run_dir: Path, config: DistillConfig, teacher_sha256: str) -> dict | None:
    """The metrics of `run_dir`'s finished student if its card records `config`'s settings (run
    paths aside; settings this edgekd added since must be at their defaults) and this teacher."""
    card_path = run_dir / "student.json"
    if not card_path.exists():
        return None
    card = json.loads(card_path.read_text())
    recorded = card["provenance"]["config"]
    wanted = json.loads(json.dumps(config.describe()))
    defaults = json.loads(json.dumps(DistillConfig("x", Path("x")).describe()))
    for key, value in wanted.items():
        if key in ("out_dir", "teacher", "teacher_cache", "resume"):
            continue
        if recorded.get(key, defaults[key]) != value:
            return None
    if [t["sha256"] for t in card["training"]["teachers"]] != [teacher_sha256]:
        return None
    return card["metrics"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods", default="none,kd,dkd,dist", help="comma-separated; 'none' (the student alone) is the reference"
    )
    parser.add_argument("--data", default="digits", help="dataset spec (digits, imagefolder:PATH, …)")
    parser.add_argument(
        "--val-size", type=float, default=0.1, help="share of train held out as val if the set has none"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15, help="student epochs")
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--mix", default="none", help="none, mixup or cutmix for every student")
    parser.add_argument(
        "--warmup-epochs",
        type=float,
        default=DEFAULT_TRAIN.optim.warmup_epochs,
        help="students' linear lr warm-up in epochs (default: edgekd distill's)",
    )
    parser.add_argument(
        "--ema-decay", type=float, default=None, help="evaluate an EMA of the students' weights (default: none)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/methods-digits"))
    parser.add_argument(
        "--reuse", action="store_true", help="take finished runs in --out whose card records this protocol"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "none" not in methods:
        methods.insert(0, "none")
    data = DataConfig(args.data, val_size=args.val_size)
    try:
        teacher_dir = args.out / "teacher"
        if not (teacher_dir / "teacher.safetensors").exists():
            train_teacher(
                TeacherConfig(
                    "resnet18",
                    teacher_dir,
                    data,
                    TrainConfig(epochs=args.teacher_epochs, batch_size=64, optim=OptimConfig(lr=0.1)),
                    img_size=32,
                    device="cpu",
                )
            )
        teacher_sha256 = hashlib.sha256((teacher_dir / "teacher.safetensors").read_bytes()).hexdigest()
        top1: dict[str, list[float]] = {m: [] for m in methods}
        val_top1: dict[str, list[float]] = {m: [] for m in methods}
        diverged = {m: 0 for m in methods}
        teacher_top1 = teacher_val_top1 = None
        for seed in range(args.seeds):
            for method in methods:
                name, options, mix = method_variant(method, args.mix)
                run_dir = args.out / f"{method.replace(':', '_').replace('=', '-')}-s{seed}"
                config = DistillConfig(
                    "mobilenetv3_small_050",
                    run_dir,
                    teacher=(str(teacher_dir),),
                    method=name,
                    method_options=options,
                    data=data,
                    train=TrainConfig(
                        epochs=args.epochs,
                        batch_size=64,
                        optim=OptimConfig(lr=DEFAULT_LR, warmup_epochs=args.warmup_epochs),
                        ema_decay=args.ema_decay,
                        seed=seed,
                    ),
                    teacher_cache=args.out / "teacher-cache",
                    img_size=32,
                    device="cpu",
                    mix=mix,
                )
                metrics = finished_metrics(run_dir, config, teacher_sha256) if args.reuse else None
                if metrics is not None:
                    print(f"{method} seed {seed}: reused {run_dir}", flush=True)
                try:
                    metrics = metrics or distill(config).card.metrics
                except TrainingError as exc:  # a diverged run is a result too: it counts as chance
                    print(f"{method} seed {seed}: diverged ({exc}); counted as 10.00 % (chance)", flush=True)
                    top1[method].append(10.0)
                    val_top1[method].append(10.0)
                    diverged[method] += 1
                    continue
                top1[method].append(metrics["test"]["top1"])
                val_top1[method].append(metrics["val"]["top1"])
                teacher_top1 = metrics["teacher"]["top1"]
                teacher_val_top1 = metrics["teacher"]["val_top1"]
                print(
                    f"{method} seed {seed}: val top-1 {val_top1[method][-1]:.2f} %, "
                    f"test top-1 {top1[method][-1]:.2f} %",
                    flush=True,
                )
    except EdgekdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"\n{args.data}: teacher resnet18 val top-1 {teacher_val_top1:.2f} %, test top-1 {teacher_top1:.2f} %; "
        f"students mobilenetv3_small_050, {args.epochs} epochs, {args.seeds} seeds, default mix {args.mix}\n"
    )
    results = {"data": args.data, "epochs": args.epochs, "seeds": args.seeds, "methods": {}}
    results["teacher"] = {"val_top1": teacher_val_top1, "test_top1": teacher_top1}
    for split, figures, teacher in (("val", val_top1, teacher_val_top1), ("test", top1, teacher_top1)):
        print(f"{split}:\n")
        print(
            f"| method | {split} top-1 (mean ± std) | gain vs alone (± paired std) | gap closed | beats alone? "
            "| diverged |"
        )
        print("|---|---:|---:|---:|---|---:|")
        for method in methods:
            stats = compare_to_alone(figures[method], figures["none"], teacher)
            results["methods"].setdefault(method, {"diverged": diverged[method]})[split] = stats | {
                "per_seed": figures[method]
            }
            if method == "none":
                print(f"| none (alone) | {stats['mean']:.2f} ± {stats['std']:.2f} | – | – | – | {diverged[method]} |")
                continue
            gap = "–" if stats["gap_closed"] is None else f"{100 * stats['gap_closed']:.0f} %"
            verdict = ("yes" if stats["beats_alone"] else "no") if stats["rule_applies"] else "n/a (< 3 seeds)"
            print(
                f"| {method} | {stats['mean']:.2f} ± {stats['std']:.2f} | {stats['gain_mean']:+.2f} ± "
                f"{stats['gain_std']:.2f} | {gap} | {verdict} | {diverged[method]} |"
            )
        print()
    for method in methods:
        print(f"{method} per seed (test): {' / '.join(f'{v:.2f}' for v in top1[method])}")
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
