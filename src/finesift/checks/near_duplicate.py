"""``near_duplicate``: nearly the same prompt and answer as an earlier row (MinHash-LSH, verified).

What is compared (defaults measured with ``benchmarks/bench_near_duplicate.py`` against a
third party's near-duplicate decisions on GPTeacher Toolformer, and on 2,000 clean
Tatoeba rows, where near duplicates should be rare):

=================================  =====  =====  =====  ================  ==================
setting                            prec.  rec.   F1     Tatoeba sample    Tatoeba first 2k
=================================  =====  =====  =====  ================  ==================
defaults                           0.867  0.821  0.843  10 flagged        88 flagged
``min_shingles=0``                 0.865  0.826  0.845  57                311
``prompt_threshold=0``             0.863  0.833  0.847  16                177
``threshold=0.4``                  0.767  0.877  0.818  13                88
``threshold=0.6``                  0.940  0.646  0.765  3                 86
``shingle_size=3``                 0.939  0.597  0.730  3                 73
``fields=["prompt", "output"]``    0.416  0.989  0.586  87                824
``grouping="union_find"``          0.744  0.907  0.818  10                88
=================================  =====  =====  =====  ================  ==================

* ``fields`` = the normalized answer, as a set of word 2-grams (``shingle_size``; words =
  runs of letters or digits). The whole row is much worse: GPTeacher prompts share a long
  tool description.
* ``threshold`` = 0.5: answers are linked when the exact Jaccard similarity of their
  shingle sets is >= 0.5.
* ``prompt_threshold`` = 0.5: the prompts (with the system prompt) must be at least that
  similar too, so two different questions with the same answer ("I'm sick." / "I'm ill." ->
  "Je suis malade.") are not near duplicates unless the questions are alike.
* ``min_shingles`` = 6: answers with fewer distinct shingles (about 7 words or fewer) only
  group when identical: in a short answer one word is the whole difference ("C'est mon
  chat." / "C'est mon chien." share half their 2-grams).

How: only the distinct normalized answers go into the index (copies of one text are one
node, so a million-row dataset costs what its distinct texts cost). rensa ``RMinHash``
signatures (``num_perm`` permutations, seeded by the audit seed) go into an ``RMinHashLSH``
with ``num_bands`` bands (default: chosen for ``threshold``, favouring recall). LSH returns
unverified candidates: those whose MinHash estimate is more than 0.15 below the threshold
(over 3 standard deviations) are dropped, every other one is verified with the exact Jaccard
similarity of the shingle sets. Linked answers are expanded to the rows carrying them, gated
by prompt similarity (exact, or the MinHash estimate when clear-cut for long prompts), and
grouped:

* ``grouping="keep_first"`` (default): in row order, a row is a near duplicate of the most
  similar earlier row that is itself kept. Every flagged row is within ``threshold`` of its
  partner, and partners are never flagged.
* ``grouping="union_find"``: connected components; every member points at the component's
  lowest row. Groups do not depend on row order, but chains link rows that are not alike
  (a member can have similarity 0 with its partner; precision drops to 0.74).

Rows that are exact duplicates (same normalized system prompt, prompt and answer as the kept
copy) are left to ``exact_duplicate`` and not flagged again. Texts without words are never
grouped.

Columns:

* ``near_duplicate_similarity`` (float32, 0..1): exact Jaccard similarity of this row's answer
  shingles with those of the row in ``near_duplicate_of``; higher = more similar; 0 where there
  is no partner.
* ``near_duplicate_of`` (int64, partner): ``row`` of the kept row; null for kept rows, unique
  rows and exact duplicates.

Flagged: rows with a partner whose similarity is >= ``min_similarity`` (default 0: all of them).
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from . import _shingles as sh
from ._groups import components, dense_ids, exact_groups, joined_key, lowest_member, nullable_int, row_ids, seed_of
from .base import Check, CheckParams, Context, register


class NearDuplicateParams(CheckParams):
    fields: list[str] = Field(default_factory=lambda: ["output"])
    """Normalized columns compared (joined): "output", "prompt", "system"."""
    shingle_size: int = Field(2, ge=1, le=8)
    """Words per shingle."""
    threshold: float = Field(0.5, gt=0.0, le=1.0)
    """Verified Jaccard similarity of shingle sets at or above which two texts are linked."""
    num_perm: int = Field(128, ge=8, le=1024)
    """MinHash permutations."""
    num_bands: int | None = None
    """LSH bands (must divide num_perm); default: chosen for ``threshold`` to favour recall."""
    prompt_threshold: float = Field(0.5, ge=0.0, le=1.0)
    """The prompts (with the system prompt) must also be at least this similar (word-shingle Jaccard);
    0 = compare only ``fields``. Ignored when ``fields`` includes the prompt."""
    max_copies: int = Field(16, ge=1)
    """Rows with the same compared text but different prompts: at most this many per text are compared."""
    min_shingles: int = Field(6, ge=0)
    """Texts with fewer distinct shingles are only compared exactly (short texts differ by one word)."""
    max_candidates: int = Field(256, ge=1)
    """Most earlier LSH candidates verified per text (bounds work on huge clusters of near-identical texts)."""
    grouping: Literal["union_find", "keep_first"] = "keep_first"
    """union_find: connected components of verified pairs (order-independent groups, transitive);
    keep_first: in row order, a row duplicates the most similar earlier kept row (no chains)."""
    min_similarity: float = Field(0.0, ge=0.0, le=1.0)
    """Decide: flag only members at least this similar to the kept member."""

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in ("system", "prompt", "output")]
        if bad or not v:
            raise ValueError(f"fields must be a non-empty subset of system, prompt, output (got {v})")
        return v

    @model_validator(mode="after")
    def _bands_divide(self):
        if self.num_bands is not None and (self.num_bands < 1 or self.num_perm % self.num_bands):
            raise ValueError(f"num_bands ({self.num_bands}) must divide num_perm ({self.num_perm})")
        return self


@lru_cache(maxsize=64)
def auto_bands(num_perm: int, threshold: float, fn_weight: float = 0.8) -> int:
    """LSH bands b (b*r = num_perm) minimizing weighted false-positive + false-negative area.

    Candidates are verified exactly, so a false positive only costs time while a false
    negative loses a duplicate: false negatives weigh 0.8 (datasketch's default is 0.5).
    """
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 only has trapz
    s = np.linspace(0.0, 1.0, 1001)
    best, best_err = 1, np.inf
    for b in range(1, num_perm + 1):
        if num_perm % b:
            continue
        p = 1.0 - (1.0 - s ** (num_perm // b)) ** b
        fp = trapezoid(np.where(s < threshold, p, 0.0), s)
        fn = trapezoid(np.where(s >= threshold, 1.0 - p, 0.0), s)
        err = (1 - fn_weight) * fp + fn_weight * fn
        if err < best_err - 1e-12:
            best, best_err = b, err
    return best


def shingle_sets(texts: list[str], shingle_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated hashed word-shingle sets per text (CSR)."""
    w, wo = sh.words(texts)
    s, so = sh.shingles(w, wo, shingle_size)
    return sh.unique_sets(s, so)


def lsh_index(values: np.ndarray, offsets: np.ndarray, num_perm: int, num_bands: int, threshold: float,
              seed: int):
    """rensa signatures of the non-empty sets, inserted into an ``RMinHashLSH`` (keys 0..m-1).

    Returns (row of each key, signatures, index).
    """
    from rensa import RMinHash, RMinHashLSH

    docs = np.flatnonzero(np.diff(offsets) > 0)
    # 8-byte tokens straight from the hashes (one C-level conversion, no per-shingle strings)
    toks = values.view("S8").tolist()
    sets = [toks[offsets[d]:offsets[d + 1]] for d in docs.tolist()]
    sigs = RMinHash.from_token_sets(sets, num_perm, seed)
    lsh = RMinHashLSH(threshold, num_perm, num_bands)
    lsh.insert_many(sigs)
    return docs, sigs, lsh


def query_batches(docs: np.ndarray, sigs: list, lsh, batch: int = 2048):
    """Yield (a, b) unverified candidate pairs as index keys (a < b), one query batch at a time."""
    for start in range(0, len(sigs), batch):
        found = lsh.query_all(sigs[start:start + batch])
        lens = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
        a = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64, count=int(lens.sum()))
        b = np.repeat(np.arange(start, start + len(found), dtype=np.int64), lens)
        keep = a < b  # from the later member's list only: each unordered pair once, no self-matches
        yield a[keep], b[keep]


