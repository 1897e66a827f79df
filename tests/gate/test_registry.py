"""Each gate check is declared once (`GATE_CHECKS`): its threshold field, flag and pipeline key all come from there."""

from __future__ import annotations

import pytest
from gate_reports import standard_models

from edgekd.gate import GATE_CHECKS, GateThresholds
from edgekd.pipeline.config import GateSection


def test_every_check_is_a_threshold_field_a_pipeline_key_and_a_flag(run_cli):
    help_text = run_cli("gate", "--help").stdout
    for check in GATE_CHECKS:
        assert GateThresholds.model_fields[check.field].default is None
        assert check.field in GateSection.model_fields
        assert check.flag in help_text
    assert GateThresholds().active() == []


@pytest.mark.parametrize("check", [c for c in GATE_CHECKS if c.range], ids=lambda c: c.field)
def test_each_checks_range_is_enforced_on_its_flag(check, reports, run_cli):
    report = reports.write("r", standard_models(reports))
    below = check.range.get("ge", check.range.get("gt", 0)) - 1
    refused = run_cli("gate", report, check.flag, str(below))
    assert refused.code == 2 and check.flag in refused.stderr and "Traceback" not in refused.stderr
