"""Jetson facts: jtop values and nvpmodel/jetson_clocks output turned into the record, power summaries, no cost
elsewhere."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from edgekd.profile.jetson import (
    PowerMonitor,
    _power_state_via_binaries,
    is_jetson,
    jetson_facts,
    jtop_available,
    parse_jetson_clocks,
    parse_l4t_release,
    parse_nvpmodel,
    power_state_from_jtop,
    summarise_power,
)

NVPMODEL_Q = "NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n"
JETSON_CLOCKS_ON = """SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
"""
JETSON_CLOCKS_OFF = JETSON_CLOCKS_ON.replace(
    "cpu1: Online=1 Governor=schedutil MinFreq=2201600", "cpu1: Online=1 Governor=schedutil MinFreq=115200"
)
TEGRA_RELEASE = (
    "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC "
    "2024\n"
)


def test_nvpmodel_mode_name_and_id():
    assert parse_nvpmodel(NVPMODEL_Q) == {"name": "MAXN", "id": 0}
    assert parse_nvpmodel("NV Power Mode: 15W\n2\n") == {"name": "15W", "id": 2}
    assert parse_nvpmodel("command not found") is None


def test_jetson_clocks_state():
    assert parse_jetson_clocks(JETSON_CLOCKS_ON) is True
    assert parse_jetson_clocks(JETSON_CLOCKS_OFF) is False
    assert parse_jetson_clocks("") is None


def test_l4t_release():
    assert parse_l4t_release(TEGRA_RELEASE) == "36.4.0"


def test_energy_per_image_is_mean_power_times_time_over_images():
    summary = summarise_power([5000.0, 7000.0], {"GPU": [40.0, 44.0]}, images=300, seconds=3.0)
    assert summary["mean_power_mw"] == 6000.0 and summary["max_power_mw"] == 7000.0
    assert summary["energy_per_image_mj"] == pytest.approx(6000.0 * 3.0 / 300)  # mW·s = mJ
    assert summary["temperature_c"]["GPU"] == {"mean": 42.0, "max": 44.0}
    assert summarise_power([], {}, images=10, seconds=1.0) is None


@pytest.mark.skipif(is_jetson(), reason="checks the behaviour off a Jetson")
def test_off_a_jetson_nothing_is_sampled():
    assert jetson_facts() is None
    with PowerMonitor() as monitor:
        pass
    assert monitor.summary(images=10, seconds=1.0) is None


def test_jtop_values_become_the_record_with_their_source():
    # The values jtop documents: jetson.nvpmodel.name/.id, bool(jetson.jetson_clocks), jetson.jetson_clocks.status.
    record = power_state_from_jtop("MAXN", 0, True, "running")
    assert record == {
        "nvpmodel": {"name": "MAXN", "id": 0},
        "jetson_clocks": True,
        "jetson_clocks_status": "running",
        "power_source": "jtop",
    }
    booting = power_state_from_jtop("15W", 2, False, "booting")
    assert (
        booting["nvpmodel"] == {"name": "15W", "id": 2}
        and booting["jetson_clocks"] is False
        and booting["jetson_clocks_status"] == "booting"
    )
    # jtop gives None for nvpmodel / jetson_clocks on a board that has neither.
    assert power_state_from_jtop(None, None, None, None)["nvpmodel"] is None


def _script(directory, name: str, output: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\ncat <<'END'\n{output}END\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts stand in for the L4T binaries")
def test_binaries_fallback_runs_them_and_records_the_source(tmp_path, monkeypatch):
    # Real processes on PATH printing recorded Orin output: exercises the subprocess path, not only the parser.
    _script(tmp_path, "nvpmodel", NVPMODEL_Q)
    _script(tmp_path, "jetson_clocks", JETSON_CLOCKS_ON)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert _power_state_via_binaries() == {
        "nvpmodel": {"name": "MAXN", "id": 0},
        "jetson_clocks": True,
        "jetson_clocks_status": None,
        "power_source": "binaries",
    }
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert _power_state_via_binaries()["power_source"] is None


@pytest.mark.skipif(
    not (jtop_available() and is_jetson()), reason="needs jetson-stats (jtop) on a Jetson with its service reachable"
)
def test_on_a_jetson_jtop_supplies_the_power_state():
    facts = jetson_facts()
    assert facts["power_source"] == "jtop", "jtop is installed but did not answer: is /run/jtop.sock mounted?"
    assert isinstance(facts["nvpmodel"]["name"], str) and isinstance(facts["jetson_clocks"], bool)
