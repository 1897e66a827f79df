"""Fixtures of the gate tests."""

from __future__ import annotations

import pytest
from gate_reports import ReportWriter


@pytest.fixture
def reports(tmp_path) -> ReportWriter:
    return ReportWriter(tmp_path)
