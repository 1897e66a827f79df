"""A method's options are declared once on its class; flags, pipeline keys, validation and the
recorded settings are derived from the declarations."""

from __future__ import annotations

import inspect
import textwrap

import pytest
import torch.nn.functional as F

from edgekd.distill import METHODS, DistillMethod, register
from edgekd.distill.methods.base import all_options
from edgekd.distill.methods.options import MethodOption
from edgekd.errors import ConfigError


def test_every_declared_option_is_an_edgekd_distill_flag(run_cli):
    import typer

    from edgekd.cli import app

    params = {p.name: p for p in typer.main.get_command(app).commands["distill"].params}
    for name, declarations in all_options().items():
        assert (
            params[name].opts[0] == declarations[0][1].flag and params[name].default is None
        )  # None: the method's default
    assert params["temperature"].opts == ["--temperature", "-T"]
    assert "fitnet: Weight β of the hint loss" in params["beta"].help  # one line per method that declares it
    assert run_cli("distill", "--help").code == 0


def test_options_resolve_to_declared_defaults_and_are_range_checked():
    kd = METHODS["kd"]
    assert kd.resolve_options({}) == {"temperature": 4.0, "alpha": 0.5, "kd_loss": "kl"}
    assert kd.resolve_options({"temperature": 2, "alpha": None})["temperature"] == 2.0  # ints widen, None is unset
    with pytest.raises(ConfigError, match=r"--alpha \(--method kd\) must be in \[0, 1\], got 1.5"):
        kd.resolve_options({"alpha": 1.5})
    with pytest.raises(ConfigError, match="unknown --kd-loss 'l2': use kl or kl-std"):
        kd.resolve_options({"kd_loss": "l2"})
    with pytest.raises(ConfigError, match="--hint-epochs only apply to --method fitnet .this run uses --method kd."):
        kd.resolve_options({"hint_epochs": 2})


def test_a_new_method_gets_its_flag_and_pipeline_key_from_its_declaration(tmp_path):
    @register("test_scaled_ce")
    class ScaledCrossEntropy(DistillMethod):
        uses_teacher = False
        options = (MethodOption("ce_scale", float, 1.0, "Factor on the CE loss.", gt=0),)

        def forward(self, pixels, batch):
            logits = self.student_logits(pixels)
            ce = F.cross_entropy(logits, batch.labels)
            return {"loss": self.ce_scale * ce, "output": logits, "ce": ce.detach()}

    try:
        import importlib

        import edgekd.cli.distill as cli_distill

        command = importlib.reload(cli_distill).distill_command  # the CLI module derives flags at import
        assert "ce_scale" in inspect.signature(command).parameters
        import edgekd.pipeline.config as pipeline_config
        import edgekd.pipeline.distill_section as distill_section

        importlib.reload(distill_section)  # the method keys are derived here at import, then used by the config
        reloaded = importlib.reload(pipeline_config)
        path = tmp_path / "p.yaml"
        path.write_text(
            textwrap.dedent("""
            name: demo
            teacher: {arch: resnet10t}
            distill:
              student: test_resnet
              methods: [{method: test_scaled_ce, ce_scale: 2.0}, {method: kd, ce_scale: 2.0}]
        """)
        )
        with pytest.raises(
            ConfigError,
            match=r":6: unknown key 'distill.methods\[1\].ce_scale'. Known keys here: alpha, (.*, )?epochs, ",
        ):
            reloaded.load_pipeline(path)
        path.write_text(path.read_text().replace(", {method: kd, ce_scale: 2.0}", ""))
        pipeline = reloaded.load_pipeline(path)
        assert pipeline.distill.method_options(pipeline.distill.methods[0]) == {"ce_scale": 2.0}
    finally:
        METHODS.pop("test_scaled_ce")
        importlib.reload(distill_section)
        importlib.reload(pipeline_config)
        importlib.reload(cli_distill)


def test_section_keys_reach_only_the_methods_declaring_them(tmp_path):
    from edgekd.pipeline import load_pipeline

    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent("""
        name: demo
        teacher: {arch: resnet10t}
        distill:
          student: test_resnet
          beta: 0.5
          temperature: 2.0
          mix: cutmix
          methods: [none, kd, {method: fitnet, temperature: 3.0}]
    """)
    )
    section = load_pipeline(path).distill
    assert (section.mix, section.mix_alpha) == ("cutmix", 1.0)
    none, kd, fitnet = (section.method_options(entry) for entry in section.methods)
    assert none == {} and kd == {"temperature": 2.0} and fitnet == {"temperature": 3.0, "beta": 0.5}
