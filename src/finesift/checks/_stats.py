"""Robust statistics shared by the checks (one robust z-score for the package)."""

from __future__ import annotations

import numpy as np

#: MAD -> standard deviation of a normal distribution
MAD_SCALE = 1.4826


def robust_scale(reference: np.ndarray, min_scale: float = 0.0) -> tuple[float, float]:
    """(median, max(1.4826 x MAD, ``min_scale``)) of ``reference`` (a non-empty array).

    ``min_scale`` keeps a homogeneous reference (MAD near 0) from turning any variation into a huge z.
    """
    med = float(np.median(reference))
    return med, max(MAD_SCALE * float(np.median(np.abs(reference - med))), min_scale)


def robust_z(values: np.ndarray, reference: np.ndarray | None = None, min_scale: float = 0.0) -> np.ndarray:
    """Robust z-score ``(values - median) / max(1.4826 x MAD, min_scale)``, median and MAD of
    ``reference`` (default: ``values`` themselves)."""
    values = np.asarray(values, dtype=np.float64)
    med, scale = robust_scale(values if reference is None else np.asarray(reference, dtype=np.float64), min_scale)
    return (values - med) / scale
