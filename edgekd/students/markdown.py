"""students.md (the candidates table, the halving, the FLOPs-vs-latency check) and pareto.svg
(val top-1 vs latency of the distilled candidates, with the budget line)."""

from __future__ import annotations

from typing import Any

from edgekd.report import pareto_front  # one definition of "not dominated", shared with the report
from edgekd.report.svg import Point, scatter_with_front
from edgekd.students.config import PERCENTILES


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def distilled_points(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Each timed candidate with a val figure: arch, latency (ms), val top-1 (%) of its longest
    run, epochs of that run, and whether it is on the Pareto front."""
    rows = [
        {
            "arch": c["arch"],
            "latency_ms": c["latency_ms"],
            "val_top1": c["rungs"][-1]["val_top1"],
            "epochs": c["rungs"][-1]["epochs"],
        }
        for c in payload["candidates"]
        if c["rungs"] and c["latency_ms"] is not None and c["rungs"][-1]["val_top1"] is not None
    ]
    for row, front in zip(rows, pareto_front([(r["latency_ms"], r["val_top1"]) for r in rows])):
        row["pareto"] = front
    return rows


def pareto_svg(payload: dict[str, Any]) -> str:
    """The Pareto plot as a self-contained SVG (an empty string when nothing was distilled)."""
    budget = payload["budget"]
    points = [
        Point(r["latency_ms"], r["val_top1"], f"{r['arch']} ({r['epochs']} ep)", highlight=r["pareto"])
        for r in distilled_points(payload)
    ]
    statistic = f"{budget['percentile']} latency at batch {budget['batch']}, {budget['target']} (ms)"
    return scatter_with_front(
        points,
        "val top-1 vs latency of the distilled candidates",
        statistic,
        "val top-1 (%)",
        x_line=(budget["ms"], f"budget {budget['ms']:.4g} ms"),
    )


def _latency_cell(candidate: dict[str, Any], statistic: str) -> str:
    cells = [f"{precision} {stats[statistic]:.3f}" for precision, stats in candidate["latency"].items()]
    return ", ".join(cells) or "–"


def render(payload: dict[str, Any]) -> str:
    """students.md."""
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
            f"Search wall time {payload['wall_time_s']:.0f} s, the finalist's full run "
            f"{_num(payload['finalist_run_wall_time_s'], 0)} s "
            f"(× {_num(payload['search_vs_finalist_run'])}; that run read the teacher's logits from the cache for "
            "the epochs the rungs had covered).",
        ]
    if payload.get("chosen"):
        lines += ["", "![val top-1 vs latency](pareto.svg)"]
    return "\n".join(lines) + "\n"
