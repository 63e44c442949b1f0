"""Selection to a target size: quality first, diversity-aware, deterministic for a seed.

Methods (``SelectionRecipe.method``):

* ``facility_location`` (default): greedily maximize a quality-weighted facility-location
  objective over unit embeddings::

      F(S) = sum_d max_{s in S} q_s**gamma * max(0, cos(d, s))

  where ``d`` runs over a seeded sample of the pool (the points to cover), cosines are taken
  after removing the pool's mean direction (so they are local), and each row covers only its
  ``neighbors`` most similar points (sparse, as in apricot's sparse mode). A row is worth
  picking when it is good *and* represents a region nothing picked so far covers, so the
  selection spreads over every task type in proportion to its share, taking the best rows
  of each. F is monotone submodular, so the greedy pick is within 1 - 1/e of the optimum;
  the lazy-greedy evaluation (Minoux) keeps it fast. Ties break by lowest row.
* ``score_first``: DEITA's rule. Walk rows by quality (ties: lowest row) and keep a row unless
  its cosine distance to an already kept row is below ``min_distance``; if that leaves fewer
  than the target, fill with the best skipped rows.
* ``quality``: the top rows by quality; no diversity (a baseline).

:func:`coverage` reports, per KMeans cluster of the candidate pool, how many rows the pool
had and how many were kept, so a user can see no task type was dropped wholesale, and
:func:`cover_clusters` makes sure of it: a cluster whose fair share of the target is at least
one row keeps at least one.
"""

from __future__ import annotations

import functools
import heapq
from typing import Any

import numpy as np

from ..errors import ConfigError, MissingDependencyError


def select(emb: np.ndarray, quality: np.ndarray, k: int, *, method: str = "facility_location",
           seed: int = 0, quality_exponent: float = 1.0, demand_sample: int = 2048,
           neighbors: int = 64, min_distance: float = 0.1) -> np.ndarray:
    """Indices (into the pool) of the ``k`` selected rows, in pick order.

    ``emb``: unit-length rows (cosine = dot product), one per pool row, in row order.
    ``quality``: per pool row, higher is better (finite).
    """
    n = len(quality)
    if k >= n:
        return np.lexsort((np.arange(n), -np.asarray(quality, dtype=float))) if n else np.zeros(0, dtype=np.int64)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    quality = np.nan_to_num(np.asarray(quality, dtype=np.float64), nan=0.0)
    if method == "quality":
        return np.lexsort((np.arange(n), -quality))[:k]
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    if emb.shape[0] != n:
        raise ValueError(f"{emb.shape[0]} embeddings for {n} rows")
    if method == "score_first":
        return _score_first(emb, quality, k, min_distance)
    if method == "facility_location":
        return _facility_location(emb, quality, k, seed, quality_exponent, demand_sample, neighbors)
    raise ConfigError(f"unknown selection method {method!r}; choose facility_location, score_first or quality")


def _score_first(emb: np.ndarray, quality: np.ndarray, k: int, min_distance: float) -> np.ndarray:
    order = np.lexsort((np.arange(len(quality)), -quality))
    max_sim = 1.0 - min_distance
    picked: list[int] = []
    skipped: list[int] = []
    kept = np.zeros((k, emb.shape[1]), dtype=np.float32)
    # rows are compared in blocks against the kept set; a row also has to clear rows picked
    # earlier in its own block, so the result equals the one-by-one rule exactly
    block = 256
    for start in range(0, len(order), block):
        idx = order[start:start + block]
        sims = emb[idx] @ kept[:len(picked)].T if picked else np.full((len(idx), 0), -1.0, dtype=np.float32)
        best = sims.max(axis=1) if sims.shape[1] else np.full(len(idx), -1.0)
        new_from = len(picked)
        for j, i in enumerate(idx):
            s = best[j]
            if len(picked) > new_from:
                s = max(s, float((kept[new_from:len(picked)] @ emb[i]).max()))
            if s < max_sim:
                kept[len(picked)] = emb[i]
                picked.append(int(i))
                if len(picked) == k:
                    return np.asarray(picked, dtype=np.int64)
            else:
                skipped.append(int(i))
    return np.asarray(picked + skipped[: k - len(picked)], dtype=np.int64)


