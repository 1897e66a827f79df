"""The reference file `edgekd verify` reads: a round trip, and every way it can be unusable (one line, exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekd.errors import EdgekdError
from edgekd.verify import REFERENCE_SCHEMA, Reference, Threshold, VerifyResult, VerifyRow


def _reference(samples: int = 6) -> Reference:
    rng = np.random.default_rng(0)
    return Reference(
        rng.standard_normal((samples, 3, 8, 8)).astype(np.float32),
        rng.standard_normal((samples, 4)).astype(np.float32),
        np.arange(samples) % 4,
        {"fp32": Threshold(99.9, 1e-3), "student.fp16": Threshold(99.0, 0.05)},
        {"input_format": "nchw_float32", "split": "val"},
    )


def test_round_trip_keeps_arrays_thresholds_and_facts(tmp_path):
    path = _reference().save(tmp_path / "reference.npz")
    loaded = Reference.load(path)
    assert np.array_equal(loaded.inputs, _reference().inputs) and np.array_equal(loaded.logits, _reference().logits)
    assert (
        loaded.thresholds == _reference().thresholds
        and loaded.info["split"] == "val"
        and loaded.info["schema"] == REFERENCE_SCHEMA
    )
    # An engine shares its ONNX's threshold (same stem); anything else falls back to its precision's.
    assert loaded.threshold_for("student.fp16.engine", "fp16") == Threshold(99.0, 0.05)
    assert loaded.threshold_for("other.onnx", "fp32") == Threshold(99.9, 1e-3)
    with pytest.raises(EdgekdError, match="no threshold for other.onnx"):
        loaded.threshold_for("other.onnx", "int8")


def test_a_pickle_inside_the_npz_is_never_loaded(tmp_path):
    path = tmp_path / "reference.npz"
    np.savez(
        path,
        inputs=np.zeros((2, 1)),
        logits=np.zeros((2, 2)),
        labels=np.zeros(2),
        meta=np.array([{"evil": 1}], dtype=object),
    )
    with pytest.raises(EdgekdError, match="is not an edgekd reference") as error:
        Reference.load(path)
    assert error.value.exit_code == 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.update(logits=d["logits"][:3]), "inconsistent arrays"),
        (
            lambda d: d.update(meta=np.array(json.dumps({"schema": "other/9", "thresholds": {}}))),
            "expected edgekd.reference/1",
        ),
        (lambda d: d.update(meta=np.array("{not json")), "damaged metadata"),
        (lambda d: d.pop("labels"), "is not an edgekd reference"),
    ],
)
def test_damaged_references_are_one_line(tmp_path, damage, message):
    path = _reference().save(tmp_path / "reference.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    damage(arrays)
    np.savez(path, **arrays)
    with pytest.raises(EdgekdError, match=message):
        Reference.load(path)
    with pytest.raises(EdgekdError, match="reference not found"):
        Reference.load(tmp_path / "absent.npz")


def test_a_result_passes_only_when_every_artefact_does():
    def row(passed):
        return VerifyRow("a.onnx", "ort", "fp32", 6, 100.0, 0.0, 0.0, 50.0, 50.0, Threshold(99.9, 1e-3), passed)

    assert VerifyResult(None, [row(True), row(True)]).passed
    failing = VerifyResult(None, [row(True), row(False)])
    assert not failing.passed and not VerifyResult(None, []).passed
    with pytest.raises(EdgekdError, match="verify failed") as error:
        failing.enforce()
    assert error.value.exit_code == 1
