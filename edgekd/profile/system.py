"""The machine a latency was measured on, and a stable fingerprint of it.

The gate compares latencies only between reports with the same fingerprint: a hash of what
decides speed and does not change between runs (CPU model and core counts, GPU model and
driver, CUDA, TensorRT, ONNX Runtime and torch versions, and on a Jetson the board and power
mode). Thread counts are recorded next to every figure rather than hashed, since they are a
setting of the run, not of the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

FINGERPRINT_KEYS = (
    "arch",
    "cpu_model",
    "cpu_logical_cores",
    "cpu_physical_cores",
    "gpu",
    "gpu_driver",
    "cuda",
    "tensorrt",
    "onnxruntime",
    "torch",
    "jetson_model",
    "jetson_power_mode",
)


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (x86 `model name`; Arm boards fall back to the device tree)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, flags=re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine() or "unknown"


def physical_cores() -> int | None:
    """Distinct (package, core) pairs in sysfs; None when it cannot be read."""
    cores = set()
    for cpu in Path("/sys/devices/system/cpu").glob("cpu[0-9]*"):
        try:
            core = (cpu / "topology" / "core_id").read_text().strip()
            package = (cpu / "topology" / "physical_package_id").read_text().strip()
        except OSError:
            continue
        cores.add((package, core))
    return len(cores) or None


def _gpu_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "gpu": None,
        "gpu_capability": None,
        "gpu_memory_gib": None,
        "gpu_driver": None,
        "cuda": None,
    }
    try:
        import torch
    except ImportError:
        return facts
    facts["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        facts.update(
            gpu=props.name,
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
        )
        facts["gpu_driver"] = _driver_version()
    return facts


def _driver_version() -> str | None:
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", text)
        if match:
            return match.group(1)
    except OSError:
        pass
    if shutil.which("nvidia-smi"):
        try:
            result = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            return result.stdout.strip().splitlines()[0] if result.returncode == 0 and result.stdout.strip() else None
        except (OSError, subprocess.TimeoutExpired):
            return None
    return None


def _version(module_name: str) -> str | None:
    try:
        module = __import__(module_name)
    except Exception:  # an absent or broken optional library is simply not recorded
        return None
    return getattr(module, "__version__", "unknown")


def thread_settings() -> dict[str, Any]:
    """Thread counts in force: torch intra/inter-op, and the environment variables that set them."""
    facts: dict[str, Any] = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        import torch

        facts.update(torch_intra_op=torch.get_num_threads(), torch_inter_op=torch.get_num_interop_threads())
    except ImportError:
        pass
    return facts


def system_facts() -> dict[str, Any]:
    """What a profile records about the machine, with its `fingerprint` (16 hex chars)."""
    from edgekd.profile.jetson import jetson_facts

    jetson = jetson_facts()
    facts: dict[str, Any] = {
        "hostname": platform.node(),
        "os": platform.platform(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_logical_cores": os.cpu_count(),
        "cpu_physical_cores": physical_cores(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        **_gpu_facts(),
        "tensorrt": _version("tensorrt"),
        "onnxruntime": _version("onnxruntime"),
        "torch": _version("torch"),
        "edgekd": _version("edgekd"),
        "threads": thread_settings(),
        "jetson_model": jetson.get("model") if jetson else None,
        "jetson_power_mode": (jetson.get("nvpmodel") or {}).get("name") if jetson else None,
        "jetson": jetson,
    }
    facts["fingerprint"] = fingerprint(facts)
    return facts


def fingerprint(facts: dict[str, Any]) -> str:
    """sha256 (16 hex chars) of the facts in `FINGERPRINT_KEYS`: equal machines hash equal."""
    stable = {key: facts.get(key) for key in FINGERPRINT_KEYS}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]
