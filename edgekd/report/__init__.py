"""Report stage: report.json (versioned schema), report.md and a self-contained report.html."""

from edgekd.report.build import ReportConfig, ReportResult, build_report, run
from edgekd.report.comparison import pareto_front
from edgekd.report.schema import REPORT_SCHEMA, Report, load_report

__all__ = [
    "REPORT_SCHEMA",
    "Report",
    "ReportConfig",
    "ReportResult",
    "build_report",
    "load_report",
    "pareto_front",
    "run",
]
