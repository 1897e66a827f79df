"""The gate tests' shared fixture (a conftest makes it visible to every test here by name)."""

from gate_reports import reports  # noqa: F401
