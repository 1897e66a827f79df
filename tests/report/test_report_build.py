"""`edgekd report`: report.json/.md/.html from real eval.json and profile.json files, agreeing figures."""

from __future__ import annotations

import json
import re

import pytest
from trained_artefacts import copy_artefacts

from edgekd.evaluate import EvalConfig, evaluate
from edgekd.profile import ProfileConfig, TimingConfig, profile
from edgekd.report import REPORT_SCHEMA, ReportConfig, build_report, load_report, pareto_front
from edgekd.report.tables import all_tables

QUICK = TimingConfig(warmup_ms=10, duration_s=0.15, min_iterations=10)


@pytest.fixture(scope="module")
def measured(artefacts, tmp_path_factory):
    """A private copy of the artefacts with eval.json and profile.json beside each (default outputs)."""
    private = copy_artefacts(artefacts, tmp_path_factory.mktemp("measured") / "runs")
    for path in (private.teacher, private.student, private.student_onnx, private.student_int8):
        evaluate(EvalConfig(artefact=path, teacher=private.teacher))
        profile(ProfileConfig(artefact=path, batches=(1, 4), threads=1, timing=QUICK))
    return private


@pytest.fixture(scope="module")
def built(measured, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report(ReportConfig(inputs=(measured.root,), out_dir=out, title="digits report"))


def test_report_json_follows_the_schema(built):
    payload = json.loads(built.json_path.read_text())
    assert payload["schema"] == REPORT_SCHEMA and payload["created"] and payload["title"] == "digits report"
    assert load_report(built.json_path).models == built.report.models  # validates on reading back
    by_name = {m["name"]: m for m in payload["models"]}
    assert set(by_name) == {"teacher.safetensors", "student.safetensors", "student.onnx", "student.int8.onnx"}
    assert [
        by_name[n]["role"] for n in ("teacher.safetensors", "student.safetensors", "student.onnx", "student.int8.onnx")
    ] == ["teacher", "student", "artefact", "artefact"]
    assert by_name["student.int8.onnx"]["precision"] == "int8" and by_name["student.onnx"]["format"] == "onnx"
    for model in payload["models"]:
        assert {
            "name",
            "role",
            "format",
            "precision",
            "target",
            "path",
            "sha256",
            "params",
            "flops",
            "size_bytes",
            "accuracy",
            "latency",
        } <= set(model)
        assert model["target"] == "cpu" and model["params"] > 0 and model["flops"] > 0 and model["size_bytes"] > 0
        assert {"top1", "top5", "agreement_with_teacher", "per_class"} <= set(model["accuracy"])
        assert len(model["accuracy"]["per_class"]) == 10
        assert [(e["batch"], e["backend"], e["device"]) for e in model["latency"]] == [
            (1, model["latency"][0]["backend"], "cpu"),
            (4, model["latency"][0]["backend"], "cpu"),
        ]
        for entry in model["latency"]:
            assert {
                "backend",
                "device",
                "machine",
                "batch",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "mean_ms",
                "throughput_img_s",
            } <= set(entry)
            assert entry["throughput_img_s"] == pytest.approx(entry["batch"] * 1000 / entry["mean_ms"], rel=0.05)
    assert by_name["teacher.safetensors"]["accuracy"]["agreement_with_teacher"] == 100.0
    assert payload["teacher"] == "teacher.safetensors" and payload["reference_batch"] == 1
    assert len(payload["system"]["fingerprints"]) == 1 and payload["latency_definition"].startswith("host to host")
    assert payload["class_names"] == [str(i) for i in range(10)]


def test_report_numbers_come_from_eval_and_profile_files(built, measured):
    eval_payload = json.loads((measured.student_onnx.parent / "eval" / "student-onnx" / "eval.json").read_text())
    profile_payload = json.loads(
        (measured.student_onnx.parent / "profile" / "student-onnx-ort-cpu" / "profile.json").read_text()
    )
    model = built.report.model("student.onnx")
    assert model.sha256 == eval_payload["artefact"]["sha256"] == profile_payload["artefact"]["sha256"]
    assert model.accuracy.top1 == eval_payload["metrics"]["top1"]
    assert model.accuracy.agreement_with_teacher == eval_payload["teacher"]["agreement"]
    assert [e.p99_ms for e in model.latency] == [b["p99_ms"] for b in profile_payload["batches"]]
    assert (built.json_path.parent / model.accuracy.eval_path).resolve() == (
        measured.student_onnx.parent / "eval" / "student-onnx" / "eval.json"
    ).resolve()


def test_student_vs_teacher_comparison(built):
    report = built.report
    teacher = report.model("teacher.safetensors")
    for comparison in report.comparisons:
        model = report.model(comparison.model)
        assert comparison.teacher == teacher.name
        assert comparison.top1_delta == pytest.approx(model.accuracy.top1 - teacher.accuracy.top1)
        assert comparison.params_ratio == pytest.approx(teacher.params / model.params) and comparison.params_ratio > 5
        assert comparison.size_ratio == pytest.approx(teacher.size_bytes / model.size_bytes)
        assert comparison.flops_ratio == pytest.approx(teacher.flops / model.flops)
        at_1 = next(s for s in comparison.speedups if s.batch == 1)
        assert (
            comparison.speedup == pytest.approx(at_1.teacher_mean_ms / at_1.model_mean_ms)
            and comparison.speedup_batch == 1
        )
    assert {c.model for c in report.comparisons} == {"student.safetensors", "student.onnx", "student.int8.onnx"}


def test_markdown_and_html_show_the_json_figures(built):
    markdown, html = built.markdown_path.read_text(), built.html_path.read_text()
    payload = json.loads(built.json_path.read_text())
    for model in payload["models"]:
        top1 = f"{model['accuracy']['top1']:.2f}"
        row = re.search(rf"^\| {re.escape(model['name'])} \|.*$", markdown, flags=re.MULTILINE).group(0)
        assert f"| {top1} |" in row
        assert f"<td>{model['name']}</td>" in html and f"<td>{top1}</td>" in html
        for entry in model["latency"]:
            for figure in (f"{entry['p99_ms']:.3f}", f"{entry['mean_ms']:.3f}", f"{entry['throughput_img_s']:,.0f}"):
                assert f"| {figure} |" in markdown and f"<td>{figure}</td>" in html
    for comparison in payload["comparisons"]:
        cell = f"{comparison['top1_delta']:+.2f}"
        assert f"| {cell} |" in markdown and f"<td>{cell}</td>" in html
    for table in all_tables(built.report):  # every cell of every table is in both renderings
        for row in table.rows:
            for cell in row:
                assert cell.replace("|", "\\|") in markdown


def test_html_is_self_contained_with_both_plots(built):
    html = built.html_path.read_text()
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)
    assert html.count("<svg") == 3  # accuracy vs latency, val top-1 curves, train loss curves
    assert "Pareto front" in html and "Training: val top-1 %" in html


