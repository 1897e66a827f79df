"""The release gate: thresholds on a report (and a baseline), paired statistics, gate.md and JUnit XML."""

from edgekd.gate.config import GateConfig, GateThresholds
from edgekd.gate.inputs import GateReport, load_gate_report
from edgekd.gate.registry import GATE_CHECKS, GateCheck
from edgekd.gate.result import GateResult
from edgekd.gate.rows import CheckRow
from edgekd.gate.runner import run, run_gate, write_gate_outputs
from edgekd.gate.stats import PairedDrop, mcnemar_p_value, paired_drop

__all__ = [
    "CheckRow",
    "GATE_CHECKS",
    "GateCheck",
    "GateConfig",
    "GateReport",
    "GateResult",
    "GateThresholds",
    "PairedDrop",
    "load_gate_report",
    "mcnemar_p_value",
    "paired_drop",
    "run",
    "run_gate",
    "write_gate_outputs",
]
