"""The package's one robust z-score (``checks/_stats.py``), used by conflict and off_topic."""

import numpy as np

from finesift.checks._stats import robust_scale, robust_z


def test_robust_z_is_median_and_scaled_mad():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])  # median 3, MAD 1: the outlier does not move them
    assert np.allclose(robust_z(x), (x - 3.0) / 1.4826)


def test_min_scale_floors_a_homogeneous_reference():
    ref = np.full(10, 0.5)  # MAD 0: without the floor any difference is an infinite z
    assert robust_scale(ref, min_scale=0.1) == (0.5, 0.1)
    assert np.allclose(robust_z(np.array([0.5, 0.8]), ref, min_scale=0.1), [0.0, 3.0])
