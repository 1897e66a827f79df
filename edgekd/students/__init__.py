"""Choosing the student: the most accurate timm architecture within a latency budget on the target.

Python API (the CLI's `edgekd students` is a thin layer over it)::

    from edgekd.students import StudentsConfig, run
    result = run(StudentsConfig(teacher=Path("runs/teacher"), out_dir=Path("runs/students"), budget_ms=0.5))
    print(result.chosen, result.run_dir)

Like `edgekd.bench`, it orchestrates other stages through their public APIs (distill, export,
profile); nothing below it imports it.
"""

from edgekd.students.bundle import export_candidates
from edgekd.students.candidates import DEFAULT_CANDIDATES, Candidate, resolve_candidates
from edgekd.students.config import LOCAL_TARGETS, PERCENTILES, StudentsConfig
from edgekd.students.stage import NoCandidateWithinBudget, StudentsResult, run

__all__ = [
    "DEFAULT_CANDIDATES",
    "LOCAL_TARGETS",
    "PERCENTILES",
    "Candidate",
    "NoCandidateWithinBudget",
    "StudentsConfig",
    "StudentsResult",
    "export_candidates",
    "resolve_candidates",
    "run",
]
