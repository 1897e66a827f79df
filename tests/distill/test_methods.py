"""Methods are small registered tasks: KD's terms, FitNet's stages and adapters, new methods."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from distill_helpers import distill_config

from edgekd.data import Batch, InputSpec, ModelInput, load_dataset
from edgekd.distill import METHODS, DistillMethod, distill, register
from edgekd.distill.adapters import Resize, build_adapter
from edgekd.distill.losses import kd_loss, soft_targets, standardize_logits
from edgekd.distill.methods.fitnet import FitNet
from edgekd.distill.methods.kd import KnowledgeDistillation
from edgekd.distill.targets import TeacherTargets
from edgekd.distill.teachers import TeacherBank, load_teacher
from edgekd.engine import Trainer
from edgekd.engine.progress import SilentProgress
from edgekd.models import create_model

SPEC = InputSpec(16, 3, (0.3,) * 3, (0.37,) * 3)


def _targets(teacher_dir):
    return TeacherTargets(TeacherBank([load_teacher(teacher_dir)]), None, 1438, 10)


def _batch(count=8):
    dataset = load_dataset("digits")
    indices = torch.arange(count)
    return Batch(dataset.train.images[indices], dataset.train.labels[indices], indices)


def test_the_registry_holds_the_three_methods():
    assert {"kd", "fitnet", "none"} <= set(METHODS)
    assert METHODS["kd"] is KnowledgeDistillation and METHODS["fitnet"] is FitNet
    assert not METHODS["none"].uses_teacher and METHODS["kd"].uses_teacher


def test_kd_step_returns_its_terms_and_combines_them_with_alpha(digits_teacher):
    torch.manual_seed(0)
    task = KnowledgeDistillation(
        create_model("test_resnet", 10), ModelInput(SPEC), _targets(digits_teacher), temperature=3.0, alpha=0.7
    )
    batch = _batch()
    pixels = batch.images.float() / 255
    out = task(pixels, batch)
    assert set(out) == {"loss", "output", "ce", "kd"}
    teacher_logits = task.targets.bank(pixels)[0]
    expected_kd = kd_loss(out["output"], soft_targets([teacher_logits], 3.0), 3.0)
    expected_ce = F.cross_entropy(out["output"], batch.labels)
    assert out["kd"].item() == pytest.approx(expected_kd.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx(0.3 * expected_ce.item() + 0.7 * expected_kd.item(), rel=1e-5)
    out["loss"].backward()
    assert all(p.grad is None for p in task.teachers.parameters())  # the teacher is never trained
    assert set(task.trainable_modules()) == {"student"}


def test_kd_with_standardized_logits_applies_them_to_the_soft_term_only(digits_teacher):
    torch.manual_seed(0)
    task = KnowledgeDistillation(
        create_model("test_resnet", 10),
        ModelInput(SPEC),
        _targets(digits_teacher),
        temperature=2.0,
        alpha=0.5,
        kd_loss="kl-std",
    )
    batch = _batch()
    pixels = batch.images.float() / 255
    out = task(pixels, batch)
    teacher_logits = task.targets.bank(pixels)[0]
    expected_kd = kd_loss(
        standardize_logits(out["output"]), soft_targets([standardize_logits(teacher_logits)], 2.0), 2.0
    )
    assert out["kd"].item() == pytest.approx(expected_kd.item(), rel=1e-5)
    assert out["ce"].item() == pytest.approx(F.cross_entropy(out["output"], batch.labels).item(), rel=1e-5)
    assert task.describe()["kd_loss"] == "kl-std"


@pytest.mark.parametrize(
    "student_shape, teacher_shape, first_layer",
    [
        ((16, 8, 8), (128, 8, 8), torch.nn.Conv2d),  # channels only: 1×1 conv + BN
        ((16, 8, 8), (128, 4, 4), torch.nn.Conv2d),  # student larger: strided conv
        ((16, 4, 4), (128, 8, 8), torch.nn.ConvTranspose2d),  # student smaller: transposed conv
        ((16, 6, 6), (128, 4, 4), Resize),  # no integer ratio: interpolation
    ],
)
def test_adapters_map_guided_features_onto_the_hint_shape(student_shape, teacher_shape, first_layer):
    adapter = build_adapter(student_shape, teacher_shape)
    assert isinstance(adapter[0], first_layer) and isinstance(adapter[-1], torch.nn.BatchNorm2d)
    assert adapter(torch.rand(2, *student_shape)).shape == (2, *teacher_shape)
    if student_shape[1:] == teacher_shape[1:]:
        assert adapter[0].kernel_size == (1, 1)


def test_fitnet_pairs_layers_automatically_and_builds_the_adapter(digits_teacher):
    torch.manual_seed(0)
    task = FitNet(create_model("test_resnet", 10), ModelInput(SPEC), _targets(digits_teacher))
    facts = task.describe()
    # test_resnet's middle timm stage is layer2 (48 ch, stride 8); resnet10t's stride-8 stage is layer2 (128 ch).
    assert (facts["guided_layer"], facts["hint_layer"]) == ("layer2", "layer2")
    assert facts["guided_shape"] == [48, 2, 2] and facts["hint_shape"] == [128, 2, 2]
    assert set(task.trainable_modules()) == {"student", "adapter"}


class _StopAtEpoch(SilentProgress):
    def __init__(self, epoch):
        self.epoch = epoch

    def start(self, description, total):
        if description.startswith(f"epoch {self.epoch}/"):
            raise KeyboardInterrupt


def test_fitnet_stage_one_trains_only_the_student_up_to_the_guided_layer(digits_teacher, tmp_path):
    torch.manual_seed(0)
    student = create_model("test_resnet", 10)
    initial = {k: v.clone() for k, v in student.state_dict().items()}
    task = FitNet(student, ModelInput(SPEC), _targets(digits_teacher), hint_epochs=1)
    with pytest.raises(KeyboardInterrupt):
        Trainer(
            distill_config(None, tmp_path, epochs=2).train,
            torch.device("cpu"),
            run_dir=tmp_path,
            progress=_StopAtEpoch(2),
        ).fit(task, load_dataset("digits"))
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    changed = {k.split(".")[0] for k, v in state["modules"]["student"].items() if not torch.equal(v, initial[k])}
    assert changed == {"conv1", "bn1", "layer1", "layer2"}  # nothing after the guided layer moved
    assert state["modules"]["adapter"]  # the adapter trains (and resumes) with the student
    assert "train_top1" not in state["history"][0] and state["history"][0]["stage"] == "hint"


def test_a_new_method_is_one_registered_class(tmp_path):
    @register("test_ce_only")
    class CrossEntropyOnly(DistillMethod):
        """A method written the way a user adds one: a new class, registered by name."""

        uses_teacher = False

        def forward(self, pixels, batch):
            logits = self.student_logits(pixels)
            ce = F.cross_entropy(logits, batch.labels)
            return {"loss": ce, "output": logits, "ce": ce.detach(), "twice_ce": 2 * ce.detach()}

    try:
        result = distill(distill_config(None, tmp_path, method="test_ce_only", epochs=1))
        assert result.card.training["method"] == "test_ce_only"
        assert result.fit.history[0]["train_twice_ce"] == pytest.approx(2 * result.fit.history[0]["train_ce"])
    finally:
        METHODS.pop("test_ce_only")


def test_fitnet_stage_two_restarts_the_schedule_unless_asked_to_share_one(digits_teacher):
    def restarts(**options):
        return FitNet(
            create_model("test_resnet", 10), ModelInput(SPEC), _targets(digits_teacher), **options
        ).schedule_restarts()

    # The default: stage 2 trains its upper layers from scratch, so it warms up again.
    assert restarts(hint_epochs=1) == (1,)
    assert restarts(hint_epochs=2, stage_schedule="per-stage") == (2,)
    assert restarts(hint_epochs=2, stage_schedule="shared") == ()
    assert restarts(hint_epochs=0, stage_schedule="per-stage") == ()
