"""Candidates: real timm models materialised at the search's input size, costed, and fused for export."""

from __future__ import annotations

import torch
from students_helpers import DIGITS, IMG_SIZE

from edgekd.models import load_model
from edgekd.students.candidates import has_reparameterization, materialise


def _batchnorms(model: torch.nn.Module) -> int:
    return sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_a_reparameterisable_candidate_is_exported_fused_and_computes_the_same(tmp_path):
    dataset = DIGITS.load(IMG_SIZE)
    weights, params, mflops, fusable = materialise("repvit_m0_9", dataset, IMG_SIZE, tmp_path, seed=0)
    assert fusable and params > 0 and mflops > 0
    trained_form, card = load_model(weights)
    shipped_form, _ = load_model(weights, exportable=True)  # what `edgekd export` exports
    assert card.input.size == IMG_SIZE and card.num_classes == dataset.num_classes
    assert _batchnorms(trained_form) > 0 and _batchnorms(shipped_form) == 0
    pixels = torch.randn(4, 3, IMG_SIZE, IMG_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(shipped_form(pixels), trained_form(pixels), rtol=1e-3, atol=1e-4)


def test_plain_candidates_are_left_as_they_are(tmp_path):
    weights, _, mflops, fusable = materialise("lcnet_035", DIGITS.load(IMG_SIZE), IMG_SIZE, tmp_path, seed=0)
    assert not fusable and mflops > 0
    model, _ = load_model(weights, exportable=True)
    assert not has_reparameterization(model) and _batchnorms(model) > 0
