"""Selection: quality first, diversity-aware, deterministic; lazy greedy equals plain greedy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.curate.select import _centered, cover_clusters, coverage, lexical_embeddings, select
from finesift.errors import ConfigError


def _unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _two_tasks(n_big=90, n_small=10, seed=0):
    """A big task with high quality and a small task with lower quality, in 2 directions."""
    rng = np.random.default_rng(seed)
    big = np.c_[np.ones(n_big), 0.05 * rng.standard_normal((n_big, 3))]
    small = np.c_[0.05 * rng.standard_normal((n_small, 3)), np.ones(n_small)]
    emb = _unit(np.r_[big, small])
    quality = np.r_[rng.uniform(0.7, 1.0, n_big), rng.uniform(0.3, 0.5, n_small)]
    return emb, quality


def _plain_greedy(emb, quality, k, gamma=1.0):
    """Reference implementation: evaluate every candidate every round (every row is a demand point)."""
    emb = _centered(emb.astype(np.float32)).astype(np.float64)
    A = np.maximum(emb @ emb.T, 0.0) * (quality ** gamma)[None, :]
    cover = np.zeros(len(emb))
    picked = []
    for _ in range(k):
        gains = np.maximum(A - cover[:, None], 0.0).sum(axis=0)
        gains[picked] = -1
        best = int(np.flatnonzero(gains == gains.max())[0])
        picked.append(best)
        cover = np.maximum(cover, A[:, best])
    return picked


@pytest.mark.parametrize("method", ["facility_location", "score_first"])
def test_diversity_methods_cover_the_small_task(method):
    emb, q = _two_tasks()
    picked = select(emb, q, 10, method=method)
    assert len(set(picked.tolist())) == 10
    assert (picked >= 90).any(), "the small, lower-quality task was dropped wholesale"
    # quality first within a task: the big task's picks are among its better rows
    big = picked[picked < 90]
    assert np.median(q[big]) > np.median(q[:90])


def test_quality_method_is_top_k_with_ties_by_row():
    q = np.array([0.5, 0.9, 0.9, 0.1])
    assert select(np.eye(4, dtype=np.float32), q, 2, method="quality").tolist() == [1, 2]
    emb, q2 = _two_tasks()
    assert not (select(emb, q2, 10, method="quality") >= 90).any()  # no diversity: the baseline


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="facility_location"):
        select(np.eye(3, dtype=np.float32), np.ones(3), 1, method="random")


def test_k_at_least_the_pool_keeps_everything_in_quality_order():
    assert select(np.eye(3, dtype=np.float32), np.array([0.1, 0.3, 0.2]), 5).tolist() == [1, 2, 0]
    assert select(np.eye(3, dtype=np.float32), np.ones(3), 0).tolist() == []


def test_deterministic_for_a_seed_and_sample_dependent():
    rng = np.random.default_rng(1)
    emb = _unit(rng.standard_normal((300, 8)))
    q = rng.uniform(size=300)
    a = select(emb, q, 20, seed=3, demand_sample=64)
    assert a.tolist() == select(emb, q, 20, seed=3, demand_sample=64).tolist()


def test_score_first_keeps_a_minimum_distance_then_fills():
    emb = _unit([[1, 0], [1, 0.01], [0, 1], [1, 0.02]])
    q = np.array([0.9, 0.8, 0.1, 0.7])
    # row 1 and 3 are within distance 0.1 of row 0: the diverse row 2 comes before them
    assert select(emb, q, 2, method="score_first", min_distance=0.1).tolist() == [0, 2]
    # asking for more than the distance rule allows fills with the best skipped rows
    assert select(emb, q, 3, method="score_first", min_distance=0.1).tolist() == [0, 2, 1]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 40), st.integers(1, 8), st.sampled_from([0.0, 1.0, 2.0]))
def test_lazy_greedy_equals_plain_greedy(seed, n, k, gamma):
    rng = np.random.default_rng(seed)
    emb = _unit(rng.standard_normal((n, 4)))
    q = np.round(rng.uniform(0.1, 1.0, n), 1)
    k = min(k, n - 1)
    got = select(emb, q, k, method="facility_location", quality_exponent=gamma, demand_sample=10_000).tolist()
    ref = _plain_greedy(emb.astype(np.float64), q, k, gamma)
    if got != ref:  # only float32-vs-float64 near-ties may differ, and then the objective is the same
        f = _objective(emb.astype(np.float64), q, gamma)
        assert abs(f(got) - f(ref)) <= 1e-5 * max(f(ref), 1.0), (got, ref)


def _objective(emb, quality, gamma):
    emb = _centered(emb.astype(np.float32)).astype(np.float64)
    A = np.maximum(emb @ emb.T, 0.0) * (quality ** gamma)[None, :]
    return lambda picked: float(A[:, picked].max(axis=1).sum()) if picked else 0.0


def test_coverage_counts_pool_and_kept_per_cluster():
    labels = np.array([0, 0, 0, 1, 1, 2])
    kept = np.array([True, False, False, True, False, False])
    cov = coverage(labels, kept)
    assert [(c["cluster"], c["pool"], c["kept"]) for c in cov] == [(0, 3, 1), (1, 2, 1), (2, 1, 0)]
    assert cov[0]["pool_share"] == 0.5 and cov[0]["kept_share"] == 0.5


def test_lexical_embeddings_are_unit_and_deterministic():
    texts = [f"translate to french: sentence number {i} about {w}" for i, w in
             enumerate(["cats", "dogs", "cars", "cats", "rain"] * 8)]
    a = lexical_embeddings(texts, seed=0)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, lexical_embeddings(texts, seed=0))
    tiny = lexical_embeddings(["a b", "c d"], seed=0)
    assert tiny.shape[0] == 2


def test_sparse_coverage_is_close_to_dense():
    """Covering only each row's nearest demand points barely changes the objective reached."""
    rng = np.random.default_rng(0)
    centers = _unit(rng.standard_normal((12, 16)))
    emb = _unit(centers[rng.integers(0, 12, 600)] + 0.3 * rng.standard_normal((600, 16)))
    q = rng.uniform(0.2, 1.0, 600)
    f = _objective(emb.astype(np.float64), q, 1.0)
    dense = f(select(emb, q, 30, demand_sample=600, neighbors=600).tolist())
    sparse = f(select(emb, q, 30, demand_sample=600, neighbors=32).tolist())
    assert sparse >= 0.97 * dense


