"""The runner's contract: cached reruns, precise invalidation, --force/--from/--only/--dry-run."""

from __future__ import annotations

import pytest
import stub_stages
import yaml

from edgekd.errors import ConfigError
from edgekd.pipeline import load_pipeline, run_pipeline

PIPELINE = {
    "name": "stubbed",
    "teacher": {"arch": "resnet10t", "epochs": 1},
    "distill": {"student": "mobilenetv3_small_050", "methods": ["kd", "fitnet"], "seeds": [0, 1], "epochs": 2},
    "export": {"int8": True, "int8_target": ["cpu"]},
    "eval": {},
    "profile": {"batches": [1]},
    "report": {},
    "gate": {"max_drop_vs_teacher": 2},
}


@pytest.fixture
def pipeline_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stub_stages.executions.clear()

    def write(**changes):
        content = {k: (dict(v) if isinstance(v, dict) else v) for k, v in PIPELINE.items()}
        for dotted, value in changes.items():
            section, key = dotted.split("__")
            content[section][key] = value
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump(content))
        return path

    return write


def run(path, **options):
    return run_pipeline(load_pipeline(path), planners=stub_stages.planners(), **options)


def statuses(result):
    return {record.label: record.status for record in result.records}


def test_first_run_runs_everything_and_the_second_is_all_cached(pipeline_file):
    path = pipeline_file()
    first = run(path)
    assert set(statuses(first).values()) == {"ran"}
    # 1 teacher, 4 students, 4 exports, 9 evals and 9 profiles, report, gate
    assert len(first.records) == 1 + 4 + 4 + 9 + 9 + 1 + 1 and first.gate_passed is True
    stub_stages.executions.clear()
    second = run(path)
    assert set(statuses(second).values()) == {"cached"} and not stub_stages.executions
    assert second.gate_passed is True  # a cached gate keeps its verdict
    assert all(r.summary for r in second.records)


def test_an_export_change_reruns_export_onwards_never_training(pipeline_file):
    run(pipeline_file())
    stub_stages.executions.clear()
    result = run(pipeline_file(export__int8_target=["cpu", "tensorrt"]))
    status = statuses(result)
    assert status["teacher"] == "cached" and all(
        status[f"distill/{m}-s{s}"] == "cached" for m in ("kd", "fitnet") for s in (0, 1)
    )
    assert all(status[f"export/student-{m}-s{s}"] == "ran" for m in ("kd", "fitnet") for s in (0, 1))
    # evals of the teacher and students are cached; those of the new export files reran
    assert status["eval/teacher"] == "cached" and status["eval/student-kd-s0"] == "cached"
    assert status["eval/student-kd-s0"] == "cached" and status["report"] == "ran" and status["gate"] == "ran"
    assert not any(key.startswith(("teacher", "distill")) for key in stub_stages.executions)


def test_one_more_seed_runs_only_the_new_students(pipeline_file):
    run(pipeline_file())
    stub_stages.executions.clear()
    run(pipeline_file(distill__seeds=[0, 1, 2]))
    trained = sorted(k for k in stub_stages.executions if k.startswith("distill"))
    assert trained == ["distill/fitnet-s2", "distill/kd-s2"]


def test_dry_run_prints_the_plan_and_runs_nothing(pipeline_file, tmp_path):
    path = pipeline_file()
    plan = run(path, dry_run=True)
    assert not stub_stages.executions and not (tmp_path / "runs").exists()
    status = statuses(plan)
    assert status["teacher"] == "will run" and status["gate"] == "will run"
    assert any(r.label == "eval/…" for r in plan.records)  # export's files are known once it ran
    run(path)
    stub_stages.executions.clear()
    changed = run(pipeline_file(distill__epochs=3), dry_run=True)
    status = statuses(changed)
    assert status["teacher"] == "cached" and status["distill/kd-s0"] == "will run"
    assert [r.reason for r in changed.records if r.label == "distill/kd-s0"] == ["config changed"]
    assert (
        status["export/student-kd-s0"] == "will run"
        and "rebuilt first" in [r.reason for r in changed.records if r.label == "export/student-kd-s0"][0]
    )
    assert not stub_stages.executions


def test_force_from_and_only(pipeline_file):
    path = pipeline_file()
    run(path)
    stub_stages.executions.clear()
    assert set(statuses(run(path, force=True)).values()) == {"ran"}
    stub_stages.executions.clear()
    status = statuses(run(path, from_stage="profile"))
    assert (
        status["teacher"] == "kept"
        and status["eval/teacher"] == "kept"
        and status["profile/teacher"] == "ran"
        and status["gate"] == "ran"
    )
    stub_stages.executions.clear()
    status = statuses(run(path, only_stage="report"))
    assert set(stub_stages.executions) == {"report"} and "gate" not in status


