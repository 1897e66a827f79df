"""The student search end to end on digits: three real tiny timm candidates, real ONNX exports
timed by ONNX Runtime through the profiler, real distill runs from one teacher-logit cache."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from students_helpers import DIGITS

from edgekd.artifacts import read_json
from edgekd.errors import ConfigError
from edgekd.export import ExportConfig, export
from edgekd.profile import TimingConfig
from edgekd.students import NoCandidateWithinBudget, StudentsConfig, export_candidates, run
from edgekd.students.schema import load_students

pytestmark = pytest.mark.slow  # ~30 s on 2 cores with the teacher fixture: the whole search, for real

CANDIDATES = ("test_resnet", "test_efficientnet", "lcnet_035")
EPOCHS = 4
# Rungs of 1 and 2 epochs (3·1 + 2·2 = 7 candidate-epochs ≤ 2 × 4): a halving with two distinct
# rungs; the default budget (1 ×) would rank all three on one 1-epoch rung.
RUNG_BUDGET = 2.0
QUICK_TIMING = TimingConfig(warmup_ms=20, duration_s=0.2)


class Recorder:
    """A progress sink that keeps the log lines (the stage's only way of talking)."""

    def __init__(self):
        self.lines: list[str] = []

    def start(self, description, total):
        pass

    def advance(self, steps=1, **fields):
        pass

    def finish(self, summary):
        pass

    def log(self, message):
        self.lines.append(message)


def search_config(teacher: Path, out: Path, **overrides) -> StudentsConfig:
    # A generous median budget: every candidate fits on any machine, however loaded.
    base = StudentsConfig(
        teacher=teacher,
        out_dir=out,
        budget_ms=50.0,
        data=DIGITS,
        candidates=CANDIDATES,
        epochs=EPOCHS,
        rung_budget=RUNG_BUDGET,
        percentile="median",
        timing=QUICK_TIMING,
        exporter="torchscript",
        device="cpu",
    )
    return replace(base, **overrides)


@pytest.fixture(scope="module")
def search(digits_teacher, tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    recorder = Recorder()
    started = time.perf_counter()
    result = run(search_config(digits_teacher, out), recorder)
    return result, recorder, time.perf_counter() - started


def test_search_times_every_candidate_halves_and_fully_distils_the_best(search):
    result, recorder, wall = search
    payload = read_json(result.summary_path)
    assert payload["schema"] == "edgekd.students/1"
    assert load_students(result.summary_path.parent).chosen.arch == result.chosen  # the schema's readers take it
    by_arch = {c["arch"]: c for c in payload["candidates"]}
    assert list(by_arch) == list(CANDIDATES)
    for candidate in by_arch.values():
        assert candidate["params"] > 0 and candidate["mflops"] > 0
        fp32 = candidate["latency"]["fp32"]
        assert fp32["batch"] == 1 and 0 < fp32["min_ms"] <= fp32["median_ms"] <= fp32["max_ms"]
        assert candidate["latency_ms"] == fp32["median_ms"] and candidate["precision"] == "fp32"
        assert Path(fp32["profile"]).is_file()  # the profiler's own profile.json
        assert candidate["rungs"] and candidate["rungs"][0]["epochs"] == 1  # every feasible candidate got the short run
        assert candidate["decision"]
    # 3 candidates: rung 0 (1 epoch) for 3, rung 1 (2 epochs) for the better 2, the finalist for all 4 epochs.
    assert sorted(len(c["rungs"]) for c in by_arch.values()) == [1, 2, 3]
    stopped = next(c for c in by_arch.values() if len(c["rungs"]) == 1)
    assert all(stopped["rungs"][0]["val_top1"] <= c["rungs"][0]["val_top1"] for c in by_arch.values())
    chosen = by_arch[result.chosen]
    assert [r["epochs"] for r in chosen["rungs"]] == [1, 2, EPOCHS]
    assert chosen["decision"].startswith("chosen")
    # The short rungs are scored on val only; the test split is read by the run that ships.
    short = [r for c in by_arch.values() for r in c["rungs"] if r["epochs"] < EPOCHS]
    assert len(short) == 5 and all(r["val_top1"] is not None and r["test_top1"] is None for r in short)
    rung_card = read_json(Path(short[0]["run"]) / "student.json")
    assert rung_card["metrics"]["test"] is None and rung_card["provenance"]["config"]["evaluate_test"] is False
    assert chosen["rungs"][-1]["test_top1"] is not None
    assert sum(r["epochs"] for r in short) <= RUNG_BUDGET * EPOCHS
    second_rung = [c for c in by_arch.values() if len(c["rungs"]) >= 2]
    assert result.chosen == max(second_rung, key=lambda c: (c["rungs"][1]["val_top1"], -c["latency_ms"]))["arch"]
    assert (
        payload["chosen"]["run_dir"] == str(result.run_dir)
        and payload["chosen"]["test_top1"] == chosen["rungs"][-1]["test_top1"]
    )
    # The FLOPs-vs-latency check over all three, and the files a person reads.
    check = payload["flops_vs_latency"]
    assert check["candidates"] == 3 and -1.0 <= check["spearman_rho"] <= 1.0
    assert sorted(check["top5_by_flops"]) == sorted(check["top5_by_latency"]) == sorted(CANDIDATES)
    markdown = (result.summary_path.parent / "students.md").read_text()
    assert f"**Chosen: `{result.chosen}`**" in markdown and "Spearman ρ" in markdown
    svg = (result.summary_path.parent / "students.svg").read_text()
    assert svg.startswith("<svg") and "budget 50 ms" in svg and "chosen" in svg
    assert all(f"{arch} (" in svg for arch in CANDIDATES)  # every candidate labelled with its run's epochs
    assert "![val top-1 vs latency](students.svg)" in markdown
    assert any(line.startswith("successive halving: 3 candidates, rungs of [1, 2] epochs") for line in recorder.lines)
    # The cost against one full run of the chosen student, recorded and said (a figure, not a claim to assert).
    assert payload["search_vs_finalist_run"] == pytest.approx(
        payload["search_wall_time_s"] / payload["finalist_run_wall_time_s"]
    )
    assert payload["finalist_run_wall_time_s"] == chosen["rungs"][-1]["wall_time_s"]
    assert payload["search_wall_time_s"] <= payload["wall_time_s"]
    assert any(line.startswith("search cost: ") for line in recorder.lines)
    print(f"search wall time {wall:.1f} s, {payload['search_vs_finalist_run']:.2f} × the chosen student's full run")


def test_the_teacher_runs_once_per_view_not_once_per_candidate(search):
    result, recorder, _ = search
    passes = result.payload["teacher_forward"]
    # Views: one per training epoch of the longest schedule, plus the val and test splits.
    assert passes["distinct_views"] == EPOCHS + 2
    assert passes["views_computed"] == passes["distinct_views"]
    runs = passes["runs"]
    assert runs == 3 + 2 + 1  # six distill runs read those six views
    assert passes["training_batches"] == EPOCHS * passes["batches_per_epoch"]
    assert any(line.startswith(f"teacher forward passes: {EPOCHS + 2} views") for line in recorder.lines)


def test_the_chosen_run_is_a_normal_distill_output_that_export_takes(search, tmp_path):
    result, _, _ = search
    card = json.loads((result.run_dir / "student.json").read_text())
    assert card["arch"] == result.chosen and card["role"] == "student"
    assert card["training"]["method"] == "kd" and card["provenance"]["config"]["train"]["epochs"] == EPOCHS
    exported = export(ExportConfig(result.run_dir, tmp_path / "export", exporter="torchscript", threads=2))
    assert exported.get("fp32").parity.passed


def test_a_rerun_reuses_every_finished_rung_and_resumes_an_interrupted_one(search, digits_teacher):
    result, _, _ = search
    out = result.summary_path.parent
    tables = sorted(p.name for p in (out / "teacher-cache").rglob("*.safetensors"))
    # The finalist was stopped after its last checkpoint but before its card: resumed, not retrained.
    (result.run_dir / "student.json").unlink()
    (result.run_dir / "student.safetensors").unlink()
    trained = [p for p in (out / "runs").glob("*/metrics.jsonl") if p.parent != result.run_dir]
    stamps = {p: p.stat().st_mtime_ns for p in trained}
    recorder = Recorder()
    again = run(search_config(digits_teacher, out), recorder)
    assert again.chosen == result.chosen
    assert all(p.stat().st_mtime_ns == stamps[p] for p in trained)
    assert any("resuming its checkpoint" in line for line in recorder.lines)
    assert sum("reusing the finished run" in line for line in recorder.lines) == 5
    assert sorted(p.name for p in (out / "teacher-cache").rglob("*.safetensors")) == tables
    assert again.payload["teacher_forward"]["views_computed"] == EPOCHS + 2
    assert (again.run_dir / "student.safetensors").is_file()


def test_no_candidate_within_budget_exits_2_naming_the_fastest(search, digits_teacher, tmp_path, run_cli):
    result, _, _ = search
    shutil.copytree(result.summary_path.parent / "candidates", tmp_path / "candidates")  # reuse the exports and timings
    code = run_cli(
        "students",
        "--teacher",
        digits_teacher,
        "--data",
        "digits",
        "--budget-ms",
        "0.000001",
        "--percentile",
        "median",
        "--candidates",
        ",".join(CANDIDATES),
        "--duration",
        "0.2",
        "--exporter",
        "torchscript",
        "--out",
        tmp_path,
        "--device",
        "cpu",
    )
    assert code.code == 2
    payload = read_json(tmp_path / "students.json")
    # The fastest of this run's own timings: candidates this close swap places between runs.
    timed = {c["arch"]: c["latency_ms"] for c in payload["candidates"] if c["latency_ms"] is not None}
    fastest = min(timed, key=timed.get)
    error = [line for line in code.stderr.splitlines() if line.startswith("error:")]
    assert (
        len(error) == 1
        and "no candidate within 1e-06 ms" in error[0]
        and f"the fastest measured is {fastest} at" in error[0]
    )
    assert "Traceback" not in code.stderr
    assert payload["chosen"] is None and all(c["decision"].startswith("over budget") for c in payload["candidates"])
    assert not (tmp_path / "runs").exists()
    # The plot still shows what was measured: every candidate at its latency, none distilled, the budget.
    svg = (tmp_path / "students.svg").read_text()
    assert "timed, not distilled (over budget)" in svg and "budget 1e-06 ms" in svg


def _without_matplotlib(*args) -> subprocess.CompletedProcess:
    """`edgekd ARGS…` in a real process where `import matplotlib` fails, as on an install without it."""
    code = "import sys; sys.modules['matplotlib'] = None; from edgekd.cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300, env=os.environ
    )


def test_without_matplotlib_the_search_says_so_and_writes_everything_else(search, digits_teacher, tmp_path):
    result, _, _ = search
    shutil.copytree(result.summary_path.parent / "candidates", tmp_path / "candidates")
    done = _without_matplotlib(
        "students",
        "--teacher",
        digits_teacher,
        "--data",
        "digits",
        "--budget-ms",
        "0.000001",
        "--percentile",
        "median",
        "--candidates",
        ",".join(CANDIDATES),
        "--exporter",
        "torchscript",
        "--out",
        tmp_path,
        "--device",
        "cpu",
    )
    assert done.returncode == 2, done.stderr[-2000:]  # no candidate within 1e-06 ms, as before
    assert "matplotlib is not installed, so the search plot was not drawn: pip install matplotlib" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "students.json").is_file() and not (tmp_path / "students.svg").exists()
    assert "students.svg" not in (tmp_path / "students.md").read_text()
    report = _without_matplotlib("report", result.summary_path, "--out", tmp_path / "report")
    assert report.returncode == 0, report.stderr[-2000:]
    html = (tmp_path / "report" / "report.html").read_text()
    assert "matplotlib is not installed" in html and f"chosen {result.chosen}" in html


