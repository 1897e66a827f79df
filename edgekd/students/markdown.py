"""students.md (the candidates table, the halving, the FLOPs-vs-latency check) and students.svg
(val top-1 vs latency of every timed candidate, with the budget line and the chosen one)."""

from __future__ import annotations

from typing import Any

from edgekd.report import pareto_front  # one definition of "not dominated", shared with the report
from edgekd.report.search_plot import search_plot_svg, search_points
from edgekd.students.config import PERCENTILES


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def plot_axis_label(budget: dict[str, Any]) -> str:
    return f"{budget['percentile']} latency at batch {budget['batch']}, {budget['target']} (ms)"


def students_svg(payload: dict[str, Any]) -> str:
    """students.svg: val top-1 vs measured latency of every timed candidate, the budget line and
    the chosen one marked (matplotlib; see `edgekd.report.search_plot`)."""
    budget = payload["budget"]
    return search_plot_svg(
        search_points(payload, pareto_front),
        budget["ms"],
        plot_axis_label(budget),
        "edgekd students: val top-1 vs latency",
    )


def _latency_cell(candidate: dict[str, Any], statistic: str) -> str:
    cells = [f"{precision} {stats[statistic]:.3f}" for precision, stats in candidate["latency"].items()]
    return ", ".join(cells) or "–"


def render(payload: dict[str, Any], plotted: bool = True) -> str:
    """students.md (`plotted`: students.svg was written beside it)."""
    budget, config = payload["budget"], payload["config"]
    statistic = PERCENTILES[budget["percentile"]]
    lines = [
        "# edgekd students",
        "",
        f"Budget: **{budget['ms']:.4g} ms** {budget['percentile']} at batch {budget['batch']} on `{budget['target']}`; "
        f"teacher `{config['teacher']}`, data `{config['data']['spec']}` at {payload['img_size']} px, full "
        f"schedule {config['epochs']} epochs "
        f"(the shipped `edgekd distill` recipe). Machine: {payload['machine']['cpu']}, "
        f"{payload['machine']['threads']} threads.",
        "",
    ]
    teacher = payload.get("teacher_latency")
    if teacher:
        lines += [
            f"The budget is {budget['vs_teacher']:g} × the teacher's own latency ({teacher['arch']}, "
            f"{teacher['latency_ms']:.3f} ms {teacher['precision']}), timed in this run.",
            "",
        ]
    chosen = payload.get("chosen")
    if chosen:
        lines += [
            f"**Chosen: `{chosen['arch']}`**, {chosen['latency_ms']:.3f} ms ({chosen['precision']}), val top-1 "
            f"{_num(chosen['val_top1'])} %, "
            f"test top-1 {_num(chosen['test_top1'])} %; run directory `{chosen['run_dir']}` (a normal distill "
            f"output: `edgekd export {chosen['run_dir']}`).",
            "",
        ]
        baseline = payload.get("baseline")
        if baseline and baseline["arch"] != chosen["arch"]:
            lines += [
                f"Baseline `{baseline['arch']}` with the same recipe: {_num(baseline['latency_ms'], 3)} ms, val "
                f"top-1 {_num(baseline['val_top1'])} %, test top-1 {_num(baseline['test_top1'])} %.",
                "",
            ]
    else:
        lines += ["**No candidate within the budget.**", ""]
    lines += [
        "| candidate | params (M) | MFLOPs | latency ms (per precision) | val top-1 by rung (%) | test top-1 (%) "
        "| decision |",
        "|---|---:|---:|---|---|---:|---|",
    ]
    for c in payload["candidates"]:
        rungs = ", ".join(f"{r['epochs']} ep: {_num(r['val_top1'])}" for r in c["rungs"]) or "–"
        test = _num(c["rungs"][-1]["test_top1"]) if c["rungs"] else "–"
        params = "–" if c["params"] is None else f"{c['params'] / 1e6:.2f}"
        name = c["arch"] + (" (re-param.)" if c["reparameterized"] else "")
        lines.append(
            f"| {name} | {params} | {_num(c['mflops'])} | {_latency_cell(c, statistic)} | {rungs} | {test} | "
            f"{c['decision']} |"
        )
    check = payload["flops_vs_latency"]
    top = [k for k in check if k.startswith("top")]
    lines += [
        "",
        "## FLOPs vs measured latency",
        "",
        f"Spearman ρ between MFLOPs and measured latency over {check['candidates']} candidates: "
        f"**{_num(check['spearman_rho'], 3)}** (p = {_num(check['p_value'], 4)}).",
        "",
    ]
    lines += [f"- {key.replace('_', ' ')}: {', '.join(check[key])}" for key in top]
    passes = payload.get("teacher_forward")
    if passes:
        lines += [
            "",
            "## Cost",
            "",
            f"Teacher forward passes: **{passes['views_computed']} views** ({passes['training_views_computed']} "
            f"training epochs + {passes['eval_views_computed']} eval splits; "
            f"distinct views {passes['distinct_views']}) for {passes['runs']} distill runs; "
            f"{passes['training_batches']} training batches ({passes['batches_per_epoch']} per epoch).",
            f"Search wall time {_num(payload.get('search_wall_time_s') or payload['wall_time_s'], 1)} s "
            f"(without the baseline), the finalist's full run {_num(payload['finalist_run_wall_time_s'], 1)} s: "
            f"**{_num(payload['search_vs_finalist_run'])} ×** (that run read the teacher's logits from the cache "
            "for the epochs the rungs had covered; the short rungs were scored on val only).",
        ]
    if plotted:
        lines += ["", "![val top-1 vs latency](students.svg)"]
    return "\n".join(lines) + "\n"
