"""Machine facts and the fingerprint the gate uses to refuse cross-machine latency comparisons."""

from __future__ import annotations

import os

import torch

from edgekd.profile.system import FINGERPRINT_KEYS, fingerprint, system_facts


def test_facts_name_the_cpu_versions_and_threads():
    facts = system_facts()
    assert facts["cpu_model"] and facts["cpu_logical_cores"] == os.cpu_count()
    assert facts["torch"] == torch.__version__ and facts["onnxruntime"]
    assert facts["threads"]["torch_intra_op"] == torch.get_num_threads()
    assert set(FINGERPRINT_KEYS) <= set(facts)
    assert len(facts["fingerprint"]) == 16


def test_fingerprint_is_stable_and_ignores_run_settings():
    first, second = system_facts(), system_facts()
    assert first["fingerprint"] == second["fingerprint"]
    changed = {**first, "threads": {"torch_intra_op": 99}, "hostname": "elsewhere"}
    assert fingerprint(changed) == first["fingerprint"]


def test_fingerprint_changes_with_the_hardware_or_the_runtime_versions():
    facts = system_facts()
    for key, value in (
        ("cpu_model", "Some Other CPU"),
        ("gpu", "NVIDIA H100"),
        ("onnxruntime", "0.0.1"),
        ("jetson_power_mode", "15W"),
    ):
        assert fingerprint({**facts, key: value}) != facts["fingerprint"], key
