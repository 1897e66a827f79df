"""Profile stage: trtexec-like latency per batch size, machine facts and a machine fingerprint."""

from edgekd.profile.profiler import ProfileConfig, ProfileResult, profile, run
from edgekd.profile.system import fingerprint, system_facts
from edgekd.profile.timing import DEVICE_LATENCY, HOST_LATENCY, TimingConfig, summarise, time_calls
from edgekd.schemas import LatencyStats  # what the loop returns is profile.json's schema

__all__ = [
    "DEVICE_LATENCY",
    "HOST_LATENCY",
    "LatencyStats",
    "ProfileConfig",
    "ProfileResult",
    "TimingConfig",
    "fingerprint",
    "profile",
    "run",
    "summarise",
    "system_facts",
    "time_calls",
]
