"""Every stage has one shape: `edgekd.<stage>.run(config, progress) -> Result`, `config.validate()` returning it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from edgekd import distill, evaluate, export, gate, profile, report, students, teacher
from edgekd.distill import DistillConfig
from edgekd.errors import ConfigError
from edgekd.evaluate import EvalConfig
from edgekd.export import ExportConfig
from edgekd.gate import GateConfig, GateThresholds
from edgekd.profile import ProfileConfig
from edgekd.report import ReportConfig
from edgekd.students import StudentsConfig
from edgekd.teacher import TeacherConfig

STAGES = {
    "teacher": (teacher, lambda p: TeacherConfig(arch="resnet10t", out_dir=p)),
    "distill": (distill, lambda p: DistillConfig(student="resnet10t", out_dir=p, method="none")),
    "export": (export, lambda p: ExportConfig(checkpoint=p / "student.safetensors", out=p / "export")),
    "eval": (evaluate, lambda p: EvalConfig(artefact=p / "student.safetensors")),
    "profile": (profile, lambda p: ProfileConfig(artefact=p / "student.onnx")),
    "report": (report, lambda p: ReportConfig(inputs=(p,), out_dir=p / "report")),
    "gate": (gate, lambda p: GateConfig(p / "report.json", GateThresholds(max_size_mb=1))),
    "students": (students, lambda p: StudentsConfig(teacher=p, out_dir=p / "students", budget_ms=1.0)),
}


@pytest.mark.parametrize("name", STAGES)
def test_entry_point_is_run_of_config_and_progress(name: str) -> None:
    module, _ = STAGES[name]
    parameters = list(inspect.signature(module.run).parameters.values())
    positional = [p for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert [p.name for p in positional] == ["config", "progress"]
    assert positional[1].default is None  # None: silent
    # Beyond that, only keyword-only extras with defaults (a caller that already holds an input,
    # e.g. the students search passing its loaded dataset to export): every stage is callable as
    # run(config) / run(config, progress).
    extras = [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert all(p.default is not inspect.Parameter.empty for p in extras)


@pytest.mark.parametrize("name", STAGES)
def test_validate_returns_the_validated_config(name: str, tmp_path: Path) -> None:
    _, make = STAGES[name]
    config = make(tmp_path)
    assert config.validate() is config


def test_validate_refuses_with_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--img-size"):
        TeacherConfig(arch="resnet10t", out_dir=tmp_path, img_size=4).validate()
    with pytest.raises(ConfigError, match="no threshold set"):
        GateConfig(tmp_path / "report.json", GateThresholds()).validate()
    with pytest.raises(ConfigError, match="at least one run directory"):
        ReportConfig(inputs=(), out_dir=tmp_path).validate()
