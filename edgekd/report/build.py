"""Report stage: join artefacts, eval.json and profile.json files into report.json/.md/.html.

Everything is joined on the artefact's sha256, so the files may sit in any of the given
directories. The Markdown and HTML are rendered from the validated `Report` alone, with the
same number formatting, so the three files always show the same figures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekd.artifacts import atomic_write_text, provenance, write_json
from edgekd.engine import Progress, SilentProgress
from edgekd.errors import ConfigError
from edgekd.locks import folder_lock
from edgekd.models import resolve_model_path
from edgekd.report.comparison import accuracy_latency_front, compare_with_teacher, pareto_front
from edgekd.report.gain import distillation_rows
from edgekd.report.int8 import int8_vs_fp32
from edgekd.report.model_rows import (
    accuracy_entry,
    deploy_target,
    latency_entries,
    model_role,
    params_and_flops,
    pick_eval,
    relative_path,
)
from edgekd.report.schema import (
    REPORT_SCHEMA,
    Curve,
    ModelEntry,
    Report,
    SearchPoint,
    StudentSearch,
)
from edgekd.report.search_plot import search_points
from edgekd.report.sources import Sources, collect, read_artefact, read_curve


@dataclass(frozen=True)
class ReportConfig:
    """Options of the report stage.

    Attributes:
        inputs: run directories (searched recursively) or single files.
        out_dir: where report.json, report.md and report.html go.
        teacher: the teacher artefact (or its run directory); None takes the model whose
            card says role "teacher".
        title: heading of the Markdown/HTML report.
        batch: batch size of the speed-up column and the Pareto plot; None: 1 when profiled,
            else the smallest profiled.
        split: which eval split to report when several were scored (default test).
    """

    inputs: tuple[Path, ...]
    out_dir: Path
    teacher: Path | None = None
    title: str = "edgekd report"
    batch: int | None = None
    split: str = "test"

    def validate(self) -> ReportConfig:
        """Check the options once; returns self."""
        if not self.inputs:
            raise ConfigError("give at least one run directory (or eval.json/profile.json/artefact file) to report on.")
        return self

    def describe(self) -> dict[str, Any]:
        return {
            "inputs": [str(p) for p in self.inputs],
            "out_dir": str(self.out_dir),
            "teacher": None if self.teacher is None else str(self.teacher),
            "title": self.title,
            "batch": self.batch,
            "split": self.split,
        }


@dataclass
class ReportResult:
    report: Report
    json_path: Path
    markdown_path: Path
    html_path: Path


def unique_names(records: list[dict[str, Any]]) -> dict[str, str]:
    """sha256 → display name: the file name; when several files share it, every one of them is
    prefixed by its folder (`kd-s0/student.safetensors`, `kd-s1/…`: none is the plain name, so
    the first one found is not mistaken for the only one), then a short hash if still taken."""
    taken = Counter(Path(record["path"]).name for record in records)
    names: dict[str, str] = {}
    for record in records:
        path = Path(record["path"])
        name = path.name if taken[path.name] == 1 else f"{path.parent.name}/{path.name}"
        if name in names.values():
            name = f"{name}@{record['sha256'][:8]}"
        names[record["sha256"]] = name
    return names


def _given_teacher(teacher: Path) -> dict[str, Any]:
    """The artefact record of `--teacher` (a file, or a run directory's teacher weights)."""
    path = resolve_model_path(teacher, ("teacher",)) if Path(teacher).is_dir() else Path(teacher)
    if not path.exists():
        raise ConfigError(f"--teacher not found: {path}.")
    record = read_artefact(path)
    if record is None:
        raise ConfigError(f"--teacher {path} has no edgekd metadata (model card).")
    return record


def _curves(sources: Sources, records: dict[str, dict[str, Any]], names: dict[str, str], out_dir: Path) -> list[Curve]:
    """Training logs, named after the artefact saved beside them (else their folder)."""
    curves = []
    for path in sources.curves:
        beside = [names[sha] for sha, r in records.items() if Path(r["path"]).parent == path.parent.resolve()]
        curves.append(
            Curve(
                name=beside[0] if beside else path.parent.name,
                path=relative_path(path, out_dir),
                epochs=read_curve(path),
            )
        )
    return curves


def _searches(sources: Sources, out_dir: Path, notes: list[str]) -> list[StudentSearch]:
    """Each students.json found, as its plot's points; a file the students schema refuses is noted."""
    from edgekd.students.schema import load_students  # lazy: edgekd.students imports the report

    searches = []
    for path in sources.searches:
        try:
            payload = load_students(path).model_dump(mode="json", by_alias=True)
        except ConfigError as exc:
            notes.append(f"skipped {path}: {exc}")
            continue
        budget, plot = payload["budget"], path.parent / "students.svg"
        searches.append(
            StudentSearch(
                source=relative_path(path, out_dir),
                budget_ms=budget["ms"],
                budget_statistic=f"{budget['percentile']} at batch {budget['batch']} on {budget['target']}",
                chosen=(payload.get("chosen") or {}).get("arch"),
                baseline=(payload.get("baseline") or {}).get("arch"),
                spearman_rho=payload["flops_vs_latency"]["spearman_rho"],
                search_vs_finalist_run=payload.get("search_vs_finalist_run"),
                plot=relative_path(plot, out_dir) if plot.is_file() else None,
                points=[SearchPoint(**p) for p in search_points(payload, pareto_front)],
            )
        )
    return searches


def assemble(sources: Sources, config: ReportConfig) -> Report:
    """Build the `Report` from collected sources (no files written)."""
    out_dir = Path(config.out_dir)
    records = dict(sources.artefacts)
    for _, payload in sources.evals + sources.profiles:
        records.setdefault(payload["artefact"]["sha256"], payload["artefact"])
    teacher_sha = None
    if config.teacher is not None:
        teacher_record = _given_teacher(config.teacher)
        teacher_sha = teacher_record["sha256"]
        records.setdefault(teacher_sha, teacher_record)
    names = unique_names(list(records.values()))
    evals_by_sha: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    for path, payload in sources.evals:
        evals_by_sha.setdefault(payload["artefact"]["sha256"], []).append((path, payload))
    chosen_evals = {sha: pick_eval(found, config.split) for sha, found in evals_by_sha.items()}
    if teacher_sha is None:  # the card's role, preferring a PyTorch teacher that was evaluated
        teachers = [sha for sha, r in records.items() if r.get("role") == "teacher"]
        teachers.sort(key=lambda sha: (records[sha]["format"] != "torch", sha not in chosen_evals))
        teacher_sha = teachers[0] if teachers else None
    teacher_pick = chosen_evals.get(teacher_sha) if teacher_sha is not None else None
    teacher_eval = teacher_pick[1] if teacher_pick is not None else None

    cost_cache: dict[tuple[Any, ...], tuple[int | None, float | None]] = {}
    models = []
    for sha, record in records.items():
        latency = [
            entry
            for path, payload in sources.profiles
            if payload["artefact"]["sha256"] == sha
            for entry in latency_entries(path, payload, out_dir)
        ]
        latency.sort(key=lambda e: (e.machine, e.device, e.backend, e.threads or 0, e.batch))
        params, flops = params_and_flops(record, cost_cache)
        input_size = (record.get("input") or {}).get("input_size")
        models.append(
            ModelEntry(
                name=names[sha],
                role=model_role(record, teacher_sha),
                format=record["format"],
                precision=record.get("precision", "fp32"),
                target=deploy_target(record, latency),
                path=record["path"],
                sha256=sha,
                arch=record.get("arch"),
                input_size=input_size[1] if input_size else None,
                params=params,
                flops=flops,
                size_bytes=record.get("size_bytes"),
                accuracy=accuracy_entry(sha, chosen_evals.get(sha), teacher_sha, teacher_eval, out_dir),
                latency=latency,
            )
        )
    order = {"teacher": 0, "student": 1, "artefact": 2}
    models.sort(key=lambda m: (order[m.role], m.name))
    batches = sorted({e.batch for m in models for e in m.latency})
    batch = config.batch if config.batch is not None else (1 if 1 in batches else (batches[0] if batches else None))
    teacher = next((m for m in models if m.sha256 == teacher_sha), None)
    machines: dict[str, dict[str, Any]] = {}
    for _, payload in sources.profiles:
        machines.setdefault(
            payload["machine"], {k: v for k, v in payload.get("system", {}).items() if k != "fingerprint"}
        )
    any_eval = teacher_eval or next((p for _, p in filter(None, chosen_evals.values())), None)
    notes = list(sources.notes)
    if teacher is None:
        notes.append("no teacher found: pass --teacher to get the student-vs-teacher table")
    run_facts = provenance(config.describe())
    distillation, over_seeds = distillation_rows(
        [(names[sha], record["distillation"]) for sha, record in records.items() if record.get("distillation")]
    )
    return Report(
        schema_=REPORT_SCHEMA,
        created=run_facts["created"],
        title=config.title,
        system={"fingerprints": sorted(machines), "machines": machines},
        class_names=next((r.get("class_names") for r in records.values() if r.get("class_names")), []),
        dataset={k: any_eval["data"].get(k) for k in ("spec", "split", "fingerprint", "count")} if any_eval else None,
        teacher=teacher.name if teacher else None,
        reference_batch=batch,
        latency_definition=next((p.get("latency_definition") for _, p in sources.profiles), None),
        models=models,
        comparisons=[
            compare_with_teacher(m, teacher, batch) for m in models if teacher is not None and m is not teacher
        ],
        int8_vs_fp32=int8_vs_fp32(records, models, chosen_evals, batch),
        pareto=accuracy_latency_front(models, batch),
        curves=_curves(sources, records, names, out_dir),
        student_searches=_searches(sources, out_dir, notes),
        distillation=distillation,
        distillation_over_seeds=over_seeds,
        sources=sources.files(),
        notes=notes,
        provenance=run_facts,
    )


def run(config: ReportConfig, progress: Progress | None = None) -> ReportResult:
    """Collect, assemble and write `report.json`, `report.md` and `report.html` in `config.out_dir`."""
    from edgekd.report.html import render_html
    from edgekd.report.markdown import render_markdown

    config = config.validate()
    progress = progress or SilentProgress()
    out_dir = Path(config.out_dir)
    with folder_lock(out_dir, log=progress.log):
        sources = collect([Path(p) for p in config.inputs])
        progress.log(
            f"found {len(sources.artefacts)} artefacts, {len(sources.evals)} eval.json, {len(sources.profiles)} "
            f"profile.json, {len(sources.curves)} training logs"
        )
        report = assemble(sources, config)
        json_path, md_path, html_path = out_dir / "report.json", out_dir / "report.md", out_dir / "report.html"
        write_json(json_path, report.to_json_dict())
        atomic_write_text(md_path, render_markdown(report))
        atomic_write_text(html_path, render_html(report))
    return ReportResult(report, json_path, md_path, html_path)


build_report = run  # the former name, kept for the notebooks and tests that call it
