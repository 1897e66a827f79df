"""Training, data and teacher options are declared once on their config dataclasses; the flags,
the pipeline keys, the converter and the validation are derived from the declarations."""

from __future__ import annotations

import textwrap

import pytest
import typer

from edgekd.data import DataConfig
from edgekd.distill.config import DEFAULT_TRAIN, DistillConfig
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.errors import ConfigError
from edgekd.options import check_options, options_of, values_of, with_values
from edgekd.pipeline import load_pipeline
from edgekd.teacher import TeacherConfig


def _params(*command: str) -> dict:
    from edgekd.cli import app

    group = typer.main.get_command(app)
    for name in command:
        group = group.commands[name]
    return {p.name: p for p in group.params}


def test_every_declared_option_is_a_flag_with_the_configs_default_and_help():
    teacher, distill = _params("teacher", "train"), _params("distill")
    for option in options_of(DataConfig) + options_of(TrainConfig) + options_of(TeacherConfig):
        for params, recipe in ((teacher, TrainConfig()), (distill, DEFAULT_TRAIN)):
            assert params[option.name].opts[0] == option.flag and params[option.name].help == option.help
            assert params[option.name].default == values_of(recipe).get(option.name, option.default)
    assert teacher["spec"].opts == ["--data"] and teacher["flip"].secondary_opts == ["--no-flip"]
    assert teacher["lr"].default == 0.1 and distill["lr"].default == DEFAULT_TRAIN.optim.lr == 0.05
    # distill warms the lr up for one epoch (docs/benchmark.md); the teacher stage does not.
    assert teacher["warmup_epochs"].default == 0.0 and distill["warmup_epochs"].default == 1.0


def test_the_python_api_trains_with_the_same_recipe_as_the_cli(tmp_path):
    # A DistillConfig left at its defaults must not fall back to the teacher stage's recipe.
    assert DistillConfig(student="resnet10t", out_dir=tmp_path).train == DEFAULT_TRAIN
    assert TeacherConfig(arch="resnet18", out_dir=tmp_path).train == TrainConfig()


def test_pipeline_keys_have_the_configs_defaults_and_ranges(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: demo\nteacher: {arch: resnet10t}\ndistill: {student: test_resnet}\n")
    pipeline = load_pipeline(path)
    assert pipeline.data.to_config() == DataConfig()
    assert pipeline.teacher.train_config() == TrainConfig()
    assert pipeline.distill.train_config(seed=3) == with_values(DEFAULT_TRAIN, {"seed": 3})
    for key, value in {"epochs": 0, "batch_size": 1, "lr": 0, "ema_decay": 1.0, "keep": "first"}.items():
        with pytest.raises(ConfigError):  # refused by the config's own check ...
            check_options(with_values(TrainConfig(), {key: value}))
        path.write_text(
            textwrap.dedent(f"""
            name: demo
            teacher: {{arch: resnet10t, {key}: {value!r}}}
        """)
        )
        with pytest.raises(ConfigError, match=f":3: 'teacher.{key}'"):  # ... and by the pipeline's, at its line
            load_pipeline(path)


def test_flat_values_set_the_nested_fields():
    config = with_values(TrainConfig(), {"epochs": 3, "lr": 0.2, "opt": "adamw", "flip": False})
    assert config.epochs == 3 and config.optim == OptimConfig(name="adamw", lr=0.2)
    assert config.augment.horizontal_flip is False and config.augment.crop_padding == 4
    assert values_of(config)["lr"] == 0.2 and set(values_of(config)) == {o.name for o in options_of(TrainConfig)}


def test_a_bad_value_is_one_line_naming_the_flag_and_what_is_allowed(run_cli, tmp_path):
    with pytest.raises(ConfigError, match=r"--epochs must be >= 1, got 0\."):
        TrainConfig(epochs=0).validate()
    with pytest.raises(ConfigError, match=r"unknown --amp 'fp8': use auto, off, bf16 or fp16\."):
        TrainConfig(amp="fp8").validate()
    with pytest.raises(ConfigError, match=r"--ema-decay must be in \(0, 1\), got 1\."):
        TrainConfig(ema_decay=1.0).validate()
    result = run_cli("teacher", "train", "resnet10t", "--data", "digits", "--momentum=-1", "--out", tmp_path)
    assert result.code == 2 and "--momentum must be >= 0, got -1" in result.stderr
    assert "Traceback" not in result.stderr


def test_distill_options_are_its_flags_and_its_sections_keys(tmp_path):
    from edgekd.distill import DistillConfig

    distill = _params("distill")
    for option in options_of(DistillConfig):
        assert distill[option.name].opts[0] == option.flag and distill[option.name].help == option.help
        assert distill[option.name].default == option.default
    path = tmp_path / "p.yaml"
    path.write_text("name: demo\nteacher: {arch: resnet10t}\ndistill: {student: test_resnet}\n")
    section = load_pipeline(path).distill
    assert section.model_options() == {
        o.name: o.default
        for o in options_of(DistillConfig)
        if o.name not in ("ensemble", "teacher_arch", "teacher_img_size")
    }
    for key, value in {"mix": "blend", "mix_alpha": 0, "transfer_ratio": 1.5, "limit_transfer": 0}.items():
        with pytest.raises(ConfigError, match=f"--{key.replace('_', '-')}"):  # refused by the config's own check ...
            check_options(DistillConfig("test_resnet", tmp_path, **{key: value}))
        path.write_text(
            f"name: demo\nteacher: {{arch: resnet10t}}\ndistill:\n  student: test_resnet\n  {key}: {value!r}\n"
        )
        with pytest.raises(ConfigError, match=f":5: 'distill.{key}'"):  # ... and by the pipeline's, at its line
            load_pipeline(path)
