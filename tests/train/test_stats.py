"""Intervals and paired differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from finesift.train import stats


def test_mean_ci_is_student_t_over_seeds():
    out = stats.mean_ci([1.0, 2.0, 3.0])
    half = st.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # sd of 1,2,3 is 1
    assert out["mean"] == pytest.approx(2.0)
    assert out["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    assert out["n"] == 3 and out["values"] == [1.0, 2.0, 3.0]


def test_one_value_has_no_interval():
    assert stats.mean_ci([5.0])["ci95"] is None


def test_paired_difference_removes_shared_seed_effect():
    # seeds move both arms together by a lot; the arm effect is a steady +1
    a = [11.0, 21.0, 31.5]
    b = [10.0, 20.0, 30.0]
    d = stats.paired_difference(a, b)
    assert d["mean"] == pytest.approx(np.mean([1.0, 1.0, 1.5]))
    assert d["excludes_zero"] and d["ci95"][0] > 0
    assert d["p_value"] < 0.05
    unpaired = stats.mean_ci(a)["ci95"]
    assert unpaired[0] < stats.mean_ci(b)["ci95"][1]  # unpaired intervals overlap: pairing is what decides


def test_difference_within_noise():
    d = stats.paired_difference([1.0, 3.0, 2.0], [2.0, 2.0, 2.0])
    assert not d["excludes_zero"] and stats.within_noise(d)


def test_paired_bootstrap_over_items():
    rng = np.random.default_rng(0)
    b = rng.normal(50, 10, 200)
    a = b + 5 + rng.normal(0, 1, 200)
    d = stats.paired_bootstrap(a, b)
    assert d["method"] == "bootstrap-items" and d["ci95"][0] > 4 and d["ci95"][1] < 6
    same = stats.paired_bootstrap(b + rng.normal(0, 1, 200), b)
    assert same["ci95"][0] < 0 < same["ci95"][1]
