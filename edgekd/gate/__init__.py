"""The release gate: thresholds on a report (and a baseline), paired statistics, gate.md and JUnit XML."""

from edgekd.gate.checks import CheckRow
from edgekd.gate.config import GateThresholds
from edgekd.gate.inputs import Report, load_report
from edgekd.gate.runner import GateResult, run_gate, write_gate_outputs
from edgekd.gate.stats import PairedDrop, mcnemar_p_value, paired_drop

__all__ = [
    "CheckRow",
    "GateResult",
    "GateThresholds",
    "PairedDrop",
    "Report",
    "load_report",
    "mcnemar_p_value",
    "paired_drop",
    "run_gate",
    "write_gate_outputs",
]
