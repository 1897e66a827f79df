"""report.html renders in a real headless browser (Debian's chromium) and is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from edgekd.evaluate import EvalConfig, evaluate
from edgekd.profile import ProfileConfig, TimingConfig, profile
from edgekd.report import ReportConfig, build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, png: Path, profile_dir: Path) -> None:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
        f"--screenshot={png}",
        "--window-size=1200,1600",
        html.resolve().as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium; make test installs it)"
)
def test_report_html_renders_with_tables_and_plots(artefacts, tmp_path):
    for path in (artefacts.teacher, artefacts.student_onnx):
        name = path.name.replace(".", "-")
        evaluate(EvalConfig(artefact=path, out_dir=tmp_path / "runs" / name))
        profile(
            ProfileConfig(
                artefact=path,
                batches=(1,),
                timing=TimingConfig(warmup_ms=10, duration_s=0.1),
                out_dir=tmp_path / "runs" / name,
            )
        )
    result = build_report(
        ReportConfig(inputs=(tmp_path / "runs", artefacts.teacher.parent), out_dir=tmp_path / "report")
    )
    png = tmp_path / "report.png"
    screenshot(result.html_path, png, tmp_path / "chromium-profile")
    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 1600)
    gray = image.convert("L")
    histogram = gray.histogram()
    background = max(range(256), key=lambda v: histogram[v])
    ink = sum(count for value, count in enumerate(histogram) if abs(value - background) > 40) / (1200 * 1600)
    assert ink > 0.01, f"only {ink:.2%} of the page differs from the background: blank render?"
    assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20  # text, table borders and plot colours
