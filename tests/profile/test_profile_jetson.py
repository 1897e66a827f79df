"""Jetson facts: nvpmodel and jetson_clocks output parsing, power summaries, and no cost elsewhere."""

from __future__ import annotations

import pytest

from edgekd.profile.jetson import PowerMonitor, is_jetson, jetson_facts, parse_jetson_clocks, parse_l4t_release, parse_nvpmodel, summarise_power

NVPMODEL_Q = "NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n"
JETSON_CLOCKS_ON = """SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
"""
JETSON_CLOCKS_OFF = JETSON_CLOCKS_ON.replace("cpu1: Online=1 Governor=schedutil MinFreq=2201600", "cpu1: Online=1 Governor=schedutil MinFreq=115200")
TEGRA_RELEASE = "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024\n"


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
