"""Every pipeline in pipelines/ validates and plans (dry run) with the real stages, running nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgekd.errors import DataError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.name for p in (REPO / "pipelines").glob("*.yaml"))


def fashion_mnist_available() -> bool:
    from edgekd.data.dataset import find_fashion_mnist

    try:
        find_fashion_mnist(None)
        return True
    except DataError:
        return False


@pytest.fixture
def workdir(tmp_path, monkeypatch, imagefolder_split):
    """A copy of pipelines/ and calibration/, with a small real ImageFolder (digit PNGs) where the pipelines expect
    data."""
    work = tmp_path / "work"
    shutil.copytree(REPO / "pipelines", work / "pipelines")
    shutil.copytree(REPO / "calibration", work / "calibration")
    for name in ("surveillance", "automotive"):
        shutil.copytree(imagefolder_split, work / "data" / name)
    monkeypatch.chdir(work)
    return work


def test_the_shipped_pipelines_are_the_documented_ones():
    assert {"quickstart.yaml", "surveillance.yaml", "automotive.yaml"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_dry_run_plans_every_stage_and_runs_nothing(name, workdir, run_cli):
    if name == "quickstart.yaml" and not fashion_mnist_available():
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
    result = run_cli("run", f"pipelines/{name}", "--dry-run")
    assert result.code == 0, result.stderr
    assert "dry run: nothing was run" in result.stdout and "Traceback" not in result.stderr
    for stage in ("teacher", "distill", "export", "eval", "report", "gate"):
        assert stage in result.stdout
    assert not (workdir / "runs").exists()


def test_a_missing_baseline_report_is_refused_at_its_line(workdir, run_cli):
    text = (
        (workdir / "pipelines" / "quickstart.yaml")
        .read_text()
        .replace("gate:\n", "gate:\n  baseline: release/report.json\n")
    )
    (workdir / "p.yaml").write_text(
        text.replace("spec: fashion-mnist", "spec: digits").replace(
            "calibration/fmnist-val-512.yaml", "calibration/digits-val.yaml"
        )
    )
    line = text.splitlines().index("  baseline: release/report.json") + 1
    result = run_cli("run", "p.yaml", "--dry-run")
    assert (
        result.code == 2 and f"p.yaml:{line}: 'gate.baseline': report not found: release/report.json" in result.stderr
    )
