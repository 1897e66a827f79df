"""Finding what a report is made of: artefacts, eval.json, profile.json and metrics.jsonl files.

Artefacts are described from their own metadata (the model card beside a `.safetensors`, the
`edgekd` metadata inside an `.onnx`, the JSON sidecar of a TensorRT plan) without running
them, so a report can be built on a machine that could not run a plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekd.artifacts import read_json, sha256_file
from edgekd.errors import ConfigError, ModelError
from edgekd.models import read_card
from edgekd.records import EVAL_SCHEMA, PROFILE_SCHEMA
from edgekd.runtime import artefact_format
from edgekd.runtime.ort_backend import read_onnx_file_metadata
from edgekd.runtime.trt_env import read_sidecar
from edgekd.schemas import EvalFile, ProfileFile, validated

ARTEFACT_SUFFIXES = (".safetensors", ".onnx", ".engine", ".plan")
QAD_PRECISION = "int8-qad"  # the precision column of a QAD student's INT8 (PTQ's reads `int8`)


@dataclass
class Sources:
    """Files found under the report's inputs. Eval/profile payloads are kept with their paths."""

    artefacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256 → artefact record
    evals: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    profiles: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    curves: list[Path] = field(default_factory=list)
    searches: list[Path] = field(default_factory=list)  # students.json of `edgekd students` searches
    notes: list[str] = field(default_factory=list)

    def files(self) -> list[str]:
        paths = (
            [r["path"] for r in self.artefacts.values()]
            + [str(p) for p, _ in self.evals + self.profiles]
            + [str(p) for p in self.curves + self.searches]
        )
        return sorted(set(paths))


def read_artefact(path: Path) -> dict[str, Any] | None:
    """An artefact record (as in eval.json's `artefact`) from the file's own metadata.

    Returns None for a bare checkpoint (no card).

    Raises:
        ModelError: an ONNX without edgekd metadata, a plan without its sidecar, a damaged file.
    """
    kind = artefact_format(path)
    export: dict[str, Any] | None = None
    if kind == "torch":
        card = read_card(path)
        if card is None:
            return None
        card_dict, precision = card.to_dict(), "fp32"
    else:
        # The runtime's own readers: the ONNX `edgekd` metadata entry, the plan's `<plan>.json` sidecar.
        metadata = read_onnx_file_metadata(path) if kind == "onnx" else read_sidecar(path)
        card_dict, precision = metadata["card"], metadata.get("precision", "fp32")
        export = {k: v for k, v in metadata.items() if k != "card"}
        if precision == "int8" and export.get(
            "qad_from"
        ):  # ranges learned in QAD (edgekd.export.qdq), not calibrated after
            precision = QAD_PRECISION
    input_size = (card_dict.get("input") or {}).get("input_size")
    distilled = distillation_facts(card_dict) if kind == "torch" else None
    return {
        "name": path.name,
        "path": str(path.resolve()),
        "format": kind,
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "role": card_dict.get("role", "teacher"),
        "arch": card_dict.get("arch"),
        "num_classes": card_dict.get("num_classes"),
        "class_names": card_dict.get("class_names") or [],
        "input": card_dict.get("input"),
        "input_size": input_size,
        "precision": precision,
        "export": export,
        "distillation": distilled,
    }


def _versus_ensemble(ensemble: dict[str, Any], index: int) -> dict[str, Any]:
    """The ensemble-vs-member paired counts of member `index`, when the card has them."""
    members = ensemble.get("members") or []
    paired = members[index].get("test_vs_ensemble") if index < len(members) else None
    return dict(paired) if paired else {}


