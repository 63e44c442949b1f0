"""Intervals for small numbers of seeds, and paired differences.

Fine-tuning results vary with the seed (LoRA initialisation, data order), often by as
much as the effect being claimed. Runs are therefore compared across seeds:

* :func:`mean_ci`: mean and a two-sided 95% Student-t interval over seeds (wide with 3
  seeds, on purpose: that is the real uncertainty).
* :func:`paired_difference`: arm A minus arm B per seed (same seed = same LoRA init and
  data order), with a t interval and a paired t-test p-value. Pairing removes the seed
  effect both arms share.
* With a single seed no seed interval exists; :func:`bootstrap_mean_ci` and
  :func:`paired_bootstrap` resample evaluation items instead (this covers eval-set noise
  only, not training noise, and the JSON says which method was used).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

LEVEL = 0.95


def _clean(values: Sequence[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def mean_ci(values: Sequence[float], level: float = LEVEL) -> dict[str, Any]:
    """``{"mean", "ci95": [lo, hi] or None, "std", "n", "values"}`` with a Student-t interval."""
    from scipy import stats

    x = _clean(values)
    n = len(x)
    out: dict[str, Any] = {"mean": float(x.mean()) if n else float("nan"), "ci95": None,
                           "std": float(x.std(ddof=1)) if n > 1 else None, "n": n,
                           "values": [float(v) for v in values]}
    if n > 1:
        half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
        out["ci95"] = [out["mean"] - half, out["mean"] + half]
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> dict[str, Any]:
    """Per-seed ``a - b``: mean, 95% interval, paired t-test p-value, and whether the interval excludes 0."""
    from scipy import stats

    if len(a) != len(b):
        raise ValueError("paired values need the same seeds on both sides")
    d = [x - y for x, y in zip(a, b)]
    out = mean_ci(d, level)
    out["p_value"] = None
    arr = _clean(d)
    if len(arr) > 1:
        if np.allclose(arr, arr[0]):  # no spread: t undefined; the sign is certain only if not zero
            out["p_value"] = 0.0 if arr[0] != 0 else 1.0
        else:
            out["p_value"] = float(stats.ttest_1samp(arr, 0.0).pvalue)
    out["excludes_zero"] = bool(out["ci95"] is not None and (out["ci95"][0] > 0 or out["ci95"][1] < 0))
    out["method"] = "t-seeds"
    return out


def bootstrap_mean_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0,
                      level: float = LEVEL) -> list[float] | None:
    """Percentile interval of the mean over resampled items."""
    x = _clean(values)
    if len(x) < 2:
        return None
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    return [float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, 0.5 + level / 2))]


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0,
                     level: float = LEVEL) -> dict[str, Any]:
    """Mean per-item difference ``a - b`` with a bootstrap interval over items (one-seed fallback)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    ci = bootstrap_mean_ci(d, n_boot, seed, level)
    return {"mean": float(d.mean()) if len(d) else float("nan"), "ci95": ci, "n": int(len(d)),
            "excludes_zero": bool(ci is not None and (ci[0] > 0 or ci[1] < 0)), "method": "bootstrap-items",
            "p_value": None}


def within_noise(diff: dict[str, Any]) -> bool:
    """True when a difference's interval contains 0 (or no interval exists): not distinguishable from no change."""
    return not diff.get("excludes_zero", False)