def test_pareto_flags_match_the_definition(built):
    points = built.report.pareto.points
    assert built.report.pareto.batch == 1 and len(points) == 4
    for point in points:
        dominated = any(
            o.mean_ms <= point.mean_ms and o.top1 >= point.top1 and (o.mean_ms < point.mean_ms or o.top1 > point.top1)
            for o in points
            if o is not point
        )
        assert point.on_front == (not dominated)
    assert any(p.on_front for p in points)


def test_pareto_front_on_known_points():
    assert pareto_front([(1.0, 80.0), (2.0, 90.0), (3.0, 85.0), (1.0, 70.0), (0.5, 60.0)]) == [
        True,
        True,
        False,
        False,
        True,
    ]


def test_training_curves_come_from_metrics_jsonl(built):
    curves = {c.name: c for c in built.report.curves}
    assert set(curves) == {"teacher.safetensors", "student.safetensors"}
    assert [r["epoch"] for r in curves["teacher.safetensors"].epochs] == [1, 2]
    assert all("val_top1" in r and "train_loss" in r for r in curves["student.safetensors"].epochs)


def test_the_gate_reads_this_report_and_its_predictions(built):
    from edgekd.gate.inputs import load_gate_report as gate_load_report
    from edgekd.gate.inputs import load_predictions

    report = gate_load_report(built.json_path)
    assert report.teacher().name == "teacher.safetensors" and report.class_names == [str(i) for i in range(10)]
    student = report.find("student.onnx")
    assert student.top1 == built.report.model("student.onnx").accuracy.top1
    assert student.latency_at(1)[0].p99_ms == built.report.model("student.onnx").latency[0].p99_ms
    predictions = load_predictions(student)
    assert len(predictions.predicted) == 359 and 100.0 * predictions.correct.mean() == pytest.approx(student.top1)


