"""Acceptance figures of issue 8 on Fashion-MNIST: classes missing from the transfer set,
an unlabeled transfer set, a teacher ensemble.

Each experiment is one `edgekd distill` command (printed before it runs, so the docs can quote
it); the figures are read back from each run's student.json:

  sandal     every Sandal image dropped from what the student learns from:
             share of test sandals right for the KD student without / with --bias-adjust auto,
             and for the same student trained alone on the reduced data (--method none).
  unlabeled  the Fashion-MNIST training images as PNGs without class folders as the only
             transfer set, vs the labelled KD student (same teacher, recipe and image count).
  ensemble   two teachers of different architectures: each one's test top-1, the ensemble's,
             and the student distilled from the ensemble.

    python benchmarks/transfer_fmnist.py --teacher /tmp/fmnist-r18 --second-teacher runs/teacher-r10t \\
        --unlabeled /tmp/fmnist-unlabeled --out runs/transfer
    python benchmarks/transfer_fmnist.py --quick ...   # 2,000 images, 1 epoch: checks it runs

Runs whose student.json already exists are read, not rerun (delete the folder to rerun).
`--write-pngs DIR` writes the unlabeled folder first (60,000 PNGs in 60 numbered folders).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def write_pngs(root: Path) -> None:
    """The 60,000 Fashion-MNIST training images as PNGs, 1,000 per numbered folder, no labels."""
    from PIL import Image

    raw = gzip.open(FMNIST / "train-images-idx3-ubyte.gz").read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    for i, image in enumerate(images):
        folder = root / f"{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")


def run(name: str, args: list[str], out: Path) -> dict:
    """Run `edgekd distill ARGS --out OUT/name` unless done; return its student.json."""
    run_dir = out / name
    card = run_dir / "student.json"
    command = ["edgekd", "distill", *args, "--out", str(run_dir)]
    print(f"\n$ {shlex.join(command)}", flush=True)
    if card.exists():
        print(f"  (done before: reading {card})", flush=True)
    else:
        subprocess.run([sys.executable, "-m", "edgekd", *command[1:]], check=True)
    return json.loads(card.read_text())


def class_acc(card: dict, name: str, key: str = "test") -> float | None:
    row = next(r for r in card["metrics"]["per_class"] if r["class"] == name)
    return row[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="/tmp/fmnist-r18", help="trained FMNIST teacher (run dir or file)")
    parser.add_argument("--second-teacher", help="a second FMNIST teacher (other arch) for the ensemble experiment")
    parser.add_argument(
        "--unlabeled", default="/tmp/fmnist-unlabeled", help="folder of FMNIST train PNGs without class folders"
    )
    parser.add_argument("--write-pngs", action="store_true", help="write --unlabeled first if it does not exist")
    parser.add_argument("--out", type=Path, default=Path("runs/transfer"))
    parser.add_argument(
        "--only", choices=("sandal", "unlabeled", "ensemble"), action="append", help="run only these experiments"
    )
    parser.add_argument(
        "--limit", type=int, default=10000, help="training images per run (--limit-train / --limit-transfer); 0: all"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--cache",
        type=Path,
        help="teacher-logit cache (default OUT/teacher-cache); the batch size is not part of its key",
    )
    parser.add_argument("--temperature", "-T", type=float, default=6.0)
    parser.add_argument(
        "--alpha", type=float, default=0.9, help="weight of the soft term (1: soft targets alone, no labels)"
    )
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument(
        "--tag",
        default="",
        help="suffix of the KD runs' folder names, so several T/α settings share --out (and the student-alone run)",
    )
    parser.add_argument("--quick", action="store_true", help="2,000 images, 1 epoch: a smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.limit, args.epochs = 2000, 1
    experiments = args.only or ["sandal", "unlabeled", "ensemble"]
    cache = args.cache or args.out / "teacher-cache"
    common = [
        "--student",
        "mobilenetv3_small_050",
        "--img-size",
        "32",
        "--data",
        "fashion-mnist",
        "--val-size",
        "0.1",
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--lr",
        str(args.lr),
        "--seed",
        "0",
    ]
    limit_train = ["--limit-train", str(args.limit)] if args.limit else []
    limit_transfer = ["--limit-transfer", str(args.limit)] if args.limit else []
    kd = [
        "--teacher",
        args.teacher,
        "--teacher-cache",
        str(cache),
        "--method",
        "kd",
        "-T",
        str(args.temperature),
        "--alpha",
        str(args.alpha),
        *limit_train,
    ]
    figures: dict = {
        "settings": {
            "limit": args.limit or "all",
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "temperature": args.temperature,
            "alpha": args.alpha,
            "lr": args.lr,
            "student": "mobilenetv3_small_050",
            "img_size": 32,
            "val": "10 % of FMNIST train, held out before dropping",
            "teacher": args.teacher,
        }
    }

    if "sandal" in experiments:
        drop = ["--drop-classes", "Sandal"]
        kd_card = run(f"kd-no-sandal{args.tag}", [*common, *kd, *drop, "--bias-adjust", "auto"], args.out)
        # Named by what it depends on (no teacher, so not by --tag), so every T/α setting of one budget shares it.
        alone = run(
            f"alone-no-sandal-e{args.epochs}-lr{args.lr:g}-n{args.limit or 'all'}",
            [*common, "--method", "none", *limit_train, *drop],
            args.out,
        )
        adjust = kd_card["metrics"]["bias_adjust"]
        figures["sandal"] = {
            "kd_without_bias_adjust": class_acc(kd_card, "Sandal", "test_before_bias_adjust"),
            "kd_with_bias_adjust": class_acc(kd_card, "Sandal"),
            "alone": class_acc(alone, "Sandal"),
            "shift": adjust["shifts"]["Sandal"],
            "val_top1_before_after": [adjust["val_top1_before"], adjust["val_top1_after"]],
            "kd_test_top1_before_after": [
                kd_card["metrics"]["before_bias_adjust"]["test"]["top1"],
                kd_card["metrics"]["test"]["top1"],
            ],
            "alone_test_top1": alone["metrics"]["test"]["top1"],
        }
    if "unlabeled" in experiments:
        if args.write_pngs and not Path(args.unlabeled).exists():
            write_pngs(Path(args.unlabeled))
        labelled = run(f"kd-labelled{args.tag}", [*common, *kd], args.out)
        unlabeled = run(
            f"kd-unlabeled{args.tag}",
            [*common, *kd, "--transfer-data", f"unlabeled:{args.unlabeled}", "--transfer-ratio", "1", *limit_transfer],
            args.out,
        )
        figures["unlabeled"] = {
            "labelled_kd_test_top1": labelled["metrics"]["test"]["top1"],
            "unlabeled_kd_test_top1": unlabeled["metrics"]["test"]["top1"],
            "teacher_test_top1": labelled["metrics"]["teacher"]["top1"],
            "chance": 10.0,
        }
    if "ensemble" in experiments and args.second_teacher:
        ensemble = run(
            f"kd-ensemble{args.tag}", [*common, *kd, "--teacher", args.second_teacher, "--ensemble", "prob"], args.out
        )
        summary = ensemble["metrics"]["ensemble"]
        figures["ensemble"] = {
            "members": [(m["arch"], m["top1"]) for m in summary["members"]],
            "ensemble_top1": summary["top1"],
            "student_top1": summary["student_top1"],
        }

    print(
        "\n== Fashion-MNIST transfer figures (test split; "
        f"mobilenetv3_small_050 at 32 px, {args.limit or 'all'} training images, {args.epochs} epochs, batch "
        f"{args.batch_size}, T={args.temperature:g}, α={args.alpha:g}, lr {args.lr:g}) =="
    )
    if "sandal" in figures:
        s = figures["sandal"]
        print(
            f"Sandal never seen: test sandals right — KD {s['kd_without_bias_adjust']:.1f} %, KD + bias adjust "
            f"(+{s['shift']:.2f}, chosen on val) "
            f"{s['kd_with_bias_adjust']:.1f} %, student alone {s['alone']:.1f} %  (targets ≥ 60 / ≥ 85 / ~0)"
        )
        print(
            f"  overall test top-1: KD {s['kd_test_top1_before_after'][0]:.2f} → "
            f"{s['kd_test_top1_before_after'][1]:.2f} % with the shift; alone {s['alone_test_top1']:.2f} %; "
            f"val top-1 {s['val_top1_before_after'][0]:.2f} → {s['val_top1_before_after'][1]:.2f} %"
        )
    if "unlabeled" in figures:
        u = figures["unlabeled"]
        print(
            f"Unlabeled PNG folder as the only transfer set: test top-1 {u['unlabeled_kd_test_top1']:.2f} % vs "
            f"labelled KD {u['labelled_kd_test_top1']:.2f} % "
            f"(teacher {u['teacher_test_top1']:.2f} %, chance 10 %)"
        )
    if "ensemble" in figures:
        e = figures["ensemble"]
        members = ", ".join(f"{arch} {top1:.2f} %" for arch, top1 in e["members"])
        print(
            f"Ensemble (prob): members {members}; ensemble {e['ensemble_top1']:.2f} %; student from the ensemble "
            f"{e['student_top1']:.2f} %"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