def distillation_facts(card: dict[str, Any]) -> dict[str, Any] | None:
    """A student card's teachers, ensemble and never-seen classes (None for other cards)."""
    training, metrics = card.get("training") or {}, card.get("metrics") or {}
    teachers = training.get("teachers") or []
    if card.get("role") != "student" or not teachers:
        return None
    ensemble = metrics.get("ensemble") or {}
    unseen = [row for row in metrics.get("per_class") or [] if row.get("seen") is False]
    return {
        "method": training.get("method"),
        "teachers": [
            {"arch": t.get("arch"), "top1": t.get("top1"), **_versus_ensemble(ensemble, i)}
            for i, t in enumerate(teachers)
        ],
        "ensemble_rule": ensemble.get("rule"),
        "ensemble_top1": ensemble.get("top1"),
        "student_top1": (metrics.get("test") or {}).get("top1"),
        "unseen_classes": [
            {
                "name": r["class"],
                "top1": r.get("test"),
                "top1_before_bias_adjust": r.get("test_before_bias_adjust", r.get("test")),
            }
            for r in unseen
        ],
        "seed": (card.get("provenance") or {}).get("seed"),
        "recipe": recipe_key(card),
        "recipe_over_seeds": recipe_over_seeds(card),
    }


def recipe_key(card: dict[str, Any]) -> tuple[Any, ...]:
    """What a distilled student and its student-alone twin share: arch, data and seed (not the method)."""
    return (
        card.get("arch"),
        (card.get("dataset") or {}).get("fingerprint"),
        (card.get("provenance") or {}).get("seed"),
    )


# Config keys that say where a run went, not how it trained: two seeds of one recipe differ in them.
_RUN_PLACE_KEYS = ("out_dir", "resume", "from_run", "device", "teacher_cache")


def recipe_over_seeds(card: dict[str, Any]) -> str:
    """What the seeds of one recipe share: arch, data and the whole distill config except the
    seed and where the run was written (so two lrs, or two temperatures, never pool)."""
    config = dict((card.get("provenance") or {}).get("config") or {})
    for key in _RUN_PLACE_KEYS:
        config.pop(key, None)
    config["train"] = {k: v for k, v in (config.get("train") or {}).items() if k != "seed"}
    data = (card.get("dataset") or {}).get("fingerprint")
    return json.dumps([card.get("arch"), data, config], sort_keys=True, default=str)


def _walk(root: Path) -> list[Path]:
    """The files under `root`, less hidden ones and those in hidden folders: temporaries and a
    running (or killed) export's work folder hold files that were never published."""
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def collect(inputs: list[Path]) -> Sources:
    """Scan files and folders (recursively) for everything a report can use.

    Raises:
        ConfigError: an input that does not exist, or inputs holding nothing usable.
    """
    sources = Sources()
    for root in inputs:
        if not root.exists():
            raise ConfigError(f"report input not found: {root}.")
        for path in _walk(root):
            if path.suffix in ARTEFACT_SUFFIXES:
                try:
                    record = read_artefact(path)
                except ModelError as exc:  # a foreign or damaged file among the runs: say so, go on
                    sources.notes.append(f"skipped {path}: {exc}")
                    continue
                if record is None:
                    sources.notes.append(f"skipped {path}: no model card beside it")
                else:
                    sources.artefacts.setdefault(record["sha256"], record)
            elif path.name == "metrics.jsonl":
                sources.curves.append(path)
            elif path.name == "students.json":
                sources.searches.append(path)
            elif path.name.endswith(("eval.json", "profile.json")):
                _add_result(sources, path)
    if not (sources.artefacts or sources.evals or sources.profiles or sources.searches):
        raise ConfigError(
            f"nothing to report in {', '.join(map(str, inputs))}: no edgekd artefacts, eval.json or profile.json "
            "(run 'edgekd eval' and 'edgekd profile' first)."
        )
    return sources


def _add_result(sources: Sources, path: Path) -> None:
    try:
        payload = read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}.") from exc
    schema = payload.get("schema") if isinstance(payload, dict) else None
    if schema == EVAL_SCHEMA:  # validated: build.py reads their fields
        sources.evals.append((path, validated(EvalFile, payload, path, ConfigError).to_json_dict()))
    elif schema == PROFILE_SCHEMA:
        sources.profiles.append((path, validated(ProfileFile, payload, path, ConfigError).to_json_dict()))
    else:
        sources.notes.append(f"skipped {path}: schema {schema!r} is neither {EVAL_SCHEMA} nor {PROFILE_SCHEMA}")


def read_curve(path: Path) -> list[dict[str, Any]]:
    """The per-epoch records of a metrics.jsonl (lines that are not JSON objects are skipped)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
