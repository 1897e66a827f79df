"""Deploy speed on this CPU: PyTorch eager vs ONNX Runtime FP32 vs each INT8 recipe.

For the default student (mobilenetv3_small_050) and a resnet18, both at 32 px on Fashion-MNIST:
trains each model (cached in --out), exports it with `edgekd.export.export` (FP32 ONNX through
the parity gate, INT8 for the `cpu` and `tensorrt` targets from a calibration spec), then times
every artefact side by side at batch 1 and 32 (median of interleaved rounds, same thread count
everywhere) and reports INT8 top-1 drops on the test split. PyTorch eager is timed twice: in
channels_last (what `edgekd.runtime.TorchBackend` runs) and in plain NCHW.

Targets checked at the end:
  - ONNX Runtime FP32 ≥ 10× faster than PyTorch eager at batch 1 (default student; resnet18 shown);
  - resnet18: CPU INT8 ≥ 1.5× faster than FP32 at batch 32 with ≤ 0.5 pt top-1 drop;
  - default student: CPU INT8 at least as fast as FP32 within 0.5 pt, or the figures showing why not.

Usage:
    python benchmarks/deploy_speed.py --quick            # ~3 min: small training, proves it all runs
    python benchmarks/deploy_speed.py                    # full: 3 epochs on all of Fashion-MNIST
    python benchmarks/deploy_speed.py --threads 2 --out runs/deploy-speed
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgekd.artifacts import write_json  # noqa: E402
from edgekd.bench.deploy import BATCHES, deploy_model  # noqa: E402
from edgekd.bench.deploy import checks as deploy_checks  # noqa: E402
from edgekd.cli.console import RichProgress  # noqa: E402
from edgekd.data import DataConfig, to_unit_float  # noqa: E402
from edgekd.engine import OptimConfig, TrainConfig  # noqa: E402
from edgekd.teacher import TeacherConfig, train_teacher  # noqa: E402

DEFAULT_STUDENT = "mobilenetv3_small_050"
MODELS = {DEFAULT_STUDENT: "default student", "resnet18": "resnet18"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small training (2,000 images, 1 epoch) and short timings")
    parser.add_argument(
        "--out", type=Path, default=None, help="work folder (models are cached here); default runs/deploy-speed[-quick]"
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated timm names")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 3, quick 1)")
    parser.add_argument("--limit-train", type=int, default=None, help="training images (default all, quick 2000)")
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="threads for PyTorch and ONNX Runtime alike"
    )
    parser.add_argument("--calib", type=Path, default=REPO / "calibration" / "fmnist-val-512.yaml")
    parser.add_argument(
        "--re-export",
        action="store_true",
        help="export again even when DIR/<model>/export/export.json matches the weights",
    )
    parser.add_argument(
        "--min-time", type=float, default=None, help="seconds of timing per batch size (default 3, quick 1)"
    )
    return parser.parse_args()


def train(arch: str, out_dir: Path, args: argparse.Namespace) -> Path:
    weights = out_dir / "teacher.safetensors"
    if weights.exists():
        return weights
    epochs = args.epochs or (1 if args.quick else 3)
    limit = args.limit_train or (2000 if args.quick else None)
    print(f"[train] {arch} on fashion-mnist ({limit or 'all'} images, {epochs} epochs, {args.img_size} px)", flush=True)
    config = TeacherConfig(
        arch,
        out_dir,
        DataConfig("fashion-mnist", limit_train=limit),
        TrainConfig(epochs=epochs, batch_size=128, optim=OptimConfig(lr=0.1, warmup_epochs=0.2 if epochs > 1 else 0.0)),
        img_size=args.img_size,
        device="cpu",
    )
    return train_teacher(config).weights_path


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    out = args.out or REPO / "runs" / ("deploy-speed-quick" if args.quick else "deploy-speed")
    min_time = args.min_time or (1.0 if args.quick else 3.0)
    calib = args.calib
    if args.quick:  # fewer calibration images: quick mode proves the path, not the recipe
        calib = out / "calib-quick.yaml"
        out.mkdir(parents=True, exist_ok=True)
        calib.write_text("dataset: fashion-mnist\nsplit: val\nsamples: 256\nseed: 0\n")
    test_images = DataConfig("fashion-mnist").load().test.images[:64]
    pixels = to_unit_float(test_images, (args.img_size, args.img_size))
    report = {"threads": args.threads, "quick": args.quick, "img_size": args.img_size, "models": {}}
    started = time.perf_counter()
    progress = RichProgress()
    for arch in args.models.split(","):
        weights = train(arch, out / arch, args)
        report["models"][arch] = deploy_model(
            MODELS.get(arch, arch),
            weights,
            out / arch / "export",
            calib,
            pixels,
            args.threads,
            min_time,
            progress,
            quick=args.quick,
        )
    report["wall_s"] = time.perf_counter() - started
    print_report(report)
    report["checks"] = checks(report)
    for line in report["checks"]:
        print(line)
    write_json(out / "deploy_speed.json", report)
    print(f"\nfigures: {out / 'deploy_speed.json'}  (timings on a shared machine are perturbed: rerun on a quiet one)")
    return 0


def print_report(report: dict) -> None:
    for arch, entry in report["models"].items():
        print(
            f"\n{arch} ({entry['role']}), {report['img_size']} px, {report['threads']} threads — FP32 test top-1 "
            f"{entry['fp32_test_top1']:.2f} %"
        )
        print(
            f"  {'runner':28s}"
            + "".join(f"{'batch ' + str(b):>14s}" for b in BATCHES)
            + f"{'vs ort fp32 @32':>17s}{'test drop':>11s}"
        )
        fp32_32 = entry["latency_ms"]["ort fp32"][32]
        for name, per_batch in entry["latency_ms"].items():
            drop = entry["int8_test"].get(name, {}).get("drop")
            cells = "".join(f"{per_batch[b]:11.3f} ms" for b in BATCHES)
            print(
                f"  {name:28s}{cells}{fp32_32 / per_batch[32]:16.2f}×{'' if drop is None else f'{drop:+9.2f} pt':>11s}"
            )


def checks(report: dict) -> list[str]:
    return ["\ntargets:"] + [f"  {c['status']} {c['line']}" for c in deploy_checks(report["models"])]


if __name__ == "__main__":
    sys.exit(main())
