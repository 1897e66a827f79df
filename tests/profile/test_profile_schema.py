"""profile.json is typed (`edgekd.profile/1`): written as the model, validated by every reader, bad fields named."""

from __future__ import annotations

import json
import shutil

import pytest

from edgekd import profile as profile_stage
from edgekd.errors import ConfigError, DataError
from edgekd.profile import ProfileConfig, TimingConfig
from edgekd.report import ReportConfig
from edgekd.report.sources import collect
from edgekd.schemas import PROFILE_SCHEMA, load_profile
from edgekd.students.latency import read_profiles

QUICK = TimingConfig(warmup_ms=10, duration_s=0.1, min_iterations=10)


@pytest.fixture(scope="module")
def measured(artefacts, tmp_path_factory):
    out = tmp_path_factory.mktemp("profiled")
    return profile_stage.run(
        ProfileConfig(artefact=artefacts.student_onnx, batches=(1, 2), timing=QUICK, out_dir=out), None
    )


def edited(measured, tmp_path, change):
    """A copy of a real profile.json with `change` applied to its payload, in a folder of its own."""
    payload = json.loads(measured.path.read_text())
    change(payload)
    path = tmp_path / "edited" / "profile.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(payload))
    return path


def test_the_written_file_reads_back_as_the_model(measured):
    loaded = load_profile(measured.path, DataError)
    assert loaded.to_json_dict() == measured.payload and measured.payload["schema"] == PROFILE_SCHEMA
    assert loaded.batch(2).p99_ms == measured.batch(2)["p99_ms"] and loaded.batch(3) is None


def test_report_names_the_bad_field(measured, tmp_path):
    path = edited(measured, tmp_path, lambda p: p["batches"][1].update(p99_ms="fast"))
    with pytest.raises(ConfigError, match=r"profile.json: field 'batches\[1\].p99_ms': expected a number, got 'fast'"):
        collect([path.parent])
    shutil.copy(measured.path, path)  # the real file again: accepted
    assert len(collect([path.parent]).profiles) == 1
    assert ReportConfig(inputs=(path.parent,), out_dir=tmp_path / "report").validate()


def test_latency_from_names_the_missing_field(measured, tmp_path):
    path = edited(measured, tmp_path, lambda p: p.pop("machine"))
    with pytest.raises(DataError, match="profile.json: field 'machine' is missing"):
        read_profiles(path.parent, 2)
    path = edited(measured, tmp_path / "other", lambda p: p.update(schema="edgekd.profile/9"))
    with pytest.raises(DataError, match="has schema 'edgekd.profile/9', not edgekd.profile/1"):
        read_profiles(path.parent, 2)


def test_latency_from_reads_the_batch_asked_for(measured):
    found = read_profiles(measured.path.parent, 2)
    (figures,) = found.values()
    assert figures["p99_ms"] == measured.batch(2)["p99_ms"] and figures["machine"] == measured.payload["machine"]