def test_from_a_stage_whose_upstream_never_ran_is_refused(pipeline_file):
    with pytest.raises(ConfigError, match="has not run yet"):
        run(pipeline_file(), from_stage="eval")
    with pytest.raises(ConfigError, match="unknown stage"):
        run(pipeline_file(), from_stage="deploy")
    with pytest.raises(ConfigError, match="exclude each other"):
        run(pipeline_file(), from_stage="eval", only_stage="gate")


def test_a_failed_run_leaves_no_manifest_and_reruns_next_time(pipeline_file, tmp_path):
    path = pipeline_file()
    failing = stub_stages.planners()
    original = failing["eval"]

    def eval_with_a_failure(ctx):
        runs = original(ctx)
        broken = stub_stages._run(
            ctx, "eval", runs[1].run_id, runs[1].config, runs[1].inputs, "eval.json", None, fail=True
        )
        return [runs[0], broken, *runs[2:]]

    with pytest.raises(RuntimeError):
        run_pipeline(load_pipeline(path), planners=failing | {"eval": eval_with_a_failure})
    broken_dir = tmp_path / "runs" / "stubbed" / "eval" / "student-kd-s0"
    assert not (broken_dir / "manifest.json").exists()
    stub_stages.executions.clear()
    status = statuses(run(path))
    assert status["eval/teacher"] == "cached" and status["eval/student-kd-s0"] == "ran"


def test_a_modified_output_is_noticed(pipeline_file, tmp_path):
    path = pipeline_file()
    run(path)
    (tmp_path / "runs" / "stubbed" / "distill" / "kd-s0" / "student.bin").write_text("tampered")
    result = run(path)
    reasons = {r.label: r.reason for r in result.records}
    assert (
        reasons["distill/kd-s0"] == "output student.bin modified" and statuses(result)["distill/fitnet-s0"] == "cached"
    )


def test_an_interrupted_training_resumes_only_with_the_same_config(pipeline_file, tmp_path):
    path = pipeline_file()
    seen = []
    fail_once = {"teacher": True}

    def teacher(ctx):
        run = stub_stages.teacher(ctx)[0]
        inner = run.action

        def action(progress, resume):
            seen.append(resume)
            checkpoint = run.out_dir / "checkpoint.pt"
            if fail_once["teacher"]:
                fail_once["teacher"] = False
                checkpoint.write_text("epoch 1")
                raise KeyboardInterrupt
            return inner(progress, resume)

        run.action = action
        return [run]

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(load_pipeline(path), planners=stub_stages.planners(teacher=teacher))
    run_pipeline(load_pipeline(path), planners=stub_stages.planners(teacher=teacher))
    assert seen == [False, True]  # the second run resumed the interrupted one
    checkpoint = tmp_path / "runs" / "stubbed" / "teacher" / "checkpoint.pt"
    checkpoint.write_text("from this config")
    fail_once["teacher"] = True
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(load_pipeline(pipeline_file(teacher__epochs=2)), planners=stub_stages.planners(teacher=teacher))
    assert seen[-1] is False  # a changed config starts afresh …
    run_pipeline(load_pipeline(pipeline_file(teacher__epochs=2)), planners=stub_stages.planners(teacher=teacher))
    assert seen[-1] is True  # … and resumes its own checkpoint after an interruption


def test_profiles_are_redone_on_another_machine_and_nothing_else(pipeline_file):
    path = pipeline_file()
    machine = {"id": "machine-a"}
    base = stub_stages.per_artefact("profile")

    def profile(ctx):
        runs = base(ctx)
        for run in runs:
            run.machine = machine["id"]
        return runs

    run_pipeline(load_pipeline(path), planners=stub_stages.planners(profile=profile))
    machine["id"] = "machine-b"
    result = run_pipeline(load_pipeline(path), planners=stub_stages.planners(profile=profile))
    reasons = {r.label: r.reason for r in result.records if r.status == "ran"}
    # Only the profiles reran; these stand-ins wrote the same bytes again, so the report, whose
    # inputs are those files, is still valid (a real profile.json differs and reruns it).
    assert {label.split("/")[0] for label in reasons} == {"profile"}
    assert reasons["profile/teacher"] == "another machine"
