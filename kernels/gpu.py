"""Whether the toolkit's GPU kernels can run here, and if not, why — asked without side effects.

numba.cuda imports without a GPU; only touching a device fails. This module turns that into one
reason string for listings and errors (``None`` when a CUDA device is usable).
"""

from __future__ import annotations

import os


def gpu_unavailable_reason() -> str | None:
    """``None`` if numba.cuda can use a real GPU, else why not (one line)."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "numba's CUDA simulator is enabled (NUMBA_ENABLE_CUDASIM=1): no real GPU to measure"
    try:
        from numba import cuda
    except ImportError as e:  # numba missing altogether
        return f"numba is not installed ({e})"
    try:
        if not cuda.is_available():
            return "no NVIDIA GPU/driver found by numba.cuda (CUDA driver library not loadable)"
        cuda.get_current_device()
    except Exception as e:  # a driver that loads but fails: report its message, never crash
        return f"CUDA device not usable: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return None
