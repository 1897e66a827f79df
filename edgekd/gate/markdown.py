"""`gate.md`: the verdict as Markdown, for a CI job summary or a pull-request comment."""

from __future__ import annotations

from edgekd.gate.result import GateResult
from edgekd.gate.rows import FAIL, PASS, format_measured, format_threshold

STATUS_MARK = {PASS: "✅ pass", FAIL: "❌ FAIL", "skip": "➖ skip"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def gate_markdown(result: GateResult) -> str:
    """The whole gate.md: verdict line, the checks table, then the failures spelled out."""
    counts = result.counts()
    verdict = "✅ **Gate passed**" if result.passed else "❌ **Gate failed**"
    lines = [
        "# edgekd release gate",
        "",
        f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped.",
        "",
        f"- Report: `{result.report.path}`",
    ]
    if result.baseline is not None:
        lines.append(f"- Baseline: `{result.baseline.path}`")
    alpha = result.thresholds.alpha
    mode = {
        "point": "point estimates",
        "inferiority": (
            f"inferiority: a drop fails only when its lower bound is above the threshold (paired test, α = {alpha})"
        ),
        "non-inferiority": (
            "non-inferiority: a drop passes only when its upper bound is within the threshold (paired test, α = "
            f"{alpha})"
        ),
    }[result.thresholds.judgement()]
    lines += [f"- Accuracy drops judged on: {mode}", f"- Latency batch: {result.thresholds.batch}", ""]
    lines += [
        "| check | artefact | backend | device | batch | measured | threshold | result | detail |",
        "|---|---|---|---|---|---:|---:|---|---|",
    ]
    for row in result.rows:
        batch = "-" if row.batch is None else str(row.batch)
        cells = [
            row.label,
            row.artefact,
            row.backend,
            row.device,
            batch,
            format_measured(row),
            format_threshold(row),
            STATUS_MARK[row.status],
            row.detail,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    failures = result.failures()
    if failures:
        lines += ["", "## Failures", ""]
        lines += [
            f"- **{row.artefact}**: {row.label} {format_measured(row)} (allowed {format_threshold(row)}) on "
            f"{row.backend}/{row.device}"
            for row in failures
        ]
    return "\n".join(lines) + "\n"
