"""The student search's plot: val top-1 vs measured latency of every candidate, with the budget.

Drawn with matplotlib (an optional dependency: `pip install 'edgekd[plot]'`) as SVG text, so
that `edgekd students` writes it as OUT/students.svg and `edgekd report` puts the same figure
inline in its self-contained report.html. Candidates that were timed but never distilled (over
budget) have no val figure: they are marked along the bottom at their latency, so that the plot
shows every measured candidate, including when none fits the budget.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Sequence

PLOT_EXTRA = "pip install matplotlib (edgekd's `plot` extra)"
STATUSES = ("chosen", "baseline", "distilled", "not distilled")


def plot_unavailable() -> str | None:
    """Why the plot cannot be drawn here (matplotlib missing), or None when it can."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return f"matplotlib is not installed, so the search plot was not drawn: {PLOT_EXTRA}"
    return None


def search_points(
    payload: dict[str, Any], front: Callable[[list[tuple[float, float]]], list[bool]]
) -> list[dict[str, Any]]:
    """Each timed candidate: arch, latency (ms), val top-1 (%) and epochs of its longest run
    (None: never distilled), its status (chosen, baseline, distilled, not distilled) and
    whether it is on the Pareto front of the distilled ones (`front`: `edgekd.report.pareto_front`,
    passed in so that this module does not import the report's builder, which imports it)."""
    chosen = (payload.get("chosen") or {}).get("arch")
    baseline = (payload.get("baseline") or {}).get("arch")
    rows = []
    for c in payload["candidates"]:
        if c["latency_ms"] is None:
            continue
        last = c["rungs"][-1] if c["rungs"] else {}
        rows.append(
            {
                "arch": c["arch"],
                "latency_ms": c["latency_ms"],
                "val_top1": last.get("val_top1"),
                "epochs": last.get("epochs"),
                "status": "chosen"
                if c["arch"] == chosen
                else "baseline"
                if c["arch"] == baseline
                else "distilled"
                if last.get("val_top1") is not None
                else "not distilled",
                "on_front": False,
            }
        )
    distilled = [r for r in rows if r["val_top1"] is not None]
    for row, front in zip(distilled, front([(r["latency_ms"], r["val_top1"]) for r in distilled])):
        row["on_front"] = front
    return rows


def search_plot_svg(points: Sequence[dict[str, Any]], budget_ms: float, x_label: str, title: str) -> str:
    """The figure as standalone SVG text (starting at `<svg`).

    Args:
        points: one per timed candidate: `arch`, `latency_ms`, `val_top1` (None: not distilled),
            `epochs` (of the run that `val_top1` comes from), `status` (one of `STATUSES`) and
            `on_front` (on the Pareto front of the distilled points).
        budget_ms: where the budget line is drawn.

    Raises:
        ImportError: without matplotlib (ask `plot_unavailable` first).
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    distilled = [p for p in points if p["val_top1"] is not None]
    untrained = [p for p in points if p["val_top1"] is None]
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "edgekd", "font.size": 9}):
        figure = Figure(figsize=(7.5, 4.6), layout="constrained")
        axes = figure.subplots()
        latencies = [p["latency_ms"] for p in points] + [budget_ms]
        if max(latencies) / min(latencies) > 20:  # sub-millisecond students beside slow ones
            axes.set_xscale("log")
            axes.set_xlim(min(latencies) / 1.6, max(latencies) * 1.6)
        else:  # set, not autoscaled: the rug and the budget line do not move the limits
            axes.set_xlim(0, max(latencies) * 1.1)
        front = sorted((p for p in distilled if p["on_front"]), key=lambda p: p["latency_ms"])
        if len(front) > 1:
            axes.step(
                [p["latency_ms"] for p in front],
                [p["val_top1"] for p in front],
                where="post",
                color="#9ab",
                linewidth=1,
                zorder=1,
                label="Pareto front",
            )
        styles = {
            "distilled": {"marker": "o", "color": "#1f77b4", "s": 30},
            "baseline": {"marker": "D", "color": "#2ca02c", "s": 45},
            "chosen": {"marker": "*", "color": "#d62728", "s": 180},
        }
        for status, style in styles.items():
            group = [p for p in distilled if p["status"] == status]
            if group:
                axes.scatter(
                    [p["latency_ms"] for p in group],
                    [p["val_top1"] for p in group],
                    zorder=3,
                    label=status,
                    **style,
                )
        for p in distilled:
            axes.annotate(
                f"{p['arch']} ({p['epochs']} ep)",
                (p["latency_ms"], p["val_top1"]),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=7,
            )
        if untrained:  # no val figure: a rug at the bottom, at their measured latency
            axes.scatter(
                [p["latency_ms"] for p in untrained],
                [0.03] * len(untrained),
                transform=axes.get_xaxis_transform(),
                marker="|",
                s=120,
                color="#888",
                zorder=2,
                label="timed, not distilled (over budget)",
            )
            for p in untrained:
                axes.annotate(
                    p["arch"],
                    (p["latency_ms"], 0.06),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    fontsize=6,
                    color="#666",
                    va="bottom",
                    ha="center",
                )
        if not distilled:
            axes.set_ylim(0, 100)
        axes.axvline(budget_ms, color="#d62728", linestyle="--", linewidth=1, label=f"budget {budget_ms:.4g} ms")
        axes.set_xlabel(x_label)
        axes.set_ylabel("val top-1 (%)")
        axes.set_title(title)
        axes.grid(True, linewidth=0.3)
        axes.legend(loc="best", fontsize=7)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def search_caption(search: Any) -> str:
    """One line on a search (a `StudentSearch` of the report): budget, chosen, ρ, cost."""
    parts = [f"budget {search.budget_ms:.4g} ms ({search.budget_statistic})"]
    parts.append(f"chosen {search.chosen}" if search.chosen else "no candidate within the budget")
    if search.baseline:
        parts.append(f"baseline {search.baseline}")
    if search.spearman_rho is not None:
        parts.append(f"FLOPs-vs-latency Spearman ρ {search.spearman_rho:.3f}")
    if search.search_vs_finalist_run is not None:
        parts.append(f"search cost {search.search_vs_finalist_run:.2f} × the finalist's full run")
    distilled = sum(p.val_top1 is not None for p in search.points)
    parts.append(f"{len(search.points)} candidates timed, {distilled} distilled")
    return f"Student search {search.source}: " + "; ".join(parts) + "."


def report_search_svg(search: Any) -> str:
    """The plot of a `StudentSearch` in the report (same figure as its students.svg)."""
    return search_plot_svg(
        [p.model_dump() for p in search.points],
        search.budget_ms,
        f"{search.budget_statistic} latency (ms)",
        f"Student search: val top-1 vs latency ({search.source})",
    )
