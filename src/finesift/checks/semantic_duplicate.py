"""``semantic_duplicate``: the row says the same thing as an earlier row, in other words.

Catches what exact and MinHash duplicates miss: "He is lazy." / "He's lazy.",
a question asked twice in different words with the same answer.

Score ``semantic_duplicate_sim`` (-1..1, higher = more alike): the highest
similarity to any *earlier* row. With ``compare="fields"`` (default) the
similarity of two rows is ``min(cosine of prompts, cosine of answers)``: both
must match, so the same question with a different answer (a ``conflict``) or a
shared prompt template with different content does not count. With
``compare="text"`` it is the cosine of ``prompt + "\\n" + output``. Identical
rows score exactly 1. The score is null for the first row, and for rows whose
best match is below ``floor`` (not a duplicate candidate; this also keeps the
search sparse).

A row is flagged when the score is at least ``threshold``. Rows linked by such
similarities form a group (union-find); ``semantic_duplicate_of`` holds, for
each flagged row, the lowest ``row`` of its group, which is never flagged
itself. Changing ``threshold`` with ``redecide`` re-flags rows but the partner
column keeps the groups of the threshold used when scoring.

Default threshold 0.95 (static embeddings, ``compare="fields"``), measured on
``gpteacher-toolformer-*.json``, where a third party removed near-duplicates:
matching their decisions gives F1 0.78 at 0.95 (P 0.73, R 0.85), against 0.74
at best when comparing the whole text (its long shared tool preamble makes all
rows look alike). With ``embeddings: sentence`` (MiniLM) the best is F1 0.77 at
0.93. On 6,000 random Tatoeba "Translate to French" rows it flags 1.2%, mostly
pairs like "He is lazy." / "He's lazy." and two wordings of one translation.

Search: exact, in blocks of bounded memory (~64 MiB of similarities at a time),
up to ``exact_max_rows`` distinct rows (20,000: ~2 s on 2 cores); its cost grows with n²
(17-20 s at 76k). Beyond that, an approximate nearest-neighbour index from faiss
(``faiss-cpu``, in the ``models`` extra): ``unit(prompt | answer)`` embeddings reduced by PCA
to 64 dimensions in an inverted-file index of ~sqrt(n) k-means cells (seeded) holding 4-bit
product-quantizer codes (faiss's fast scan), whose best candidates are reranked by their 64-dim
vectors; each row's ``neighbours`` nearest rows in its ``probes`` nearest cells are compared with
the exact similarity, and a row whose neighbours are all about as close as a duplicate is searched
again with four times as many. So a reported pair's score is the exact search's (to float32
rounding): the index only misses pairs, it never invents or changes one. On the 76,038-row
Tatoeba file (``benchmarks/bench_curate.py --recall-only``, 2 cores at load ~3.4: 4.2 s against
38.7 s exact): 14,761 of the exact search's 14,767 pairs at 0.95 (99.96%; 11,052 of its 11,057
flagged rows, none extra); 94% of rows keep exactly the exact score, the rest (best match below
the threshold, in a crowd of close rows) a lower one or none. The index over the vectors
themselves with 12 probes took 5.5-5.9 s of CPU against 3.9-4.2 s side by side, and found 14,750
pairs. On GPTeacher forced through the index: all 25,999 pairs, 99.5% of scores. One faiss thread
(the engine already runs checks side by side); deterministic for a seed.

Protocol: the embeddings are the ``embedding_output`` and ``embedding_prompt`` features
(``embedding`` with ``compare="text"``). The state holds, per row, its ``row`` and a 64-bit hash
of its exact text (prompt and answer), and the embeddings of each distinct text only, in
first-seen order; merging batches keeps the first copy of a text. ``finalize`` runs the search
once over the distinct texts.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MissingDependencyError
from ..models.embeddings import embedding_matrix, faiss_one_thread
from ._groups import components
from .base import (
    CheckParams,
    DatasetCheck,
    Score,
    Threshold,
    batch_positions,
    decision,
    register,
    text_array,
)
from .features import hash_strings

#: similarity-matrix cells computed at once (float32: 64 MiB); bounds peak memory
BLOCK_CELLS = 1 << 24
#: dimensions of the approximate index's space (PCA): it only proposes pairs, which are then verified
INDEX_DIMS = 64
#: rows the approximate index is trained on (PCA and k-means), unless its cells need more
TRAIN_ROWS = 1 << 14
#: training rows from which the index scans 4-bit product-quantized codes (faiss's fast scan) instead of the
#: vectors, reranking REFINE_FACTOR x ``neighbours`` candidates by their vectors: what makes more probes affordable
FAST_SCAN_ROWS = 1024
REFINE_FACTOR = 2
#: a row whose last neighbour is this close to ``threshold`` (in the index's space) is searched again, wider
SATURATION_SLACK = 0.05


class SemanticDuplicateParams(CheckParams):
    threshold: float = decision(0.95)
    """Flag a row whose similarity to an earlier row is at least this (-1..1)."""
    compare: Literal["fields", "text"] = "fields"
    """'fields': min(prompt cosine, answer cosine); 'text': cosine of prompt + answer together."""
    floor: float = 0.8
    """Similarities below this are not recorded (score null); must not exceed threshold."""
    exact_max_rows: int = 20_000
    """Distinct rows up to which the neighbour search is exact; beyond, an approximate index (faiss)."""
    probes: int = 16
    """Approximate index: cells (of ~sqrt(rows)) each row is searched in."""
    neighbours: int = 32
    """Approximate index: nearest rows each row is compared with exactly (more where they are all close)."""


@register
class SemanticDuplicate(DatasetCheck):
    name = "semantic_duplicate"
    description = "The row repeats an earlier row in other words (embedding similarity over a threshold)."
    cost = "model"
    scores = {
        "semantic_duplicate_sim": Score(
            "highest similarity to an earlier row (-1..1; higher = more alike; null below the "
            "recording floor)", -1, 1, worse="higher"),
    }
    group = "embeddings"
    order = 25
    weight = 0.0
    relation = "duplicate"
    threshold = Threshold("threshold", "semantic_duplicate_sim", ">=")
    config_inputs = ("embeddings", "seed")
    partner_column = "semantic_duplicate_of"
    Params = SemanticDuplicateParams
    #: with compare="fields"; compare="text" reads "embedding" (set per instance)
    needs = ("embedding_output", "embedding_prompt")

    def __init__(self, params=None):
        super().__init__(params)
        if self.params.compare == "text":
            self.needs = ("embedding",)

    def fit(self, batch: pa.Table) -> dict:
        prompt, output = text_array(batch["prompt"]), text_array(batch["output"])
        if self.params.compare == "fields":
            # stands for the exact (prompt, answer): rows with one key are searched once and score 1
            key = hash_strings(pc.binary_join_element_wise(prompt, output, "\x00"))
            first = embedding_matrix(batch["embedding_output"])
            second = embedding_matrix(batch["embedding_prompt"])
        else:
            # the embedded text itself: rows with the same text have the same embedding
            key = hash_strings(pc.binary_join_element_wise(prompt, output, "\n"))
            first, second = embedding_matrix(batch["embedding"]), None
        key = np.asarray(key.to_numpy(zero_copy_only=False), dtype=np.uint64)
        rows = np.asarray(batch["row"].to_numpy(zero_copy_only=False), dtype=np.int64)
        return _distinct({"rows": rows, "key": key, "ukey": key, "a": first, "b": second})

    def merge(self, states: list[dict]) -> dict:
        if len(states) == 1:
            return states[0]
        b = [s["b"] for s in states]
        return _distinct({
            "rows": np.concatenate([s["rows"] for s in states]),
            "key": np.concatenate([s["key"] for s in states]),
            "ukey": np.concatenate([s["ukey"] for s in states]),
            "a": np.concatenate([s["a"] for s in states]),
            "b": None if b[0] is None else np.concatenate(b),
        })

    def finalize(self, state: dict) -> dict:
        p = self.params
        rows, key, ukey = state["rows"], state["key"], state["ukey"]
        n = len(rows)
        if n == 0:
            return {"rows": rows, "sim": np.zeros(0), "partner": np.zeros(0, dtype=np.int64)}
        # ukey is in first-seen order and distinct: each row's code is its text's position in it
        order = np.argsort(ukey, kind="stable")
        codes = order[np.searchsorted(ukey, key, sorter=order)]
        sim, root = _search(state["a"], state["b"], codes, threshold=p.threshold, floor=min(p.floor, p.threshold),
                            exact_max_rows=p.exact_max_rows, probes=p.probes, neighbours=p.neighbours,
                            seed=self.seed())
        flagged = ~np.isnan(sim) & (sim >= p.threshold)
        return {"rows": rows, "sim": sim, "partner": np.where(flagged, rows[root], -1)}

    def score(self, batch: pa.Table, state: dict) -> pa.Table:
        pos = batch_positions(batch, state["rows"])
        sim, partner = state["sim"][pos], state["partner"][pos]
        return pa.table({
            "semantic_duplicate_sim": pa.array(sim, mask=np.isnan(sim), type=pa.float32()),
            "semantic_duplicate_of": pa.array(partner, mask=partner < 0, type=pa.int64()),
        })

    def decide(self, scores: pa.Table) -> np.ndarray:
        sim = scores["semantic_duplicate_sim"].to_numpy(zero_copy_only=False).astype(np.float64)
        return np.nan_to_num(sim, nan=-np.inf) >= self.params.threshold


def _distinct(state: dict) -> dict:
    """``state`` with only the first copy of each distinct text's embeddings (``ukey``, ``a``, ``b``)."""
    ukey = state["ukey"]
    _, first = np.unique(ukey, return_index=True)
    if len(first) == len(ukey):
        return state
    keep = np.sort(first)
    b = state["b"]
    return {**state, "ukey": ukey[keep], "a": state["a"][keep], "b": None if b is None else b[keep]}