def _facility_location(emb: np.ndarray, quality: np.ndarray, k: int, seed: int, gamma: float,
                       demand_sample: int, neighbors: int) -> np.ndarray:
    n = len(quality)
    emb = _centered(emb)
    rng = np.random.default_rng(seed)
    demand = np.sort(rng.choice(n, demand_sample, replace=False)) if n > demand_sample else np.arange(n)
    DT = np.ascontiguousarray(emb[demand].T)  # (dims, m): the points to cover
    m = DT.shape[1]
    r = min(neighbors, m)
    w = (np.power(np.clip(quality, 0.0, None), gamma) if gamma else np.ones(n)).astype(np.float32)
    # Sparse coverage: each row covers only its r most similar demand points (centred cosines
    # are local, so the rest contribute ~0). A gain is then r operations, not m x dims.
    nbr = np.empty((n, r), dtype=np.int64)
    val = np.empty((n, r), dtype=np.float32)
    for s in range(0, n, 2048):
        a = np.maximum(emb[s:s + 2048] @ DT, 0.0) * w[s:s + 2048, None]
        if r < m:
            top = np.argpartition(-a, r - 1, axis=1)[:, :r]
            top.sort(axis=1)  # a fixed order: the sums below do not depend on argpartition's
        else:
            top = np.broadcast_to(np.arange(m), a.shape)
        nbr[s:s + 2048] = top
        val[s:s + 2048] = np.take_along_axis(a, top, axis=1)
    cover = np.zeros(m, dtype=np.float32)  # current best coverage of each demand point

    def gains(idx: np.ndarray) -> np.ndarray:
        return np.maximum(val[idx] - cover[nbr[idx]], 0.0).sum(axis=1, dtype=np.float64)

    # initial gains are upper bounds for every later round (the objective is submodular)
    ub = gains(np.arange(n))
    heap = [(-float(ub[i]), i) for i in range(n)]
    heapq.heapify(heap)
    fresh = np.full(n, -1, dtype=np.int64)  # round in which each heap entry's gain was computed
    picked: list[int] = []
    rnd = 0
    while heap and len(picked) < k:
        if fresh[heap[0][1]] == rnd:
            # an exact gain on top of upper bounds: the best by (gain desc, row asc)
            i = heapq.heappop(heap)[1]
            picked.append(i)
            cover[nbr[i]] = np.maximum(cover[nbr[i]], val[i])
            rnd += 1
            continue
        # re-evaluate the stale entries at the top together (lazy greedy, batched)
        batch = []
        while heap and len(batch) < _LAZY_BATCH and fresh[heap[0][1]] != rnd:
            batch.append(heapq.heappop(heap)[1])
        for i, g in zip(batch, gains(np.asarray(batch, dtype=np.int64)).tolist()):
            fresh[i] = rnd
            heapq.heappush(heap, (-g, i))
    return np.asarray(picked, dtype=np.int64)


def _centered(emb: np.ndarray) -> np.ndarray:
    """Unit rows after removing the pool's mean direction.

    Rows of one dataset share a lot (a prompt template, the language): raw cosines all sit
    around 0.5-0.9, so every row "covers" every other and coverage says little. Centred,
    cosines spread around 0 and max(0, cos) is local: a row covers its own neighbourhood.
    """
    x = emb - emb.mean(axis=0, dtype=np.float64).astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 1e-6)


#: stale candidates re-evaluated together: a matrix product instead of many vector products
_LAZY_BATCH = 64


def cover_clusters(picked: np.ndarray, labels: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, int]:
    """Make sure no cluster whose fair share of the selection is a row or more ends up empty.

    A cluster with ``pool_rows * k / pool >= 1`` and nothing picked gets its best row (quality,
    ties: lowest row) in place of the latest pick of the most over-represented cluster (picked
    minus fair share; that pick added the least coverage). Returns the new picks and the number
    of swaps. Deterministic.
    """
    k, n = len(picked), len(labels)
    if k == 0 or n == 0:
        return picked, 0
    picked = list(int(i) for i in picked)
    ids, pool_counts = np.unique(labels, return_counts=True)
    fair = dict(zip(ids.tolist(), (pool_counts * k / n).tolist()))
    kept = {c: 0 for c in fair}
    for i in picked:
        kept[int(labels[i])] += 1
    missing = sorted((c for c in fair if kept[c] == 0 and fair[c] >= 1.0), key=lambda c: (-fair[c], c))
    swaps = 0
    chosen = set(picked)
    for c in missing:
        donors = [d for d in fair if kept[d] >= 2]
        if not donors:
            break
        donor = max(donors, key=lambda d: (kept[d] - fair[d], -d))
        members = np.flatnonzero(labels == c)
        members = members[[m not in chosen for m in members]]
        if not len(members):
            continue
        best = int(members[np.lexsort((members, -quality[members]))[0]])
        out = max(j for j, i in enumerate(picked) if labels[i] == donor)  # the donor's latest pick
        chosen.discard(picked[out])
        del picked[out]
        picked.append(best)
        chosen.add(best)
        kept[donor] -= 1
        kept[c] += 1
        swaps += 1
    return np.asarray(picked, dtype=np.int64), swaps


