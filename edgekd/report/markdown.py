"""report.md: the report's tables as GitHub-flavoured Markdown (for a job summary or a PR)."""

from __future__ import annotations

from edgekd.report.schema import Report
from edgekd.report.search_plot import search_caption
from edgekd.report.tables import Table, all_tables, ms, pct


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    lines = [
        f"## {table.title}",
        "",
        "| " + " | ".join(_cell(h) for h in table.headers) + " |",
        "|" + "---|" * len(table.headers),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", table.note]
    return "\n".join(lines) + "\n"


def pareto_markdown(report: Report) -> str:
    if report.pareto is None:
        return ""
    front = [p for p in report.pareto.points if p.on_front]
    front.sort(key=lambda p: p.mean_ms)
    items = ", ".join(f"{p.model} ({p.backend}/{p.device}: {pct(p.top1)} % at {ms(p.mean_ms)} ms)" for p in front)
    return (
        f"## Accuracy vs latency\n\nPareto front at batch {report.pareto.batch} (no other model is both faster and "
        f"more accurate): {items}. The plot is in report.html.\n"
    )


def searches_markdown(report: Report) -> str:
    """Each student search: one line, and its students.svg where `edgekd students` wrote it."""
    if not report.student_searches:
        return ""
    lines = ["## Student search", ""]
    for search in report.student_searches:
        lines += [search_caption(search), ""]
        if search.plot:
            lines += [f"![val top-1 vs latency of every candidate]({search.plot})", ""]
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """The whole report.md."""
    parts = [f"# {report.title}\n", f"Created {report.created} by edgekd ({report.schema_}).\n"]
    parts += [table_markdown(t) for t in all_tables(report)]
    pareto = pareto_markdown(report)
    if pareto:
        parts.insert(3, pareto)
    searches = searches_markdown(report)
    if searches:
        parts.append(searches)
    if report.notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {n}" for n in report.notes) + "\n")
    return "\n".join(parts)
