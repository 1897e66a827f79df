"""`EDGEKD_DEBUG=1`: a bad input still exits 2 with its one line, and the traceback (with the
error it was translated from) is printed above it; without the variable, no traceback."""

from __future__ import annotations

import pytest

BAD_PIPELINE = "name: tiny\ndata: {spec: digits}\nteacher:\n  arch: resnet10t\n  epochs: two\n"


def _run_bad_pipeline(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_PIPELINE)
    return run_cli("run", bad, "--dry-run"), f"error: {bad}:5: 'teacher.epochs': Input should be a valid integer"


def test_debug_shows_the_traceback_and_its_cause_with_the_same_exit_code(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKD_DEBUG", "1")
    result, message = _run_bad_pipeline(run_cli, tmp_path, monkeypatch)
    assert result.code == 2, result.stderr
    assert result.stderr.startswith("Traceback (most recent call last):"), result.stderr
    assert "pydantic_core._pydantic_core.ValidationError" in result.stderr  # the cause is chained
    assert "The above exception was the direct cause of the following exception" in result.stderr
    assert "edgekd.errors.ConfigError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("debug", [None, "0"])
def test_without_debug_a_bad_input_is_one_line_and_no_traceback(run_cli, tmp_path, monkeypatch, debug):
    if debug is None:
        monkeypatch.delenv("EDGEKD_DEBUG", raising=False)
    else:
        monkeypatch.setenv("EDGEKD_DEBUG", debug)
    result, message = _run_bad_pipeline(run_cli, tmp_path, monkeypatch)
    assert result.code == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_what_a_normal_run_passes_over_is_in_the_debug_log(tmp_path, caplog):
    from edgekd.pipeline.manifest import MANIFEST_NAME, read_manifest

    (tmp_path / MANIFEST_NAME).write_text("{ half a manifest")
    with caplog.at_level("DEBUG", logger="edgekd"):
        assert read_manifest(tmp_path) is None  # unreadable: the run is redone, nothing printed
    assert any(r.name == "edgekd.pipeline.manifest" and MANIFEST_NAME in r.getMessage() for r in caplog.records), (
        caplog.text
    )