def test_explicit_teacher_and_split_options(measured, tmp_path):
    evaluate(EvalConfig(artefact=measured.student_onnx, split="val", out_dir=measured.root / "val-evals" / "onnx"))
    result = build_report(
        ReportConfig(inputs=(measured.root,), out_dir=tmp_path, teacher=measured.teacher.parent, split="val", batch=4)
    )
    report = result.report
    assert report.model("student.onnx").accuracy.split == "val"
    assert report.model("student.safetensors").accuracy.split == "test"  # only scored on test
    assert report.reference_batch == 4 and all(c.speedup_batch == 4 for c in report.comparisons)


def test_cli_report_and_bad_inputs(run_cli, measured, tmp_path):
    result = run_cli("report", measured.root, "--teacher", measured.teacher, "--out", tmp_path / "r")
    assert result.code == 0, result.stderr
    assert "faster" in result.stdout and (tmp_path / "r" / "report.html").exists()
    missing = run_cli("report", tmp_path / "nowhere", "--out", tmp_path / "x")
    assert missing.code == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run_cli("report", tmp_path / "empty", "--out", tmp_path / "y")
    assert empty.code == 2 and "nothing to report" in empty.stderr and not (tmp_path / "y").exists()


def test_foreign_files_among_the_runs_are_skipped_with_a_note(measured, tmp_path):
    import onnx

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    model = onnx.load(str(measured.student_onnx))
    del model.metadata_props[:]
    onnx.save(model, str(foreign / "someone-elses.onnx"))
    (foreign / "model.engine").write_bytes(b"not a plan")
    (foreign / "notes-eval.json").write_text('{"schema": "something/1"}')
    result = build_report(ReportConfig(inputs=(measured.root, foreign), out_dir=tmp_path / "r"))
    assert len(result.report.models) == 4
    notes = "\n".join(result.report.notes)
    assert "someone-elses.onnx" in notes and "model.engine" in notes and "notes-eval.json" in notes
    assert "someone-elses.onnx" in result.markdown_path.read_text()


def test_speed_ups_compare_equal_thread_counts_only(measured, tmp_path):
    extra = tmp_path / "two-threads"
    profile(ProfileConfig(artefact=measured.teacher, batches=(1,), threads=2, timing=QUICK, out_dir=extra))
    report = build_report(ReportConfig(inputs=(measured.root, extra), out_dir=tmp_path / "r")).report
    teacher = report.model("teacher.safetensors")
    assert sorted(e.threads for e in teacher.latency if e.batch == 1) == [1, 2]
    one_thread = next(e for e in teacher.latency if e.batch == 1 and e.threads == 1)
    for comparison in report.comparisons:
        at_1 = [s for s in comparison.speedups if s.batch == 1]
        assert [s.threads for s in at_1] == [1] and at_1[0].teacher_mean_ms == one_thread.mean_ms


def test_targets_follow_the_format_and_the_export_metadata():
    from edgekd.report.model_rows import deploy_target
    from edgekd.report.schema import Latency

    def on(device: str) -> list[Latency]:
        return [
            Latency(
                backend="torch",
                device=device,
                machine="m",
                batch=1,
                p50_ms=1,
                p90_ms=1,
                p99_ms=1,
                mean_ms=1,
                throughput_img_s=1000,
            )
        ]

    assert deploy_target({"format": "torch"}, on("cpu")) == "cpu"
    assert deploy_target({"format": "torch"}, on("cuda")) == "cuda"
    assert deploy_target({"format": "onnx", "export": {"quantization": {"target": "cpu"}}}, []) == "cpu"
    assert deploy_target({"format": "onnx", "export": {"quantization": {"target": "tensorrt"}}}, []) == "tensorrt"
    assert (
        deploy_target({"format": "tensorrt", "export": {"build": {"gpu": "NVIDIA H100 80GB HBM3"}}}, []) == "tensorrt"
    )
    assert deploy_target({"format": "tensorrt", "export": {"build": {"gpu": "Orin (nvgpu)"}}}, []) == "jetson"


def test_a_file_name_shared_by_several_models_names_each_by_its_folder():
    from edgekd.report.build import unique_names

    records = [
        {"path": "/runs/q/distill/kd-s0/student.safetensors", "sha256": "a" * 64},
        {"path": "/runs/q/distill/kd-s1/student.safetensors", "sha256": "b" * 64},
        {"path": "/runs/q/teacher/teacher.safetensors", "sha256": "c" * 64},
        {"path": "/old/kd-s1/student.safetensors", "sha256": "d" * 64},
    ]
    assert list(unique_names(records).values()) == [
        "kd-s0/student.safetensors",  # not the plain name: it is not the only student
        "kd-s1/student.safetensors",
        "teacher.safetensors",
        "kd-s1/student.safetensors@dddddddd",
    ]