def test_exact_ties_go_to_the_lowest_row():
    emb = _unit([[1, 0], [0, 1], [1, 0], [0, 1]])
    assert select(emb, np.ones(4), 2, demand_sample=10_000).tolist() == [0, 1]


def test_cover_clusters_fills_an_empty_cluster_from_the_most_over_represented():
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1)
    quality = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.95, 0.2, 0.1])
    picked = np.array([0, 1, 2, 6])  # cluster 1 has a pick, cluster 0 has 3 of a fair 2.4
    out, swaps = cover_clusters(picked, labels, quality)
    # cluster 2's fair share is 0.4 row: it may stay empty; nothing to do
    assert (out.tolist(), swaps) == ([0, 1, 2, 6], 0)
    out, swaps = cover_clusters(np.array([0, 1, 2, 3]), labels, quality)
    # cluster 1 (fair 1.2) was empty: its best row (7) replaces cluster 0's latest pick (3)
    assert (out.tolist(), swaps) == ([0, 1, 2, 7], 1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=60), st.integers(1, 30), st.integers(0, 99))
def test_cover_clusters_keeps_size_and_fills_every_fair_cluster(labels, k, seed):
    labels = np.array(labels)
    n = len(labels)
    k = min(k, n)
    rng = np.random.default_rng(seed)
    quality = rng.uniform(size=n)
    picked = rng.choice(n, k, replace=False)
    out, _ = cover_clusters(picked, labels, quality)
    assert len(out) == k and len(set(out.tolist())) == k
    ids, counts = np.unique(labels, return_counts=True)
    kept = {c: int((labels[out] == c).sum()) for c in ids}
    fair = {c: cnt * k / n for c, cnt in zip(ids, counts)}
    donors_left = sum(v >= 2 for v in kept.values())
    for c in ids:
        if fair[c] >= 1 and kept[c] == 0:
            assert donors_left == 0  # only when no cluster can spare a row


def test_candidates_prefer_rows_without_soft_signals_when_the_pool_is_large():
    from finesift.curate.select import candidates

    signals = np.array([1, 0, 0, 2, 0, 0, 1, 0, 0, 0])
    quality = np.array([1.0, 0.9, 0.8, 1.0, 0.8, 0.7, 1.0, 0.6, 0.5, 0.5])
    # target 2, headroom 2: the best four by (signals, quality); the row tied with the fourth comes along
    assert candidates(signals, quality, 2).tolist() == [1, 2, 4, 5]
    assert candidates(signals, np.where(np.arange(10) == 7, 0.7, quality), 2).tolist() == [1, 2, 4, 5, 7]
    # a pool within the headroom is left whole
    assert candidates(signals, quality, 5).tolist() == list(range(10))