def duplicate_groups(first: np.ndarray, second: np.ndarray | None, key: pa.Array | pa.ChunkedArray | None = None, *,
                     threshold: float, floor: float, exact_max_rows: int = 20_000, probes: int = 16,
                     neighbours: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Earlier-row similarity and duplicate groups for unit-vector rows.

    ``first`` (and ``second`` when given: the similarity is then the minimum of
    the two cosines) are ``(n, dims)`` unit rows. ``key`` (one string per row)
    marks identical rows, which are searched once and score exactly 1.
    Returns ``(sim float64 (n,), NaN where none >= floor; root int64 (n,),
    position of the lowest row of the row's group)``.
    """
    n = len(first)
    if key is None:
        codes = np.arange(n)
    else:
        enc = pc.dictionary_encode(key)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)  # codes in first-seen order
    _, first_pos = np.unique(codes, return_index=True)
    return _search(first[first_pos], None if second is None else second[first_pos], codes, threshold=threshold,
                   floor=floor, exact_max_rows=exact_max_rows, probes=probes, neighbours=neighbours, seed=seed)


def _search(a: np.ndarray, b: np.ndarray | None, codes: np.ndarray, *, threshold: float, floor: float,
            exact_max_rows: int, probes: int, neighbours: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`duplicate_groups` given the distinct rows' vectors ``a``/``b`` (in first-seen order) and
    each row's code (its distinct row)."""
    n = len(codes)
    _, first_pos = np.unique(codes, return_index=True)
    if len(first_pos) <= exact_max_rows:
        u_sim, u_root = _exact(a, b, threshold, floor)
    else:
        u_sim, u_root = _approximate(a, b, threshold, floor, probes, neighbours, seed)
    sim = u_sim[codes].copy()
    sim[np.arange(n) != first_pos[codes]] = 1.0  # a repeat of an earlier identical row
    root = first_pos[u_root[codes]]
    return sim, root


class _Groups:
    """Groups of the pairs found so far: connected components (:func:`._groups.components`, the
    package's one union-find); a group's root is its lowest index."""

    def __init__(self, n: int):
        self.n = n
        self._a: list[np.ndarray] = []
        self._b: list[np.ndarray] = []
        self._count = 0

    def add(self, qi: np.ndarray, kj: np.ndarray) -> None:
        if not len(qi):
            return
        self._a.append(np.asarray(qi, dtype=np.int64))
        self._b.append(np.asarray(kj, dtype=np.int64))
        self._count += len(qi)
        if self._count > max(self.n, 1 << 20):  # bounded memory: keep one edge per grouped row
            self._collapse()

    def _collapse(self) -> np.ndarray:
        root = components(self.n, np.concatenate(self._a), np.concatenate(self._b))
        moved = np.flatnonzero(root != np.arange(self.n))
        self._a, self._b, self._count = [moved], [root[moved]], len(moved)
        return root

    @property
    def parent(self) -> np.ndarray:
        """Root (lowest index of its group) per index."""
        return self._collapse() if self._count else np.arange(self.n, dtype=np.int64)


def _scan(q: np.ndarray, keys: np.ndarray, a: np.ndarray, b: np.ndarray | None, threshold: float,
          floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compare queries ``q`` with the ``keys`` that come before them (both sorted ascending).

    Returns per query the best similarity (NaN if none >= floor), and the
    (query, key) pairs at or above ``threshold``.
    """
    s = _rows(a, q) @ _rows(a, keys).T
    # only earlier rows count; keys are sorted, so only columns from the first query on can be masked
    lo = int(np.searchsorted(keys, q[0]))
    tail = s[:, lo:]
    tail[keys[None, lo:] >= q[:, None]] = -np.inf
    if b is not None:
        cand = s >= floor
        count = int(np.count_nonzero(cand))
        if count * 8 > s.size:
            # many candidates: one more matrix product beats gathering them
            s = np.minimum(s, _rows(b, q) @ _rows(b, keys).T)
        elif count:
            ii, jj = _nonzero(cand)
            vals = np.minimum(s[ii, jj], np.einsum("ij,ij->i", b[q[ii]], b[keys[jj]]))
            s[ii, jj] = vals
    best = s.max(axis=1).astype(np.float64) if s.shape[1] else np.full(len(q), -np.inf)
    hit = np.flatnonzero(best >= threshold)  # pairs can only be in rows whose best reaches the threshold
    ii, jj = _nonzero(s[hit] >= threshold)
    best[~(best >= floor)] = np.nan
    return best, q[hit[ii]], keys[jj]


def _rows(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``x[idx]``, as a view when ``idx`` is a contiguous range (the exact search: no copy per block)."""
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
        return x[idx[0]:idx[-1] + 1]
    return x[idx]


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` for a 2-D mask, ~3x faster: flat positions, then divmod."""
    flat = np.flatnonzero(mask)
    return np.divmod(flat, mask.shape[1])


def _exact(a, b, threshold, floor):
    m = len(a)
    groups = _Groups(m)
    sim = np.full(m, np.nan)
    width = 2 if b is not None else 1
    step = int(max(16, min(4096, BLOCK_CELLS // (m * width))))
    keys_all = np.arange(m, dtype=np.int64)
    for s in range(0, m, step):
        e = min(m, s + step)
        best, qi, kj = _scan(keys_all[s:e], keys_all[:e], a, b, threshold, floor)
        sim[s:e] = best
        groups.add(qi, kj)
    return np.clip(sim, -1.0, 1.0), groups.parent


def _approximate(a, b, threshold, floor, probes, neighbours, seed):
    """Candidate pairs from a faiss inverted-file index, each compared with the exact similarity.

    The index holds ``unit(a | b)`` (its cosine is the mean of the two cosines, which is at least their
    minimum, so every pair at or above ``floor`` is close there too), reduced by PCA to
    :data:`INDEX_DIMS` dimensions and normalized: the index only proposes pairs, so a coarse space is
    enough, and a small one is cheaper to search. For the same reason, from :data:`FAST_SCAN_ROWS`
    training rows on, the cells hold 4-bit product-quantizer codes of two dimensions each (faiss's SIMD
    fast scan, ``IVF…,PQ{dims/2}x4fs,RFlat``) and the :data:`REFINE_FACTOR` x ``neighbours`` best by
    code are reranked by their vectors: scanning codes is ~3x cheaper than scanning vectors, so more
    probes cost less and find more pairs (``benchmarks/bench_curate.py --recall-only``).
    """
    faiss = _faiss()
    m = len(a)
    width = a.shape[1] + (0 if b is None else b.shape[1])
    cells = int(max(1, min(round(np.sqrt(m)), m // 39)))  # faiss's k-means wants >= 39 rows a cell
    dims = min(INDEX_DIMS, width, m)
    rng = np.random.default_rng(seed)
    # training rows: enough for faiss's k-means, few enough to bound memory (PCA takes the full width)
    fit = max(39 * cells, min(256 * cells, TRAIN_ROWS))
    sample = np.arange(m) if m <= fit else np.sort(rng.choice(m, fit, replace=False))
    with faiss_one_thread(faiss):  # the engine already runs checks side by side
        step = max(1, BLOCK_CELLS // width)
        if dims < width:
            pca = faiss.PCAMatrix(width, dims)
            pca.train(_joint(a, b, sample))
            y = np.concatenate([pca.apply(_joint(a, b, np.arange(s, min(m, s + step)))) for s in range(0, m, step)])
        else:
            y = _joint(a, b, np.arange(m))
        faiss.normalize_L2(y)
        if cells > 1:
            fast = len(sample) >= FAST_SCAN_ROWS and dims % 2 == 0
            spec = f"IVF{cells},PQ{dims // 2}x4fs,RFlat" if fast else f"IVF{cells},Flat"
            index = faiss.index_factory(dims, spec, faiss.METRIC_INNER_PRODUCT)
            ivf = faiss.downcast_index(index.base_index) if fast else index
            ivf.cp.seed = seed
            if fast:
                ivf.pq.cp.seed = seed  # the codes' own k-means
                index.k_factor = REFINE_FACTOR
            index.train(y[sample])
            ivf.nprobe = max(1, min(probes, cells))
        else:  # too few rows for cells: one flat list, searched whole
            index = faiss.IndexFlatIP(dims)
        index.add(y)
        return _neighbours(index, y, a, b, threshold, floor, neighbours)


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss-cpu", "The approximate semantic_duplicate search (more distinct rows "
                                     "than exact_max_rows)", "models") from exc
    return faiss


def _joint(a: np.ndarray, b: np.ndarray | None, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` of ``a | b`` as faiss takes them (float32, contiguous)."""
    x = _rows(a, idx) if b is None else np.concatenate([_rows(a, idx), _rows(b, idx)], axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def _neighbours(index, y, a, b, threshold, floor, neighbours):
    """Each row's nearest ``neighbours`` in the index, compared exactly: best earlier match and groups.

    A pair found from either of its rows counts for the later one. A row whose last neighbour is still
    about as close as a duplicate may have more: it is searched again with four times as many, until
    that is no longer so (a large group of copies is found whole).
    """
    m = len(a)
    groups = _Groups(m)
    best = np.full(m, -np.inf)
    todo = np.arange(m, dtype=np.int64)
    k = min(m, max(1, neighbours))
    while len(todo):
        again = []
        step = max(1, BLOCK_CELLS // (k * a.shape[1]))  # bounds the gathered neighbour vectors
        for s in range(0, len(todo), step):
            q = todo[s:s + step]
            dist, nbr = index.search(y[q], k)
            nbr = np.where(nbr < 0, q[:, None], nbr)  # fewer found than asked: padded with the row itself
            sim = _pair_sim(a, q, nbr)
            if b is not None:
                # min(a, b) >= floor needs a >= floor: the answers are compared only there
                ii, jj = _nonzero(sim >= floor)
                sb = np.einsum("ij,ij->i", b[q[ii]], b[nbr[ii, jj]])
                cut = np.full(sim.shape, -np.inf, dtype=sim.dtype)
                cut[ii, jj] = np.minimum(sim[ii, jj], sb)
                sim = cut
            sim[nbr == q[:, None]] = -np.inf
            later = np.maximum(q[:, None], nbr)
            ii, jj = _nonzero(sim >= floor)
            np.maximum.at(best, later[ii, jj], sim[ii, jj])
            ii, jj = _nonzero(sim >= threshold)
            groups.add(later[ii, jj], np.minimum(q[ii], nbr[ii, jj]))
            again.append(q[dist[:, -1] >= threshold - SATURATION_SLACK])
        todo = np.concatenate(again) if k < m else np.zeros(0, dtype=np.int64)
        k = min(m, 4 * k)
    best[~np.isfinite(best)] = np.nan
    return np.clip(best, -1.0, 1.0), groups.parent


def _pair_sim(x: np.ndarray, q: np.ndarray, nbr: np.ndarray) -> np.ndarray:
    """``x[q[i]] . x[nbr[i, j]]`` for every (i, j): one batched matrix-vector product."""
    return np.matmul(x[nbr], x[q][:, :, None])[:, :, 0]
