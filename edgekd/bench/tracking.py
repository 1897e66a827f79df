"""`edgekd bench --track`: one parent run per bench, one child per training run it performs
(the teacher, each student recipe × seed, each sweep run).

A child holds the run's recipe (`describe()` of its config) as parameters, its epochs as
metrics, and its final figures: `final_test_top1` and, for a headline student, `gain_vs_alone`
(its test top-1 minus the student alone's of the same seed). A run reused from the work folder
still gets a child, tagged `edgekd.status=reused`, with its recorded final figures. The parent
ends with each recipe's mean, gain and the targets' counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from edgekd.engine import Progress, SilentProgress
from edgekd.engine.tracking import RunTree, TrackTarget, final_metrics, flatten, log_model
from edgekd.models import read_card


class BenchTracking:
    """The tracker side of `run_bench` (a no-op without targets)."""

    def __init__(self, targets: Sequence[TrackTarget], config: Mapping[str, Any], command: str):
        self.runs = RunTree(
            targets,
            f"bench {config['out']}",
            flatten({k: v for k, v in config.items() if k != "runs"}),
            {"edgekd.role": "bench", "edgekd.command": command},
        )

    def start(self, label: str, recipe: Mapping[str, Any], progress: Progress) -> Progress:
        """Open the child of a run about to train; returns the progress sink it trains with."""
        return self.runs.start(label, flatten(recipe), progress)

    def trained(self, label: str, weights: Path, extra: Mapping[str, float] | None = None) -> None:
        """A run that trained: its card and weights, its final figures, and `extra` ones."""
        if not self.runs:
            return
        card = read_card(weights)
        if card is not None:
            log_model(self.runs.child(label), card, weights)
        self.runs.finish(label, {"edgekd.status": "ran"}, extra, _epochs(card.training if card else {}))

    def reused(
        self,
        label: str,
        recipe: Mapping[str, Any],
        card: Mapping[str, Any],
        out_dir: Path,
        extra: Mapping[str, float] | None = None,
        status: str = "reused",
    ) -> None:
        """A finished run found in the work folder (or a `--teacher` given): its recipe and
        recorded figures, tagged with `status`."""
        if not self.runs:
            return
        self.runs.start(label, flatten(recipe), SilentProgress())
        tags = {
            "edgekd.status": status,
            "edgekd.out_dir": str(out_dir),
            "edgekd.role": card.get("role", ""),
            "edgekd.arch": card.get("arch", ""),
        }
        self.runs.finish(
            label,
            tags,
            {**final_metrics(card.get("metrics") or {}), **(extra or {})},
            _epochs(card.get("training") or {}),
        )

    def failed(self, label: str, error: BaseException) -> None:
        self.runs.finish(label, {"edgekd.status": "failed", "edgekd.error": str(error)}, status="FAILED")

    def end(self, result: Mapping[str, Any] | None = None, status: str = "FINISHED") -> None:
        """End the bench's run; with its result, log the headline figures on the parent."""
        if self.runs and result is not None:
            figures = {"teacher_test_top1": result["teacher"]["test_top1"], "wall_time_s": result["wall_time_s"]}
            for name, summary in result["students"].items():
                stats = summary["stats"]
                figures[f"{name}.test_top1_mean"] = stats["mean"]
                if summary["method"] != "none":
                    figures.update(
                        {
                            f"{name}.gain_vs_alone_mean": stats["gain_mean"],
                            f"{name}.gain_vs_alone_std": stats["gain_std"],
                        }
                    )
            for status_name in ("PASS", "MISS"):
                figures[f"targets_{status_name.lower()}"] = sum(t["status"] == status_name for t in result["targets"])
            self.runs.parent.log_metrics(figures, 0)
        self.runs.end(status)


def _epochs(training: Mapping[str, Any]) -> int:
    return int(training.get("epochs") or 0)
