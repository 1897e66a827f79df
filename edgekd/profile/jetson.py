"""Jetson facts that decide a latency figure, and power/temperature while it is measured.

On a Jetson the same model runs several times faster or slower depending on the power mode
(`nvpmodel`) and whether clocks are pinned (`jetson_clocks`), so both are recorded with every
profile. They are read from jtop first (the Jetson image installs jetson-stats but not the L4T
`nvpmodel`/`jetson_clocks` binaries, which live on the host), and from those binaries only where
jtop cannot answer; `power_source` records which one did. With jetson-stats installed
(`pip install edgekd[jetson]`, and the host's `/run/jtop.sock` mounted into a container),
`PowerMonitor` samples total board power (mW) and temperatures (°C) during a timed loop, giving
mean power and energy per image (mJ).
Off a Jetson everything here returns None and costs nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
TEGRA_RELEASE = Path("/etc/nv_tegra_release")


def is_jetson() -> bool:
    """True on an NVIDIA Jetson (L4T release file, or a Jetson device-tree model)."""
    if TEGRA_RELEASE.exists():
        return True
    try:
        return "jetson" in DEVICE_TREE_MODEL.read_text(errors="replace").lower()
    except OSError:
        return False


def parse_nvpmodel(text: str) -> dict[str, Any] | None:
    """`nvpmodel -q` output → {"name": "MAXN", "id": 0}; None when no power mode is in it."""
    match = re.search(r"NV Power Mode\s*:\s*(\S.*?)\s*$", text, flags=re.MULTILINE)
    if not match:
        return None
    after = text[match.end() :]
    mode_id = re.search(r"^\s*(\d+)\s*$", after, flags=re.MULTILINE)
    return {"name": match.group(1), "id": int(mode_id.group(1)) if mode_id else None}


def parse_jetson_clocks(text: str) -> bool | None:
    """`jetson_clocks --show` output → True when every online CPU runs pinned at its max frequency."""
    cpus = re.findall(
        r"^cpu\d+:\s*Online=1.*?MinFreq=(\d+)\s+MaxFreq=(\d+)\s+CurrentFreq=(\d+)", text, flags=re.MULTILINE
    )
    if not cpus:
        return None
    return all(low == high == current for low, high, current in cpus)


def parse_l4t_release(text: str) -> str | None:
    """`/etc/nv_tegra_release` → "36.4.0" (L4T release.revision)."""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _run(command: list[str]) -> str | None:
    if not shutil.which(command[0]):
        return None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def power_state_from_jtop(
    nvpmodel_name: str | None, nvpmodel_id: int | None, clocks_on: bool | None, clocks_status: str | None
) -> dict[str, Any]:
    """jtop's `jetson.nvpmodel.name`/`.id` and `bool(jetson.jetson_clocks)`/`.status` → edgekd's record.

    jtop gives None for either object on a board without it; `.status` is a service state
    ("running", "inactive", "booting", "activating", "deactivating"), kept because a run taken
    while jetson_clocks is still booting is not pinned yet.
    """
    nvpmodel = {"name": nvpmodel_name, "id": nvpmodel_id} if nvpmodel_name is not None else None
    return {
        "nvpmodel": nvpmodel,
        "jetson_clocks": clocks_on,
        "jetson_clocks_status": clocks_status,
        "power_source": "jtop",
    }


def _power_state_via_jtop() -> dict[str, Any] | None:
    """Ask the jtop service; None where jetson-stats is missing or its socket is not mounted."""
    if not jtop_available():
        return None
    from jtop import jtop

    try:
        with jtop() as board:
            if not board.ok():
                return None
            nvpmodel, clocks = board.nvpmodel, board.jetson_clocks
            return power_state_from_jtop(
                nvpmodel.name if nvpmodel is not None else None,
                nvpmodel.id if nvpmodel is not None else None,
                bool(clocks) if clocks is not None else None,
                str(clocks.status) if clocks is not None else None,
            )
    except Exception:  # jtop raises its own JtopException when /run/jtop.sock is unreachable
        return None


def _power_state_via_binaries() -> dict[str, Any]:
    text = _run(["nvpmodel", "-q"])
    nvpmodel = parse_nvpmodel(text) if text else None
    text = _run(["jetson_clocks", "--show"])
    clocks = parse_jetson_clocks(text) if text else None
    found = nvpmodel is not None or clocks is not None
    return {
        "nvpmodel": nvpmodel,
        "jetson_clocks": clocks,
        "jetson_clocks_status": None,
        "power_source": "binaries" if found else None,
    }


def jetson_facts() -> dict[str, Any] | None:
    """Board model, L4T release, nvpmodel mode and jetson_clocks state (and where they came from); None off a Jetson."""
    if not is_jetson():
        return None
    facts: dict[str, Any] = {"model": None, "l4t": None, "jtop": jtop_available()}
    try:
        facts["model"] = DEVICE_TREE_MODEL.read_text(errors="replace").strip("\x00 \n")
    except OSError:
        pass
    try:
        facts["l4t"] = parse_l4t_release(TEGRA_RELEASE.read_text(errors="replace"))
    except OSError:
        pass
    facts.update(_power_state_via_jtop() or _power_state_via_binaries())
    return facts


def jtop_available() -> bool:
    try:
        import jtop  # noqa: F401
    except ImportError:
        return False
    return True


def summarise_power(
    power_mw: list[float], temperatures_c: dict[str, list[float]], images: int, seconds: float
) -> dict[str, Any] | None:
    """Mean/max board power (mW), mean/max temperatures (°C) and energy per image (mJ).

    Energy per image = mean power (mW) × timed seconds / images: mW·s = mJ.
    """
    if not power_mw:
        return None
    mean_mw = sum(power_mw) / len(power_mw)
    return {
        "samples": len(power_mw),
        "mean_power_mw": mean_mw,
        "max_power_mw": max(power_mw),
        "energy_per_image_mj": mean_mw * seconds / images if images else None,
        "temperature_c": {name: {"mean": sum(v) / len(v), "max": max(v)} for name, v in temperatures_c.items() if v},
    }


class PowerMonitor:
    """Samples jtop's `Power TOT` (mW) and `Temp *` (°C) in a thread while the block runs.

    Inactive (and free) where jetson-stats is missing or its service cannot be reached; then
    `summary()` is None.
    """

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.power_mw: list[float] = []
        self.temperatures_c: dict[str, list[float]] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PowerMonitor":
        if is_jetson() and jtop_available():
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _sample(self) -> None:
        from jtop import jtop

        try:
            with jtop(interval=self.interval_s) as board:
                while not self._stop.is_set() and board.ok():
                    stats = board.stats
                    if isinstance(stats.get("Power TOT"), (int, float)):
                        self.power_mw.append(float(stats["Power TOT"]))
                    for key, value in stats.items():
                        if key.startswith("Temp ") and isinstance(value, (int, float)) and value > -200:
                            self.temperatures_c.setdefault(key[5:], []).append(float(value))
        except Exception as exc:  # jtop raises its own JtopException when the service is unreachable
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def summary(self, images: int, seconds: float) -> dict[str, Any] | None:
        summary = summarise_power(self.power_mw, self.temperatures_c, images, seconds)
        if summary is None and self.error:
            return {"error": f"jtop: {self.error} (mount /run/jtop.sock into the container)"}
        return summary