def test_the_report_shows_the_search_plot_when_given_the_search(search, tmp_path, run_cli):
    result, _, _ = search
    out = result.summary_path.parent
    code = run_cli("report", out / "students.json", result.run_dir, "--out", tmp_path)
    assert code.code == 0, code.stderr
    report = read_json(tmp_path / "report.json")
    (found,) = report["student_searches"]
    assert found["chosen"] == result.chosen and found["budget_ms"] == 50.0
    assert (tmp_path / found["plot"]).resolve() == (out / "students.svg").resolve()
    statuses = {p["arch"]: p["status"] for p in found["points"]}
    assert statuses[result.chosen] == "chosen" and sorted(statuses) == sorted(CANDIDATES)
    # students.json as it is now (the rerun tests rewrite it with their own wall times).
    assert found["search_vs_finalist_run"] == pytest.approx(read_json(out / "students.json")["search_vs_finalist_run"])
    markdown = (tmp_path / "report.md").read_text()
    assert "## Student search" in markdown and f"]({found['plot']})" in markdown
    html = (tmp_path / "report.html").read_text()
    figure = html[html.index("Student search: val top-1 vs latency") - 20000 :]
    assert "<svg" in figure and f"chosen {result.chosen}" in html  # inline: report.html stays self-contained


def test_latency_from_reads_the_targets_profile_files(digits_teacher, tmp_path):
    bundle = tmp_path / "bundle"
    summary = export_candidates(
        digits_teacher, bundle, DIGITS, candidates=("test_efficientnet",), exporter="torchscript"
    )
    assert read_json(summary)["candidates"][0]["files"]["fp32"]["file"] == "test_efficientnet.onnx"
    # The device's side, as a real process: profile.sh runs `edgekd profile` on every file.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "BATCH": "4"}
    subprocess.run(
        ["sh", str(bundle / "profile.sh"), "--duration", "0.2", "--warmup-ms", "20"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    written = bundle / "profiles" / "test_efficientnet.onnx" / "profile.json"
    measured = next(b for b in read_json(written)["batches"] if b["batch"] == 4)
    config = search_config(
        digits_teacher,
        tmp_path / "search",
        candidates=("test_efficientnet",),
        target="some-board",
        latency_from=bundle / "profiles",
        batch=4,
        budget_ms=1e-6,
    )
    with pytest.raises(
        ConfigError, match=f"the fastest measured is test_efficientnet at {measured['median_ms']:.3f} ms"
    ):
        run(config)
    assert read_json(tmp_path / "search" / "students.json")["candidates"][0]["latency"]["fp32"]["profile"] == str(
        written
    )


def test_bad_settings_fail_before_anything_runs(digits_teacher, tmp_path):
    with pytest.raises(ConfigError, match="--target jetson-orin is not this machine"):
        run(search_config(digits_teacher, tmp_path, target="jetson-orin"))
    with pytest.raises(ConfigError, match="--percentile"):
        run(search_config(digits_teacher, tmp_path, percentile="p42"))
    with pytest.raises(ConfigError, match="val split"):
        run(search_config(digits_teacher, tmp_path, data=replace(DIGITS, val_size=0)))
    assert not any(tmp_path.iterdir())


def test_an_edited_students_json_is_refused_naming_the_field(search, tmp_path):
    result, _, _ = search
    payload = read_json(result.summary_path)
    payload["candidates"][0]["latency_ms"] = "fast"
    (tmp_path / "students.json").write_text(json.dumps(payload))
    with pytest.raises(ConfigError, match=r"field candidates\.0\.latency_ms"):
        load_students(tmp_path)


def test_a_budget_relative_to_the_teacher_times_the_teacher_in_the_same_run(search, digits_teacher, tmp_path):
    result, _, _ = search
    shutil.copytree(result.summary_path.parent / "candidates", tmp_path / "candidates")
    config = search_config(digits_teacher, tmp_path, budget_ms=None, budget_vs_teacher=1e-4)
    with pytest.raises(NoCandidateWithinBudget):
        run(config)
    payload = load_students(tmp_path)
    teacher = payload.teacher_latency
    assert teacher["arch"] == "resnet10t" and Path(teacher["latency"]["fp32"]["profile"]).is_file()
    assert payload.budget.vs_teacher == 1e-4 and payload.budget.ms == pytest.approx(1e-4 * teacher["latency_ms"])
    with pytest.raises(ConfigError, match="give the budget once"):
        run(search_config(digits_teacher, tmp_path, budget_vs_teacher=0.1))


def test_ctrl_c_mid_search_exits_130_and_the_rerun_finishes_it(search, digits_teacher, tmp_path):
    result, _, _ = search
    shutil.copytree(result.summary_path.parent / "candidates", tmp_path / "candidates")  # exports and timings reused
    command = [
        sys.executable,
        "-m",
        "edgekd",
        "students",
        "--teacher",
        str(digits_teacher),
        "--data",
        "digits",
        "--budget-ms",
        "50",
        "--percentile",
        "median",
        "--candidates",
        ",".join(CANDIDATES),
        "--epochs",
        str(EPOCHS),
        "--rung-budget",
        str(RUNG_BUDGET),
        "--duration",
        "0.2",
        "--exporter",
        "torchscript",
        "--device",
        "cpu",
        "--out",
        str(tmp_path),
    ]
    # SIGINT at its default, so the child turns it into KeyboardInterrupt as in a terminal.
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs").glob("*/student.json")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)  # the first run is finished, the second is starting
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    assert not (tmp_path / "students.json").exists()
    assert not list(tmp_path.rglob(".*.tmp"))  # nothing half-written
    recorder = Recorder()
    finished = run(search_config(digits_teacher, tmp_path), recorder)
    assert any("reusing the finished run" in line for line in recorder.lines)
    assert finished.payload["teacher_forward"]["views_computed"] == EPOCHS + 2
    assert (finished.run_dir / "student.safetensors").is_file()
