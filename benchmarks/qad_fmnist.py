"""INT8 for TensorRT on Fashion-MNIST-32, measured through ONNX Runtime: ONNX Runtime PTQ vs ModelOpt PTQ vs QAD.

One run, every step an `edgekd` command (printed before it runs, so the docs can quote it) except
ModelOpt PTQ, which is `edgekd.models.quantized` called in-process (there is no command for it):

  fp32    the FP32 student: `--student RUN` (e.g. the KD student of the bench protocol), else
          mobilenetv3_small_050 alone (`--method none`) trained here on a train subset
  ptq     `edgekd export --int8 --int8-target tensorrt`: ONNX Runtime static PTQ, S8S8 symmetric QDQ
  mo-ptq  ModelOpt PTQ of the same student: INT8_DEFAULT_CFG quantizers, max calibration on the
          same calibration spec, exported as QAD students are (`export_qdq_onnx`): no training
  kd      one plain KD epoch from the teacher into a fresh student (the epoch-cost reference)
  qad     `edgekd distill --teacher T --from fp32 --quantize int8`, then `edgekd export`: the
          ModelOpt QDQ ONNX for TensorRT (`--teacher self` by default)
  ft      the control, per-channel recipe (`--no-control` skips it): the FP32 student fine-tuned in float with QAD's
          very schedule (same teacher, KD loss, lr, epochs; `--pretrained fp32`), then ONNX Runtime
          PTQ as above — what the extra epochs give without quantization awareness
  --per-tensor adds the recipes with one scale per weight tensor (PTQ `--per-tensor`, QAD
  `--quantize int8-per-tensor`) and ONNX Runtime's CPU recipe (U8S8) with per-tensor weights.

Every INT8 model is scored with `edgekd eval` on the 10,000 test images; its drop is against the
FP32 student's ONNX on the same images, and pairs are compared per image with McNemar's test
(`Predictions.versus`). Epoch costs are the `epoch_time_s` of each run's metrics.jsonl; latency is
`edgekd profile` of every ONNX one after the other (same threads and batches); then `edgekd
report` sets the INT8 models beside their FP32 student. All measured in this one run.

    python benchmarks/qad_fmnist.py --out runs/qad-bench                 # 10,000 training images
    python benchmarks/qad_fmnist.py --out runs/qad-acc --student runs/bench/runs/kd-s0 \\
        --teacher runs/bench/teacher --val-size 0 --limit-train 0 --per-tensor --no-control
    python benchmarks/qad_fmnist.py --quick --out /tmp/qad-quick          # 2,000 images: checks it runs

Steps whose output already exists are read, not rerun (delete the folder to rerun). Nothing is
written beside `--student` or `--teacher`.
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
from edgekd.models import read_card, resolve_model_path

STUDENT = "mobilenetv3_small_050"
CALIB = "calibration/fmnist-val-512.yaml"


def edgekd(args: list[str], done: Path) -> None:
    """Run `edgekd ARGS` unless `done` exists."""
    print(f"\n$ {shlex.join(['edgekd', *args])}", flush=True)
    if done.exists():
        print(f"  (done before: {done})", flush=True)
        return
    subprocess.run([sys.executable, "-m", "edgekd", *args], check=True)


def test_predictions(model_path: Path, out: Path, threads: int) -> Predictions:
    """`edgekd eval` of an artefact on the test split; its per-image predictions."""
    edgekd(["eval", str(model_path), "--threads", str(threads), "--out", str(out)], out / "eval.json")
    payload = json.loads((out / "eval.json").read_text())["predictions"]
    predicted = torch.tensor(payload["predicted"])
    logits = torch.nn.functional.one_hot(predicted, 10).float()  # top-1 is all McNemar needs
    return Predictions(logits, torch.tensor(payload["labels"]))


def epoch_times(run_dir: Path) -> list[float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r["epoch_time_s"] for r in records if "epoch_time_s" in r]


def artefact_facts(export_dir: Path, name: str) -> dict:
    return {a["name"]: a for a in json.loads((export_dir / "export.json").read_text())["artefacts"]}[name]


def float_ops(onnx_path: Path) -> dict[str, int]:
    """Compute ops no DequantizeLinear feeds, by type (as export records them for QAD models)."""
    import onnx

    from edgekd.export.qdq import _float_ops

    return _float_ops(onnx.load(str(onnx_path)).graph)


def modelopt_ptq(student: Path, recipe: str, calib: str, out_path: Path) -> dict:
    """ModelOpt PTQ of `student` (no training): its QDQ ONNX at `out_path`, with edgekd metadata for eval.

    Returns:
        Q/DQ counts, the ops left in float and the calibration time (s).
    """
    import time
    from collections import Counter

    import onnx

    from edgekd.artifacts import sha256_file
    from edgekd.data import ModelInput
    from edgekd.engine.progress import SilentProgress
    from edgekd.export import calibration
    from edgekd.export.onnx_export import INPUT_NAME, OUTPUT_NAME, save_with_metadata
    from edgekd.export.qdq import _float_ops
    from edgekd.models import load_model, quantized
    from edgekd.runtime.base import INPUT_NCHW_FLOAT

    facts_path = out_path.with_suffix(".json")
    if facts_path.exists():
        return json.loads(facts_path.read_text())
    model, card = load_model(student, exportable=True)
    spec = calibration.load_calibration_spec(Path(calib))
    images = calibration.calibration_images(spec, card, None, SilentProgress())
    inputs = ModelInput(card.input)(images.pixels(card.input.size, 0, len(images), False))
    start = time.perf_counter()
    model = quantized.quantize_model(model.eval(), recipe, quantized.calibration_batches(inputs, spec.batch_size))
    calib_s = time.perf_counter() - start
    out_path.parent.mkdir(parents=True, exist_ok=True)
    quantized.export_qdq_onnx(model, inputs[:2], out_path, INPUT_NAME, OUTPUT_NAME)
    proto = onnx.load(str(out_path))
    ops = Counter(node.op_type for node in proto.graph.node)
    facts = {
        "library": "nvidia-modelopt",
        "recipe": recipe,
        "quantize_linear": ops["QuantizeLinear"],
        "dequantize_linear": ops["DequantizeLinear"],
        "float_ops": _float_ops(proto.graph),
        "calibration_s": calib_s,
        "calibration_images": len(images),
    }
    source = {"kind": "checkpoint", "name": student.name, "sha256": sha256_file(student)}  # the report pairs on it
    payload = {
        "card": card.to_dict(),
        "precision": "int8",
        "input_format": INPUT_NCHW_FLOAT,
        "source": source,
        "quantization": {"target": "tensorrt", **facts},
    }
    save_with_metadata(proto, out_path, payload)
    facts_path.write_text(json.dumps(facts, indent=2) + "\n")
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--student", type=Path, help="an FP32 student (or teacher) run to start from (else one is trained here)"
    )
    parser.add_argument("--teacher", default="self", help="QAD's and the KD epoch's teacher: a run, or self")
    parser.add_argument("--calib", default=CALIB)
    parser.add_argument("--limit-train", type=int, default=10_000, help="training images of every run (0: all)")
    parser.add_argument("--val-size", type=float, default=0.1)
    parser.add_argument("--fp32-epochs", type=int, default=4)
    parser.add_argument("--qad-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parity-samples", type=int, help="val images of each export's parity gate (default: all)")
    parser.add_argument("--per-tensor", action="store_true", help="also the per-tensor-weight recipes")
    parser.add_argument("--no-control", action="store_true", help="skip the float fine-tune control")
    parser.add_argument("--no-kd-epoch", action="store_true", help="skip the plain KD epoch (the epoch-cost reference)")
    parser.add_argument("--quick", action="store_true", help="2,000 images, 1 epoch each: checks the script runs")
    args = parser.parse_args()
    if args.quick:
        args.limit_train, args.fp32_epochs, args.qad_epochs = 2000, 1, 1
    out: Path = args.out
    threads = ["--threads", str(args.threads)]
    exporting = threads + (["--parity-samples", str(args.parity_samples)] if args.parity_samples else [])
    common = ["--data", "fashion-mnist", "--img-size", "32", "--val-size", str(args.val_size)]
    common += ["--limit-train", str(args.limit_train)] if args.limit_train else []
    common += ["--device", "cpu", "--workers", "0"]

    fp32 = args.student
    if fp32 is None:
        fp32 = out / "fp32"
        edgekd(
            ["distill", "--student", STUDENT, "--method", "none", *common, "--epochs", str(args.fp32_epochs)]
            + ["--out", str(fp32)],
            fp32 / "student.json",
        )
    teacher = str(fp32) if args.teacher == "self" else args.teacher
    fp32_weights = resolve_model_path(fp32)  # a student run, or a teacher run to ship as INT8
    arch = read_card(fp32_weights).arch
    stem = fp32_weights.stem  # export names its files after the weights: student.onnx or teacher.onnx
    student_test = test_predictions(fp32_weights, out / "eval" / "fp32-torch", args.threads)
    kd = out / "kd-epoch"
    if not args.no_kd_epoch:
        edgekd(
            ["distill", "--student", arch, "--teacher", teacher, *common, "--epochs", "1", "--out", str(kd)],
            kd / "student.json",
        )
    ft = out / "ft-fp32"
    if not args.no_control:
        edgekd(
            ["distill", "--student", arch, "--teacher", teacher, "--pretrained", str(fp32_weights)]
            + [*common, "--epochs", str(args.qad_epochs), "--lr", str(QAD_LR), "--out", str(ft)],
            ft / "student.json",
        )

    recipes = [("int8", True)] + ([("int8-per-tensor", False)] if args.per_tensor else [])
    results: dict[str, dict] = {}
    fp32_test = None
    onnx_to_time: dict[str, Path] = {}
    for recipe, per_channel in recipes:
        weights = [] if per_channel else ["--per-tensor"]
        ptq_dir = out / f"ptq-{recipe}"
        edgekd(
            ["export", str(fp32_weights), "--int8", "--int8-target", "tensorrt", "--calib", args.calib]
            + [*weights, *exporting, "--out", str(ptq_dir)],
            ptq_dir / "export.json",
        )
        fp32_test = fp32_test or test_predictions(ptq_dir / f"{stem}.onnx", out / "eval" / "fp32-onnx", args.threads)
        ptq_test = test_predictions(
            ptq_dir / f"{stem}.int8-tensorrt.onnx", out / "eval" / f"ptq-{recipe}", args.threads
        )
        mo_path = out / f"mo-ptq-{recipe}" / "student.int8-modelopt.onnx"
        print(f"\n# ModelOpt PTQ ({recipe}) of {fp32_weights} → {mo_path}", flush=True)
        mo_facts = modelopt_ptq(fp32_weights, recipe, args.calib, mo_path)
        mo_test = test_predictions(mo_path, out / "eval" / f"mo-ptq-{recipe}", args.threads)

        qad = out / f"qad-{recipe}"
        edgekd(
            ["distill", "--teacher", teacher, "--from", str(fp32), "--quantize", recipe, "--calib", args.calib]
            + [*common, "--epochs", str(args.qad_epochs), "--out", str(qad)],
            qad / "student.json",
        )
        qad_export = out / f"qad-{recipe}-export"
        edgekd(
            ["export", str(qad / "student.safetensors"), *exporting, "--out", str(qad_export)],
            qad_export / "export.json",
        )
        qad_test = test_predictions(
            qad_export / "student.int8-tensorrt.onnx", out / "eval" / f"qad-{recipe}", args.threads
        )
        ptq_facts = artefact_facts(ptq_dir, f"{stem}.int8-tensorrt.onnx")["details"]["quantization"]
        qad_facts = artefact_facts(qad_export, "student.int8-tensorrt.onnx")["details"]
        result = {
            "fp32_onnx_top1": fp32_test.top1(),
            "ptq_top1": ptq_test.top1(),
            "ptq_drop": fp32_test.top1() - ptq_test.top1(),
            "modelopt_ptq_top1": mo_test.top1(),
            "modelopt_ptq_drop": fp32_test.top1() - mo_test.top1(),
            "modelopt_ptq_vs_ptq": mo_test.versus(ptq_test),
            "qad_top1": qad_test.top1(),
            "qad_drop": fp32_test.top1() - qad_test.top1(),
            "qad_vs_ptq": qad_test.versus(ptq_test),
            "qad_vs_modelopt_ptq": qad_test.versus(mo_test),
            "qad_fake_quant_before_training": json.loads((qad / "student.json").read_text())["training"]["quantize"][
                "ptq"
            ],
            "qad_epoch_s": epoch_times(qad),
            "qad_parity": {"as_written": qad_facts["parity"], "integer_kernels": qad_facts["integer_kernels"]},
            "qdq": {
                "ptq": {k: ptq_facts.get(k) for k in ("quantize_linear", "dequantize_linear")}
                | {"float_ops": float_ops(ptq_dir / f"{stem}.int8-tensorrt.onnx")},
                "modelopt_ptq": {k: mo_facts[k] for k in ("quantize_linear", "dequantize_linear", "float_ops")},
                "qad": {k: qad_facts["quantization"][k] for k in ("quantize_linear", "dequantize_linear", "float_ops")},
            },
        }
        if not args.no_control and per_channel:  # the control answers the per-channel question only
            ft_dir = out / f"ft-ptq-{recipe}"
            edgekd(
                [
                    "export",
                    str(ft / "student.safetensors"),
                    "--int8",
                    "--int8-target",
                    "tensorrt",
                    "--calib",
                    args.calib,
                ]
                + [*weights, *exporting, "--out", str(ft_dir)],
                ft_dir / "export.json",
            )
            ft_fp32_test = test_predictions(ft_dir / "student.onnx", out / "eval" / "ft-fp32-onnx", args.threads)
            ft_ptq_test = test_predictions(
                ft_dir / "student.int8-tensorrt.onnx", out / "eval" / f"ft-ptq-{recipe}", args.threads
            )
            result |= {
                "ft_fp32_onnx_top1": ft_fp32_test.top1(),
                "ft_ptq_top1": ft_ptq_test.top1(),
                "ft_ptq_drop": ft_fp32_test.top1() - ft_ptq_test.top1(),
                "qad_vs_ft_ptq": qad_test.versus(ft_ptq_test),
            }
        if not per_channel:  # ONNX Runtime's CPU recipe with per-tensor weights (where PTQ collapsed before)
            cpu_dir = out / "ptq-cpu-per-tensor"
            edgekd(
                ["export", str(fp32_weights), "--int8", "--int8-target", "cpu", "--calib", args.calib]
                + ["--per-tensor", "--no-speed-search", *exporting, "--out", str(cpu_dir)],
                cpu_dir / "export.json",
            )
            cpu_test = test_predictions(
                cpu_dir / f"{stem}.int8-cpu.onnx", out / "eval" / "ptq-cpu-per-tensor", args.threads
            )
            result |= {
                "cpu_u8s8_ptq_top1": cpu_test.top1(),
                "cpu_u8s8_ptq_drop": fp32_test.top1() - cpu_test.top1(),
                "qad_vs_cpu_u8s8_ptq": qad_test.versus(cpu_test),
            }
        results[recipe] = result
        onnx_to_time |= {
            f"ptq-{recipe}": ptq_dir / f"{stem}.int8-tensorrt.onnx",
            f"mo-ptq-{recipe}": mo_path,
            f"qad-{recipe}": qad_export / "student.int8-tensorrt.onnx",
        }
    onnx_to_time = {"fp32": out / "ptq-int8" / f"{stem}.onnx", **onnx_to_time}
    if args.per_tensor:
        onnx_to_time["ptq-cpu-per-tensor"] = out / "ptq-cpu-per-tensor" / f"{stem}.int8-cpu.onnx"
    latency = {}
    for name, path in onnx_to_time.items():  # one after the other, same threads and batches
        profile_dir = out / "profile" / name
        edgekd(
            ["profile", str(path), "--batch", "1,32", *threads, "--out", str(profile_dir)],
            profile_dir / "profile.json",
        )
        batches = json.loads((profile_dir / "profile.json").read_text())["batches"]
        latency[name] = {f"b{b['batch']}_mean_ms": b["mean_ms"] for b in batches}
    report_dir = out / "report"
    edgekd(
        ["report", str(fp32_weights), *[str(p) for p in (out / "eval", out / "profile")]]
        + [str(p) for p in onnx_to_time.values()]
        + ["--out", str(report_dir)],
        report_dir / "never",  # always rebuilt: cheap, and it reads everything above
    )
    summary = {
        "student": str(fp32),
        "teacher": teacher,
        "limit_train": args.limit_train or None,
        "fp32_epochs": None if args.student else args.fp32_epochs,
        "qad_epochs": args.qad_epochs,
        "student_torch_top1": student_test.top1(),
        "fp32_epoch_s": None if args.student else epoch_times(fp32),
        "kd_epoch_s": None if args.no_kd_epoch else epoch_times(kd),
        "ft_epoch_s": None if args.no_control else epoch_times(ft),
        "recipes": results,
        "latency_ms": latency,
        "int8_vs_fp32_student": json.loads((report_dir / "report.json").read_text())["int8_vs_fp32"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
