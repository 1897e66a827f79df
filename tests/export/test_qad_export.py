"""`edgekd export` of a QAD student: the TensorRT QDQ ONNX (S8S8, per-channel weights), gated and scored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from edgekd.data import DataConfig
from edgekd.distill import DistillConfig, distill
from edgekd.engine import OptimConfig, TrainConfig

pytest.importorskip(
    "modelopt.torch.quantization",
    reason="NVIDIA ModelOpt not installed: pip install 'edgekd[modelopt]' (make setup does this)",
)

DIGITS = DataConfig(spec="digits")


@pytest.fixture(scope="module")
def qad_student(tmp_path_factory) -> Path:
    """A QAD test_resnet student on digits: 3 FP32 epochs, then 1 QAD epoch from itself."""
    root = tmp_path_factory.mktemp("qad-export")
    fp32 = DistillConfig(
        student="test_resnet",
        out_dir=root / "fp32",
        method="none",
        data=DIGITS,
        train=TrainConfig(epochs=3, batch_size=64, optim=OptimConfig(lr=0.1)),
        img_size=16,
        device="cpu",
    )
    distill(fp32)
    qad = DistillConfig(
        student="test_resnet",
        out_dir=root / "qad",
        teacher=("self",),
        data=DIGITS,
        train=TrainConfig(epochs=1, batch_size=64, optim=OptimConfig(lr=0.005)),
        img_size=16,
        device="cpu",
        quantize="int8",
        from_run=root / "fp32",
        calib=Path(__file__).resolve().parents[2] / "calibration" / "digits-val.yaml",
    )
    return distill(qad).weights_path


@pytest.fixture(scope="module")
def exported(qad_student, tmp_path_factory):
    from edgekd.export import ExportConfig, export

    return export(ExportConfig(checkpoint=qad_student, out=tmp_path_factory.mktemp("qad-onnx")))


def test_export_writes_a_gated_tensorrt_qdq_onnx(exported):
    record = exported.get("int8", target="tensorrt")
    assert record is not None and record.path.name == "student.int8-tensorrt.onnx"
    # Gated: the graph run as written (optimisations off); reported: ONNX Runtime's integer kernels.
    assert (
        record.parity.passed
        and record.parity.reference == "torch fake-quant"
        and "as written" in record.parity.candidate
    )
    assert 0 <= record.details["integer_kernels"]["agreement"] <= 100
    summary = json.loads(exported.summary_path.read_text())
    written = {a["name"]: a for a in summary["artefacts"]}
    assert set(written) == {"student.onnx", "student.int8-tensorrt.onnx"}
    quantization = written["student.int8-tensorrt.onnx"]["details"]["quantization"]
    assert quantization["library"] == "nvidia-modelopt" and quantization["target"] == "tensorrt"
    assert quantization["quantize_linear"] == quantization["dequantize_linear"] > 0
    assert set(record.int8.accuracy) == {"val", "test"}


def test_the_qdq_graph_is_symmetric_s8s8_with_per_channel_weights(exported):
    graph = onnx.load(str(exported.get("int8", target="tensorrt").path)).graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    constants.update(
        {
            n.output[0]: numpy_helper.to_array(n.attribute[0].t)
            for n in graph.node
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"
        }
    )
    quantizes = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    zero_points = [constants[n.input[2]] for n in quantizes]
    assert all(z.dtype == np.int8 and not z.any() for z in zero_points)  # signed, symmetric
    scales = [constants[n.input[1]] for n in quantizes]
    assert any(s.size > 1 for s in scales)  # per-channel weight scales


def test_onnx_runtime_runs_it_and_agrees_with_the_fake_quantized_model(exported):
    record = exported.get("int8", target="tensorrt")
    session = ort.InferenceSession(str(record.path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": np.random.default_rng(0).standard_normal((3, 3, 16, 16), dtype=np.float32)})[0]
    assert logits.shape == (3, 10) and np.isfinite(logits).all()
    assert record.parity.agreement >= 99.5


def test_eval_takes_the_qdq_onnx(exported, run_cli, tmp_path):
    result = run_cli("eval", exported.get("int8", target="tensorrt").path, "--out", tmp_path)
    assert result.code == 0, result.stderr
    payload = json.loads((tmp_path / "eval.json").read_text())
    assert payload["metrics"]["top1"] == pytest.approx(
        exported.get("int8", target="tensorrt").int8.accuracy["test"]["int8_top1"]
    )


def test_onnx_runtime_ptq_for_tensorrt_is_refused_for_a_qad_student(qad_student, run_cli, tmp_path):
    result = run_cli(
        "export",
        qad_student,
        "--int8",
        "--int8-target",
        "tensorrt",
        "--calib",
        "calibration/digits-val.yaml",
        "--out",
        tmp_path,
    )
    assert result.code == 2 and "QAD student" in result.stderr
    assert not any(tmp_path.iterdir())


def test_the_report_sets_the_qad_int8_against_the_student_qad_started_from(exported, qad_student, tmp_path):
    from edgekd.evaluate import EvalConfig, evaluate
    from edgekd.report import ReportConfig, build_report

    fp32_student = qad_student.parent.parent / "fp32" / "student.safetensors"
    qdq = exported.get("int8", target="tensorrt").path
    scored = {
        path: evaluate(EvalConfig(artefact=path, out_dir=tmp_path / "eval" / path.parent.name)).payload
        for path in (fp32_student, qdq)
    }
    report = build_report(
        ReportConfig(inputs=(fp32_student, qdq, tmp_path / "eval"), out_dir=tmp_path / "report")
    ).report
    [entry] = report.int8_vs_fp32
    assert entry.model == qdq.name and entry.method == "qad" and entry.precision == "int8-qad"
    assert entry.target == "tensorrt" and entry.student == entry.reference == "student.safetensors"
    assert (
        report.model(entry.reference).sha256
        == json.loads(qad_student.with_suffix(".json").read_text())["training"]["quantize"]["from"]["sha256"]
    )
    assert entry.drop_pts == pytest.approx(scored[fp32_student]["metrics"]["top1"] - scored[qdq]["metrics"]["top1"])
    assert 0 <= entry.agreement <= 100 and entry.mean_ms is None  # not profiled: no latency columns