#: pairs with more shingles than this are decided by the MinHash estimate when it is clear-cut
_SCREEN_ITEMS = 64
#: margin below the threshold for that screen: >3 standard deviations of a 128-permutation estimate
_SCREEN_MARGIN = 0.15


def verified_edges(values: np.ndarray, offsets: np.ndarray, docs: np.ndarray, sigs: list, pairs,
                   threshold: float, max_candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs whose exact Jaccard is >= threshold: (a, b, jaccard), a < b as set ids.

    ``pairs`` yields candidate batches of index keys (``docs[key]`` is the set). Per later
    member at most ``max_candidates`` earlier candidates are verified (the lowest keys): this
    bounds the work on huge clusters of near-identical texts. Candidates whose MinHash
    estimate is more than ``_SCREEN_MARGIN`` below the threshold are dropped; the rest get
    the exact Jaccard similarity.
    """
    sizes = np.diff(offsets)
    out_a, out_b, out_j = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for ka, kb in pairs:
        if len(ka) == 0:
            continue
        order = np.lexsort((ka, kb))
        ka, kb = ka[order], kb[order]
        first = np.flatnonzero(np.r_[True, kb[1:] != kb[:-1]])
        rank = np.arange(len(kb)) - np.repeat(first, np.diff(np.r_[first, len(kb)]))
        ka, kb = ka[rank < max_candidates], kb[rank < max_candidates]
        # the MinHash estimate screens out candidates far below the threshold (most of them)
        est = np.fromiter((sigs[x].jaccard(sigs[y]) for x, y in zip(ka.tolist(), kb.tolist())),
                          dtype=np.float64, count=len(ka))
        keep = est >= threshold - _SCREEN_MARGIN
        a, b = docs[ka[keep]], docs[kb[keep]]
        # |A&B|/|A|B| <= min/max: sizes alone rule some pairs out
        ok = np.minimum(sizes[a], sizes[b]) >= threshold * np.maximum(sizes[a], sizes[b])
        a, b = a[ok], b[ok]
        j = sh.jaccard(values, offsets, a, b)
        keep = j >= threshold - 1e-9
        out_a.append(a[keep])
        out_b.append(b[keep])
        out_j.append(j[keep])
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_j)


def similar_enough(values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray, threshold: float,
                   num_perm: int, seed: int) -> np.ndarray:
    """Is the Jaccard similarity of each pair of sets >= threshold?

    Pairs of large sets are decided by the MinHash estimate when it is more than
    ``_SCREEN_MARGIN`` away from the threshold (>3 standard deviations); the others get
    the exact similarity.
    """
    sizes = np.diff(offsets)
    out = np.zeros(len(a), dtype=bool)
    exact = np.ones(len(a), dtype=bool)
    big = np.flatnonzero(sizes[a] + sizes[b] > _SCREEN_ITEMS)
    if len(big):
        from rensa import RMinHash

        used, inv = np.unique(np.r_[a[big], b[big]], return_inverse=True)
        toks = values.view("S8").tolist()
        sigs = RMinHash.from_token_sets([toks[offsets[d]:offsets[d + 1]] for d in used.tolist()], num_perm, seed)
        est = np.fromiter((sigs[x].jaccard(sigs[y]) for x, y in zip(inv[: len(big)].tolist(), inv[len(big):].tolist())),
                          dtype=np.float64, count=len(big))
        sure = np.abs(est - threshold) > _SCREEN_MARGIN
        out[big[sure]] = est[sure] > threshold
        exact[big[sure]] = False
    idx = np.flatnonzero(exact)
    out[idx] = sh.jaccard(values, offsets, a[idx], b[idx]) >= threshold - 1e-9
    return out


def keep_first(rank: np.ndarray, a: np.ndarray, b: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Greedy keep-first grouping of nodes linked by edges (a, b, similarity j).

    In ``rank`` order a node is a duplicate of the most similar earlier node that is itself
    kept (ties: the earlier one); otherwise it is kept. Returns the partner per node (-1 = kept).
    """
    n = len(rank)
    partner = np.full(n, -1, dtype=np.int64)
    if len(a) == 0:
        return partner
    swap = rank[a] > rank[b]
    early, late = np.where(swap, b, a), np.where(swap, a, b)
    order = np.lexsort((rank[early], -j, rank[late]))
    removed = np.zeros(n, dtype=bool)
    # sequential by nature (a node's status depends on earlier ones): one pass over the edges
    for e, l in zip(early[order].tolist(), late[order].tolist()):
        if not removed[l] and not removed[e]:
            removed[l] = True
            partner[l] = e
    return partner


def union_find(rank: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the edges; every node points at its component's first node by rank."""
    comp = np.unique(components(len(rank), a, b), return_inverse=True)[1]
    head = lowest_member(comp, rank, int(comp.max()) + 1 if len(comp) else 0)
    partner = head[comp]
    partner[partner == np.arange(len(rank))] = -1
    return partner


def _expand(node_of_item: np.ndarray, a: np.ndarray, b: np.ndarray, cap: int) -> tuple[np.ndarray, ...]:
    """Item pairs behind node pairs: (item, item, index of the node pair), plus pairs of items
    that share a node (index -1). At most ``cap`` items per node take part (the first by id)."""
    order = np.argsort(node_of_item, kind="stable")
    n_nodes = int(node_of_item.max()) + 1 if len(node_of_item) else 0
    count = np.minimum(np.bincount(node_of_item, minlength=n_nodes), cap)
    start = np.searchsorted(node_of_item[order], np.arange(n_nodes))
    # across linked nodes
    ca, cb = count[a], count[b]
    per = ca * cb
    e = np.repeat(np.arange(len(a)), per)
    loc = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    ia = order[start[a][e] + loc % np.maximum(ca[e], 1)]
    ib = order[start[b][e] + loc // np.maximum(ca[e], 1)]
    # inside one node (same compared text, different prompts)
    multi = np.flatnonzero(count > 1)
    si, sj = [], []
    for k in np.unique(count[multi]):
        base = start[multi[count[multi] == k]]
        x, y = np.triu_indices(int(k), 1)
        si.append((base[:, None] + x[None, :]).ravel())
        sj.append((base[:, None] + y[None, :]).ravel())
    si = order[np.concatenate(si)] if si else np.zeros(0, np.int64)
    sj = order[np.concatenate(sj)] if sj else np.zeros(0, np.int64)
    return np.r_[ia, si], np.r_[ib, sj], np.r_[e, np.full(len(si), -1)]


@register
class NearDuplicate(Check):
    name = "near_duplicate"
    description = "Nearly the same prompt and answer as an earlier row (MinHash-LSH, verified Jaccard)."
    scope = "dataset"
    score_columns = {
        "near_duplicate_similarity": "exact Jaccard of the compared fields' word-shingle sets with the row in "
        "near_duplicate_of (0..1); higher = more similar; 0 = no near duplicate",
    }
    partner_column = "near_duplicate_of"
    Params = NearDuplicateParams
    #: builds the MinHash-LSH index (the benchmark swaps in datasketch through this hook)
    index = staticmethod(lsh_index)

    def score(self, table: pa.Table, ctx: Context) -> pa.Table:
        n = table.num_rows
        rows = row_ids(table)
        sim = np.zeros(n, dtype=np.float32)
        member = np.zeros(n, dtype=bool)
        partner_row = np.zeros(n, dtype=np.int64)
        if n:
            partner_row, member, sim = self._score(table, ctx, rows)
        return pa.table({
            "near_duplicate_similarity": pa.array(sim, pa.float32()),
            self.partner_column: nullable_int(partner_row, member),
        })

    def _score(self, table: pa.Table, ctx: Context, rows: np.ndarray):
        p = self.params
        n = len(rows)
        # nodes: distinct compared texts; only these are shingled and indexed
        node, uniq = dense_ids(joined_key(table, tuple(p.fields), ctx))
        values, offsets = shingle_sets(uniq.to_pylist(), p.shingle_size)
        sizes = np.diff(offsets)
        idx_sizes = np.where(sizes < p.min_shingles, 0, sizes)  # too short to judge by overlap
        idx_offsets = np.zeros_like(offsets)
        np.cumsum(idx_sizes, out=idx_offsets[1:])
        idx_values = values[np.repeat(idx_sizes > 0, sizes)]
        docs, sigs, lsh = self.index(idx_values, idx_offsets, p.num_perm,
                                     p.num_bands or auto_bands(p.num_perm, p.threshold), p.threshold, seed_of(ctx))
        na, nb, nj = verified_edges(idx_values, idx_offsets, docs, sigs, query_batches(docs, sigs, lsh),
                                    p.threshold, p.max_candidates)
        # items: distinct (compared text, prompt) when the prompt gates, else the nodes themselves
        gate = p.prompt_threshold > 0 and "prompt" not in p.fields
        if gate:
            pnode, prompts = dense_ids(joined_key(table, ("system", "prompt"), ctx))
            ukeys, item = np.unique(node * len(prompts) + pnode, return_inverse=True)
            item_node, item_prompt = ukeys // len(prompts), ukeys % len(prompts)
            ia, ib, e = _expand(item_node, na, nb, p.max_copies)
            j_out = np.ones(len(e))
            j_out[e >= 0] = nj[e[e >= 0]]
            similar = np.ones(len(ia), dtype=bool)
            diff = np.flatnonzero(item_prompt[ia] != item_prompt[ib])
            if len(diff):
                # shingle only the prompts that take part
                used, inv = np.unique(np.r_[item_prompt[ia][diff], item_prompt[ib][diff]], return_inverse=True)
                pv, po = shingle_sets(prompts.take(pa.array(used)).to_pylist(), p.shingle_size)
                similar[diff] = similar_enough(pv, po, inv[: len(diff)], inv[len(diff):], p.prompt_threshold,
                                               p.num_perm, seed_of(ctx))
            ok = similar & (np.where(e >= 0, True, sizes[item_node[ia]] > 0))
            ia, ib, j_out = ia[ok], ib[ok], j_out[ok]
        else:
            item, item_node = node, np.arange(len(uniq))
            ia, ib, j_out = na, nb, nj
        n_items = len(item_node)
        first_row = rows[lowest_member(item, rows, n_items)]
        if p.grouping == "keep_first":
            item_partner = keep_first(first_row, ia, ib, j_out)
        else:
            item_partner = union_find(first_row, ia, ib)
        # a row's target item: its partner, else its own item (copies point at the item's first row)
        target = np.where(item_partner >= 0, item_partner, np.arange(n_items))
        t = target[item]
        partner_row = first_row[t]
        member = (partner_row != rows) & ~exact_groups(table, ctx).is_duplicate
        if not gate:
            member &= sizes[node] > 0  # texts without words are never grouped
        sim = np.zeros(n, dtype=np.float32)
        if member.any():
            xa, xb = item_node[item[member]], item_node[t[member]]
            j = np.ones(len(xa))
            d = xa != xb
            j[d] = sh.jaccard(values, offsets, xa[d], xb[d])
            sim[member] = j
        return partner_row, member, sim

    def decide(self, scores: pa.Table) -> np.ndarray:
        has_partner = scores[self.partner_column].is_valid().to_numpy(zero_copy_only=False)
        sim = scores["near_duplicate_similarity"].to_numpy(zero_copy_only=False)
        return has_partner & (sim >= self.params.min_similarity)
