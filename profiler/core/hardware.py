"""What machine this is: CPU, memory, GPUs — read without importing any framework.

GPUs are found through NVML (nvidia-ml-py) when it loads; without a driver the list is empty and the
reason is kept, so "no GPU" is reported, never guessed.
"""

from __future__ import annotations

import os
import platform
import socket
from functools import lru_cache
from typing import Any


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


@lru_cache(maxsize=1)
def gpus() -> tuple[list[dict[str, Any]], str | None]:
    """``(gpus, reason)``: each GPU's index, name, memory and driver; reason when the list is empty."""
    try:
        import pynvml
    except ImportError:
        return [], "nvidia-ml-py is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as e:
        return [], f"NVML unavailable ({type(e).__name__}: no NVIDIA driver or GPU)"
    try:
        out = []
        driver = pynvml.nvmlSystemGetDriverVersion()
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            out.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "memory_gib": round(mem.total / 2**30, 1),
                    "driver": driver.decode() if isinstance(driver, bytes) else driver,
                }
            )
        return out, (None if out else "NVML found no GPU")
    except Exception as e:
        return [], f"NVML error: {type(e).__name__}: {e}"
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def gpu_present() -> bool:
    return bool(gpus()[0])


def host_info() -> dict[str, Any]:
    import psutil

    g, reason = gpus()
    return {
        "hostname": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "gpus": g,
        "gpu_reason": reason,
    }
