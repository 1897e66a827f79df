"""The shared training loop: learns, resumes exactly, stops on a non-finite loss, keeps best."""

from __future__ import annotations

import json

import pytest
import torch

from edgekd.data import InputSpec, ModelInput, load_dataset
from edgekd.engine import ClassificationTask, OptimConfig, TrainConfig, Trainer
from edgekd.engine.progress import SilentProgress
from edgekd.errors import ConfigError, TrainingError
from edgekd.models import create_model

SPEC = InputSpec(16, 3, (0.3,), (0.37,))


def _task(seed=0):
    torch.manual_seed(seed)
    spec = InputSpec(16, 3, (0.3,) * 3, (0.37,) * 3)
    return ClassificationTask(create_model("resnet10t", 10), ModelInput(spec))


def _config(**overrides):
    base = dict(epochs=2, batch_size=64, optim=OptimConfig(lr=0.05), seed=0)
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", val_size=0.1)


def test_training_learns_digits_and_writes_metrics(digits, tmp_path):
    result = Trainer(_config(epochs=3), torch.device("cpu"), run_dir=tmp_path).fit(_task(), digits)
    assert result.test.top1() > 80.0  # chance is 10 %
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert {"train_loss", "train_ce", "val_top1", "img_per_s", "lr"} <= set(lines[0])
    assert lines[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # cosine ends at zero


class _StopAtEpoch(SilentProgress):
    """Simulates Ctrl-C when epoch `n` starts."""

    def __init__(self, n):
        self.n = n

    def start(self, description, total):
        if description.startswith(f"epoch {self.n}/"):
            raise KeyboardInterrupt


def test_interrupted_run_resumes_to_the_same_weights(digits, tmp_path):
    straight = _task()
    Trainer(_config(), torch.device("cpu"), run_dir=tmp_path / "a", config_key="k").fit(straight, digits)

    interrupted = _task()
    with pytest.raises(KeyboardInterrupt):
        Trainer(_config(), torch.device("cpu"), run_dir=tmp_path / "b", progress=_StopAtEpoch(2), config_key="k").fit(
            interrupted, digits
        )
    resumed = _task(seed=123)  # different init: everything must come from the checkpoint
    result = Trainer(_config(), torch.device("cpu"), run_dir=tmp_path / "b", config_key="k").fit(
        resumed, digits, resume=True
    )
    assert [r["epoch"] for r in result.history] == [1, 2]
    for a, b in zip(straight.student.state_dict().values(), resumed.student.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)


def test_resume_refuses_a_checkpoint_of_another_recipe(digits, tmp_path):
    Trainer(_config(epochs=1), torch.device("cpu"), run_dir=tmp_path, config_key="recipe-a").fit(_task(), digits)
    with pytest.raises(ConfigError, match="another model, recipe or dataset"):
        Trainer(_config(epochs=2), torch.device("cpu"), run_dir=tmp_path, config_key="recipe-b").fit(
            _task(), digits, resume=True
        )


class _NanAfterFirstEpoch(ClassificationTask):
    def forward(self, pixels, batch):
        out = super().forward(pixels, batch)
        if self.epoch >= 1:
            out["loss"] = out["loss"] * float("nan")
        return out

    def start_epoch(self, epoch):
        self.epoch = epoch


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    torch.manual_seed(0)
    task = _NanAfterFirstEpoch(create_model("resnet10t", 10), ModelInput(InputSpec(16, 3, (0.3,) * 3, (0.37,) * 3)))
    with pytest.raises(TrainingError, match="last good checkpoint"):
        Trainer(_config(), torch.device("cpu"), run_dir=tmp_path).fit(task, digits)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["modules"]["student"].values() if v.is_floating_point())


def test_keep_best_and_ema_produce_a_working_model(digits):
    result = Trainer(_config(epochs=2, keep="best", ema_decay=0.9), torch.device("cpu")).fit(_task(), digits)
    assert result.kept_epoch == result.best_epoch
    assert result.val.top1() > 30.0


def test_bad_recipe_values_are_refused():
    with pytest.raises(ConfigError, match="--epochs"):
        Trainer(_config(epochs=0), torch.device("cpu"))
    with pytest.raises(ConfigError, match="--keep"):
        Trainer(_config(keep="first"), torch.device("cpu"))


class _CountingTrainer(Trainer):
    """A real Trainer that notes which split each prediction pass is over."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.predicted: list[str] = []

    def _predict(self, model, task, dataset, split):
        self.predicted.append(split)
        return super()._predict(model, task, dataset, split)


def test_the_result_reuses_the_last_epochs_val_predictions_of_the_kept_weights(digits):
    trainer = _CountingTrainer(_config(epochs=2), torch.device("cpu"))
    task = _task()
    result = trainer.fit(task, digits)
    assert trainer.predicted == ["val", "val", "test"]  # once per epoch, not once more at the end
    fresh = trainer._predict(task.student, task, digits, "val")
    assert torch.equal(result.val.logits, fresh.logits) and result.val.top1() == result.history[-1]["val_top1"]


def _lrs(config: OptimConfig, total_steps: int, steps_per_epoch: int, restarts=()) -> list[float]:
    """The lr of each step of a run under `build_scheduler`."""
    from edgekd.engine import build_scheduler

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
    scheduler = build_scheduler(
        optimizer, config, total_steps=total_steps, steps_per_epoch=steps_per_epoch, restarts=restarts
    )
    seen = []
    for _ in range(total_steps):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


def test_warm_up_ramps_to_the_peak_then_cosine_decays():
    lrs = _lrs(OptimConfig(lr=1.0, warmup_epochs=1), total_steps=40, steps_per_epoch=10)
    assert lrs[:10] == pytest.approx([0.1 * (i + 1) for i in range(10)])
    assert lrs[10] == pytest.approx(1.0) and lrs[39] < 0.01
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_a_warm_up_as_long_as_the_run_is_cut_to_half_of_it_so_the_lr_still_decays():
    # distill's default is one warm-up epoch: a 1-epoch run must not be all ramp and end at the peak.
    lrs = _lrs(OptimConfig(lr=1.0, warmup_epochs=1), total_steps=10, steps_per_epoch=10)
    assert lrs[:5] == pytest.approx([0.2 * (i + 1) for i in range(5)])
    assert lrs[5] == pytest.approx(1.0) and lrs[9] < 0.2


def test_a_schedule_restart_starts_warm_up_and_cosine_over_for_the_next_segment():
    def lrs(restarts):
        return _lrs(OptimConfig(lr=1.0, warmup_epochs=1), total_steps=40, steps_per_epoch=10, restarts=restarts)

    shared, restarted = lrs(()), lrs((1,))
    assert shared[10] == pytest.approx(1.0) and shared[20] < 0.8  # one cosine over the 4 epochs
    assert restarted[:10] == pytest.approx([0.1 * (i + 1) for i in range(10)])  # stage 1 is its warm-up only
    assert restarted[10:20] == pytest.approx([0.1 * (i + 1) for i in range(10)])  # stage 2 warms up again
    assert restarted[20] == pytest.approx(1.0) and restarted[20] > shared[20]  # then its own cosine
    assert restarted[39] < 0.01