def cluster_labels(emb: np.ndarray, k: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """KMeans labels and unit centroids: the same clustering off_topic and the diversity figures use."""
    try:
        from ..models.embeddings import kmeans
    except ImportError:  # pragma: no cover - the models module ships with finesift
        kmeans = None
    if kmeans is not None:
        return kmeans(emb, k, seed=seed)
    raise MissingDependencyError("scikit-learn", "Clustering embeddings", "models")


def coverage(labels_pool: np.ndarray, kept_mask: np.ndarray, examples: list[str] | None = None) -> list[dict[str, Any]]:
    """Per cluster of the pool: rows in the pool, rows kept, and their shares (largest cluster first)."""
    out = []
    total_pool = max(len(labels_pool), 1)
    total_kept = max(int(kept_mask.sum()), 1)
    for c in np.unique(labels_pool):
        members = np.flatnonzero(labels_pool == c)
        kept = int(kept_mask[members].sum())
        item: dict[str, Any] = {
            "cluster": int(c),
            "pool": int(len(members)),
            "kept": kept,
            "pool_share": round(len(members) / total_pool, 4),
            "kept_share": round(kept / total_kept, 4),
        }
        if examples is not None:
            item["example"] = examples[int(members[0])]
        out.append(item)
    out.sort(key=lambda d: (-d["pool"], d["cluster"]))
    return out


def lexical_embeddings(texts: list[str], seed: int = 0, dims: int = 256) -> np.ndarray:
    """Unit vectors from word/bigram TF-IDF, randomly projected to ``dims``: diversity without a model.

    A sparse random projection keeps cosines approximately (Johnson-Lindenstrauss) at a
    fraction of an SVD's cost: ~2 s for 76k short rows. Deterministic for a seed.
    """
    try:
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    except ImportError as exc:
        raise MissingDependencyError("scikit-learn", "Lexical features for selection", "models") from exc
    n = len(texts)
    if n == 0:
        return np.zeros((0, dims), dtype=np.float32)
    hv = HashingVectorizer(n_features=_HASH_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm=None)
    X = TfidfTransformer(sublinear_tf=True).fit_transform(hv.transform(texts))
    Z = np.asarray(_projection(seed, dims).transform(X), dtype=np.float32)
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return np.divide(Z, norms, out=np.zeros_like(Z), where=norms > 0)


_HASH_FEATURES = 2**17


@functools.lru_cache(maxsize=4)
def _projection(seed: int, dims: int):
    """The random projection matrix, built once per (seed, dims): it depends on nothing else."""
    import scipy.sparse as sp
    from sklearn.random_projection import SparseRandomProjection

    # ~16 non-zeros per input feature: the default density (1/sqrt(features)) would drop most words
    proj = SparseRandomProjection(n_components=dims, density=16 / dims, dense_output=True, random_state=seed)
    return proj.fit(sp.csr_matrix((1, _HASH_FEATURES), dtype=np.float64))


#: when the pool holds more than this many times the target, the selection draws only from the best
#: ``HEADROOM x target`` rows by (soft signals, quality): room for diversity without reaching for rows
#: something was found against while spotless ones are left
HEADROOM = 2.0


def candidates(signals: np.ndarray, quality: np.ndarray, k: int, headroom: float = HEADROOM) -> np.ndarray:
    """Pool indices the selection may pick from, ascending: all of them when the pool is within
    ``headroom x k`` rows, else the rows ranked at least as well as the ``ceil(headroom x k)``-th best by
    (fewer soft signals, higher quality); rows tied with it come along, so the cut never depends on row order.
    """
    n = len(quality)
    need = int(np.ceil(headroom * k))
    if n <= need or k <= 0:
        return np.arange(n)
    signals = np.asarray(signals, dtype=np.int64)
    quality = np.nan_to_num(np.asarray(quality, dtype=np.float64), nan=0.0)
    order = np.lexsort((np.arange(n), -quality, signals))
    last = order[need - 1]
    ok = (signals < signals[last]) | ((signals == signals[last]) & (quality >= quality[last]))
    return np.flatnonzero(ok)
