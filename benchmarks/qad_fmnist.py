"""INT8 for TensorRT on Fashion-MNIST-32, measured through ONNX Runtime: ONNX Runtime PTQ vs QAD.

One run, every step an `edgekd` command (printed before it runs, so the docs can quote it):

  fp32   the FP32 student (mobilenetv3_small_050 alone, `--method none`) on a train subset
  ptq    `edgekd export --int8 --int8-target tensorrt`: ONNX Runtime static PTQ, S8S8 symmetric QDQ
  kd     one plain KD epoch from the FP32 student into a fresh student (the epoch-cost reference)
  qad    `edgekd distill --teacher self --from fp32 --quantize int8`, then `edgekd export`: the
         ModelOpt QDQ ONNX for TensorRT
  ft     the control: the FP32 student fine-tuned in float with QAD's very schedule (same teacher,
         KD loss, lr, epochs; `--pretrained fp32`), then ONNX Runtime PTQ as above — what the two
         extra epochs give without quantization awareness
  --per-tensor adds both recipes with one scale per weight tensor (PTQ `--per-tensor`,
  QAD `--quantize int8-per-tensor`).

Every INT8 model is scored with `edgekd eval` on the 10,000 test images; its drop is against the
FP32 student's ONNX on the same images, and PTQ vs QAD is compared per image with McNemar's
test (`Predictions.versus`). Epoch costs are the `epoch_time_s` of each run's metrics.jsonl,
all measured in this one run on this machine.

    python benchmarks/qad_fmnist.py --out runs/qad-bench                 # 10,000 training images
    python benchmarks/qad_fmnist.py --out runs/qad-bench --limit-train 60000 --fp32-epochs 4
    python benchmarks/qad_fmnist.py --quick --out /tmp/qad-quick          # 2,000 images: checks it runs

Steps whose output already exists are read, not rerun (delete the folder to rerun).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from edgekd.distill.qad import QAD_LR
from edgekd.engine.metrics import Predictions

STUDENT = "mobilenetv3_small_050"
CALIB = "calibration/fmnist-val-512.yaml"


def edgekd(args: list[str], done: Path) -> None:
    """Run `edgekd ARGS` unless `done` exists."""
    print(f"\n$ {shlex.join(['edgekd', *args])}", flush=True)
    if done.exists():
        print(f"  (done before: {done})", flush=True)
        return
    subprocess.run([sys.executable, "-m", "edgekd", *args], check=True)


def test_predictions(onnx_path: Path, out: Path, threads: int) -> Predictions:
    """`edgekd eval` of an ONNX on the test split; its per-image predictions."""
    edgekd(["eval", str(onnx_path), "--threads", str(threads), "--out", str(out)], out / "eval.json")
    payload = json.loads((out / "eval.json").read_text())["predictions"]
    predicted = torch.tensor(payload["predicted"])
    logits = torch.nn.functional.one_hot(predicted, 10).float()  # top-1 is all McNemar needs
    return Predictions(logits, torch.tensor(payload["labels"]))


def epoch_times(run_dir: Path) -> list[float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r["epoch_time_s"] for r in records if "epoch_time_s" in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit-train", type=int, default=10_000)
    parser.add_argument("--fp32-epochs", type=int, default=4)
    parser.add_argument("--qad-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-tensor", action="store_true", help="also the per-tensor-weight recipes")
    parser.add_argument("--quick", action="store_true", help="2,000 images, 1 epoch each: checks the script runs")
    args = parser.parse_args()
    if args.quick:
        args.limit_train, args.fp32_epochs, args.qad_epochs = 2000, 1, 1
    out: Path = args.out
    common = [
        "--data",
        "fashion-mnist",
        "--img-size",
        "32",
        "--limit-train",
        str(args.limit_train),
        "--device",
        "cpu",
        "--workers",
        "0",
    ]

    fp32 = out / "fp32"
    edgekd(
        [
            "distill",
            "--student",
            STUDENT,
            "--method",
            "none",
            *common,
            "--epochs",
            str(args.fp32_epochs),
            "--out",
            str(fp32),
        ],
        fp32 / "student.json",
    )
    kd = out / "kd-epoch"
    edgekd(
        ["distill", "--student", STUDENT, "--teacher", str(fp32), *common, "--epochs", "1", "--out", str(kd)],
        kd / "student.json",
    )

    ft = out / "ft-fp32"
    edgekd(
        [
            "distill",
            "--student",
            STUDENT,
            "--teacher",
            str(fp32),
            "--pretrained",
            str(fp32 / "student.safetensors"),
            *common,
            "--epochs",
            str(args.qad_epochs),
            "--lr",
            str(QAD_LR),
            "--out",
            str(ft),
        ],
        ft / "student.json",
    )

    recipes = [("int8", True)] + ([("int8-per-tensor", False)] if args.per_tensor else [])
    results: dict[str, dict] = {}
    fp32_test = None
    for recipe, per_channel in recipes:
        ptq_dir = out / f"ptq-{recipe}"
        edgekd(
            [
                "export",
                str(fp32 / "student.safetensors"),
                "--int8",
                "--int8-target",
                "tensorrt",
                "--calib",
                CALIB,
                *([] if per_channel else ["--per-tensor"]),
                "--threads",
                str(args.threads),
                "--out",
                str(ptq_dir),
            ],
            ptq_dir / "export.json",
        )
        fp32_test = fp32_test or test_predictions(ptq_dir / "student.onnx", out / "eval" / "fp32-onnx", args.threads)
        ptq_test = test_predictions(
            ptq_dir / "student.int8-tensorrt.onnx", out / "eval" / f"ptq-{recipe}", args.threads
        )
        ft_dir = out / f"ft-ptq-{recipe}"
        edgekd(
            [
                "export",
                str(ft / "student.safetensors"),
                "--int8",
                "--int8-target",
                "tensorrt",
                "--calib",
                CALIB,
                *([] if per_channel else ["--per-tensor"]),
                "--threads",
                str(args.threads),
                "--out",
                str(ft_dir),
            ],
            ft_dir / "export.json",
        )
        ft_fp32_test = test_predictions(ft_dir / "student.onnx", out / "eval" / "ft-fp32-onnx", args.threads)
        ft_ptq_test = test_predictions(
            ft_dir / "student.int8-tensorrt.onnx", out / "eval" / f"ft-ptq-{recipe}", args.threads
        )

        qad = out / f"qad-{recipe}"
        edgekd(
            [
                "distill",
                "--teacher",
                "self",
                "--from",
                str(fp32),
                "--quantize",
                recipe,
                "--calib",
                CALIB,
                *common,
                "--epochs",
                str(args.qad_epochs),
                "--out",
                str(qad),
            ],
            qad / "student.json",
        )
        qad_export = out / f"qad-{recipe}-export"
        edgekd(
            ["export", str(qad / "student.safetensors"), "--threads", str(args.threads), "--out", str(qad_export)],
            qad_export / "export.json",
        )
        qad_test = test_predictions(
            qad_export / "student.int8-tensorrt.onnx", out / "eval" / f"qad-{recipe}", args.threads
        )
        qad_card = json.loads((qad / "student.json").read_text())
        export_facts = {a["name"]: a for a in json.loads((qad_export / "export.json").read_text())["artefacts"]}
        ptq_facts = {a["name"]: a for a in json.loads((ptq_dir / "export.json").read_text())["artefacts"]}
        results[recipe] = {
            "fp32_onnx_top1": fp32_test.top1(),
            "ptq_top1": ptq_test.top1(),
            "ptq_drop": fp32_test.top1() - ptq_test.top1(),
            "qad_top1": qad_test.top1(),
            "qad_drop": fp32_test.top1() - qad_test.top1(),
            "qad_vs_ptq": qad_test.versus(ptq_test),
            "ft_fp32_onnx_top1": ft_fp32_test.top1(),
            "ft_ptq_top1": ft_ptq_test.top1(),
            "ft_ptq_drop": ft_fp32_test.top1() - ft_ptq_test.top1(),
            "qad_vs_ft_ptq": qad_test.versus(ft_ptq_test),
            "qad_fake_quant_before_training": qad_card["training"]["quantize"]["ptq"],
            "qad_epoch_s": epoch_times(qad),
            "qdq_pairs": {
                "ptq": ptq_facts["student.int8-tensorrt.onnx"]["details"]["quantization"].get("quantize_linear"),
                "qad": export_facts["student.int8-tensorrt.onnx"]["details"]["quantization"]["quantize_linear"],
            },
            "qad_float_ops": export_facts["student.int8-tensorrt.onnx"]["details"]["quantization"]["float_ops"],
        }
    summary = {
        "limit_train": args.limit_train,
        "fp32_epochs": args.fp32_epochs,
        "qad_epochs": args.qad_epochs,
        "fp32_epoch_s": epoch_times(fp32),
        "kd_epoch_s": epoch_times(kd),
        "ft_epoch_s": epoch_times(ft),
        "recipes": results,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
