"""report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).

It shows the same tables as report.md (the cells come from `edgekd.report.tables`) plus the
plots: accuracy vs latency of every profiled model with the Pareto front marked, the training
curves found in the run directories, and each student search's val top-1 vs latency
(`edgekd.report.search_plot`, when a students.json is among the inputs).
"""

from __future__ import annotations

from html import escape

from edgekd.report.schema import Report
from edgekd.report.search_plot import plot_unavailable, report_search_svg, search_caption
from edgekd.report.svg import Point, line_chart, scatter_with_front
from edgekd.report.tables import Table, all_tables

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  margin: 24px; color: #222; background: #fafafa; }
h1 { margin-bottom: 4px; } h2 { margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; background: #fff; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #eef2f7; } td:first-child, th:first-child { text-align: left; }
.note, .meta { color: #555; font-size: 13px; max-width: 1100px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; padding: 8px; }
figcaption { font-size: 13px; color: #444; }
"""


def table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return f"<h2>{escape(table.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def pareto_svg(report: Report) -> str:
    if report.pareto is None:
        return ""
    names = sorted({p.model for p in report.pareto.points})
    several_threads = len({p.threads for p in report.pareto.points}) > 1
    points = [
        Point(
            p.mean_ms,
            p.top1,
            f"{p.model} ({p.backend}/{p.device}{f', {p.threads} thr' if several_threads and p.threads else ''})",
            p.on_front,
            names.index(p.model),
        )
        for p in report.pareto.points
    ]
    return scatter_with_front(
        points,
        f"Accuracy vs latency, batch {report.pareto.batch}",
        f"mean latency at batch {report.pareto.batch} (ms)",
        "top-1 %",
    )


def curve_svgs(report: Report) -> list[str]:
    charts = []
    for key, label in (("val_top1", "val top-1 %"), ("train_loss", "train loss")):
        series = [
            (
                c.name,
                [
                    (r["epoch"], r[key])
                    for r in c.epochs
                    if isinstance(r.get(key), (int, float)) and isinstance(r.get("epoch"), (int, float))
                ],
            )
            for c in report.curves
        ]
        chart = line_chart(series, f"Training: {label}", "epoch", label)
        if chart:
            charts.append(chart)
    return charts


def render_html(report: Report) -> str:
    """The whole report.html."""
    figures = []
    pareto = pareto_svg(report)
    if pareto:
        figures.append(
            f"<figure>{pareto}<figcaption>Filled points are on the Pareto front: no other model is both faster "
            "and more accurate.</figcaption></figure>"
        )
    missing = plot_unavailable() if report.student_searches else None
    for search in report.student_searches:  # drawn from the report's own points, like the other plots
        svg = "" if missing else report_search_svg(search)
        caption = escape(search_caption(search) + (f" ({missing})" if missing else ""))
        figures.append(f"<figure>{svg}<figcaption>{caption}</figcaption></figure>")
    figures += [
        f"<figure>{svg}<figcaption>From metrics.jsonl of each training run.</figcaption></figure>"
        for svg in curve_svgs(report)
    ]
    tables = [table_html(t) for t in all_tables(report)]
    plots = f'<h2>Plots</h2><div class="plots">{"".join(figures)}</div>' if figures else ""
    notes = (
        "<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>" if report.notes else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(report.title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(report.title)}</h1><p class="meta">Created {escape(report.created)} by edgekd '
        f"({escape(report.schema_)}).</p>"
        + tables[0]
        + (tables[1] if len(tables) > 1 else "")
        + plots
        + "".join(tables[2:])
        + notes
        + "</body></html>\n"
    )
