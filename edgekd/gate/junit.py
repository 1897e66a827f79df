"""JUnit XML of the gate's rows: one test case per row, so any CI shows each check by name."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edgekd.gate.rows import FAIL, SKIP, CheckRow, format_measured, format_threshold


def _case_name(row: CheckRow) -> str:
    where = f"{row.backend}/{row.device}" + ("" if row.batch is None else f"/batch {row.batch}")
    return f"{row.label} [{where}]"


def junit_xml(rows: list[CheckRow], suite_name: str = "edgekd gate") -> str:
    """A `<testsuites>` document with one `<testsuite>`; failures and skips carry their reason."""
    failures = sum(row.status == FAIL for row in rows)
    skipped = sum(row.status == SKIP for row in rows)
    suites = ET.Element(
        "testsuites", name=suite_name, tests=str(len(rows)), failures=str(failures), errors="0", skipped=str(skipped)
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=suite_name,
        tests=str(len(rows)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time="0",
    )
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname=f"gate.{row.artefact}", name=_case_name(row), time="0")
        summary = f"{row.label}: measured {format_measured(row)}, threshold {format_threshold(row)}"
        if row.status == FAIL:
            failure = ET.SubElement(case, "failure", message=summary, type="threshold")
            failure.text = row.detail
        elif row.status == SKIP:
            ET.SubElement(case, "skipped", message=row.detail)
        else:
            ET.SubElement(case, "system-out").text = f"{summary}. {row.detail}".strip()
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
