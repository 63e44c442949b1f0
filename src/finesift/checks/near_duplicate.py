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
node, so a million-row dataset costs what its distinct texts cost). Texts are decoded,
split into words and shingled with numpy straight from the Arrow buffers. rensa ``RMinHash``
signatures (``num_perm`` permutations, seeded by the audit seed) are banded into ``num_bands``
bands (default: chosen for ``threshold``, favouring recall): rensa's one-shot band check
(``RMinHashLSH.query_duplicate_flags_matrix_one_shot``) says which texts share a band with any
other, and for those the candidate pairs - texts whose signatures agree on a whole band, what an
``RMinHashLSH`` query returns - are enumerated with numpy sorts, with no Python list per query.
Candidates are unverified: those whose MinHash estimate is more than 0.15 below the threshold
(over 3 standard deviations) are dropped, every other one is verified with the exact Jaccard
similarity of the shingle sets (merged sorted hash arrays). Linked answers are expanded to the rows carrying them, gated
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
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from . import _shingles as sh
from ._groups import (EXACT_FIELDS, column_ids, components, dense_ids, exact_groups, fields_sep_free, joined_key,
                      lowest_member, nullable_int, row_ids, seed_of, tuple_ids)
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


def shingle_sets(texts, shingle_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated hashed word-shingle sets per text (CSR); ``texts``: a list of str or an Arrow string array."""
    return sh.word_sets(texts, shingle_size)


def _token_sets(values: np.ndarray, offsets: np.ndarray, docs: np.ndarray) -> list[list[bytes]]:
    """Sets ``docs`` as lists of 8-byte tokens (one C-level conversion, no per-shingle strings)."""
    toks = values.view("S8").tolist()
    return [toks[offsets[d]:offsets[d + 1]] for d in docs.tolist()]


class MinHashLSH:
    """Banded MinHash-LSH over CSR sets (keys 0..m-1 = the sets that have a candidate at all).

    Signatures are rensa's ``RMinHash`` (``num_perm`` permutations, seeded). Candidates of a set
    are the sets whose signatures agree on every row of at least one band (``num_bands`` bands of
    ``num_perm / num_bands`` rows), exactly what an ``RMinHashLSH`` returns; but rensa only says
    *whether* a set has a candidate (one Rust pass over a digest matrix), and the pairs themselves
    are found with numpy on the signatures of those sets: no Python list per query. MinHash
    estimates of candidate pairs come from the same signatures.
    """

    #: most candidate pairs expanded at once (memory bound)
    PAIR_BUDGET = 1 << 22

    def __init__(self, values: np.ndarray, offsets: np.ndarray, num_perm: int, num_bands: int, seed: int,
                 threshold: float = 0.5):
        from rensa import RMinHash, RMinHashLSH

        docs = np.flatnonzero(np.diff(offsets) > 0)
        self.num_bands = num_bands
        self.docs = docs
        self.sig = np.zeros((0, num_perm), dtype=np.uint32)
        if len(docs) < 2:
            self.docs = docs[:0]
            return
        sets = _token_sets(values, offsets, docs)
        matrix = RMinHash.digest_matrix_from_token_byte_sets(sets, num_perm, seed)
        flags = RMinHashLSH(threshold, num_perm, num_bands).query_duplicate_flags_matrix_one_shot(matrix)
        keep = np.flatnonzero(np.asarray(flags, dtype=bool))
        self.docs = docs[keep]
        sigs = RMinHash.from_token_sets([sets[i] for i in keep.tolist()], num_perm, seed)
        #: signatures, one row per key (row gathers for pair estimates are contiguous)
        self.sig = np.fromiter(itertools.chain.from_iterable(m.digest() for m in sigs), dtype=np.uint32,
                               count=len(keep) * num_perm).reshape(len(keep), num_perm)

    def _band_members(self):
        """Sets sharing a band value with another set, every band at once: (member set per slot,
        and per later member of a group: its set, the slot of its group's first member, its rank)."""
        m, num_perm = self.sig.shape
        bands = self.num_bands
        if m < 2:
            return (np.zeros(0, np.int64),) * 4
        rows = num_perm // bands
        band = self.sig.reshape(m, bands, rows)
        with np.errstate(over="ignore"):
            key = band[:, :, 0].astype(np.uint64)
            for r in range(1, rows):
                key = key * sh._P ^ band[:, :, r]
            key = np.ascontiguousarray(sh.mix64(key).T)  # (bands, m): a 64-bit hash per band value
        low = np.uint64((1 << 24) - 1)
        if m < 1 << 24:  # one uint64 sort per band: 40 bits of band hash, 24 bits of set id
            s = np.sort((key & ~low) | np.arange(m, dtype=np.uint64), axis=1).ravel()
            hk, doc = s >> np.uint64(24), (s & low).astype(np.int64)
        else:
            doc = np.argsort(key, axis=1, kind="stable")
            hk = np.take_along_axis(key, doc, axis=1).ravel()
            doc = doc.ravel()
        new = np.empty(len(hk), dtype=bool)
        new[0] = True
        np.not_equal(hk[1:], hk[:-1], out=new[1:])
        new[::m] = True  # a band's first slot starts a group
        start = np.flatnonzero(new)
        size = np.diff(np.r_[start, len(hk)])
        multi = np.repeat(size >= 2, size)
        doc, new = doc[multi], new[multi]
        # groups must agree on the whole 64-bit hash (40 bits were sorted on): split any that do not
        full = key.ravel()[np.flatnonzero(multi) // m * m + doc]
        grp = np.cumsum(new)
        order = np.lexsort((doc, full, grp))
        doc, full, grp = doc[order], full[order], grp[order]
        new = np.r_[True, (grp[1:] != grp[:-1]) | (full[1:] != full[:-1])]
        size = np.diff(np.r_[np.flatnonzero(new), len(doc)])
        multi = np.repeat(size >= 2, size)
        doc, new = doc[multi], new[multi]
        start = np.flatnonzero(new)
        grp = np.repeat(start, np.diff(np.r_[start, len(doc)]))
        pos = np.arange(len(doc))
        later = pos > grp
        return doc, doc[later], grp[later], (pos - grp)[later]

    def pairs(self, max_candidates: int):
        """Yield (a, b) candidate pairs as keys (a < b), each pair once; per later key b at most
        ``max_candidates`` earlier candidates (the lowest keys), one batch of later keys at a time."""
        members, later, first, rank = self._band_members()
        if not len(later):
            return
        # within a band group the lowest ``max_candidates`` earlier members are enough: the lowest
        # of the union over bands are among them
        cnt = np.minimum(rank, max_candidates)
        order = np.argsort(later, kind="stable")
        later, first, cnt = later[order], first[order], cnt[order]
        cum = np.cumsum(cnt)
        m = np.int64(len(self.docs))
        lo = 0
        while lo < len(later):
            base = cum[lo - 1] if lo else 0
            hi = max(int(np.searchsorted(cum, base + self.PAIR_BUDGET, side="right")), lo + 1)
            if hi < len(later):  # whole later keys per batch
                hi = int(np.searchsorted(later, later[hi - 1], side="right"))
            c = cnt[lo:hi]
            off = np.repeat(np.cumsum(c) - c, c)
            a = members[np.repeat(first[lo:hi], c) + (np.arange(len(off)) - off)]
            key = np.sort(np.repeat(later[lo:hi], c) * m + a)  # (later, earlier), deduplicated over bands
            key = key[np.r_[True, key[1:] != key[:-1]]]
            kb, ka = key // m, key % m
            new = np.flatnonzero(np.r_[True, kb[1:] != kb[:-1]])
            rk = np.arange(len(kb)) - np.repeat(new, np.diff(np.r_[new, len(kb)]))
            keep = rk < max_candidates
            yield ka[keep], kb[keep]
            lo = hi

    def estimate(self, ka: np.ndarray, kb: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """MinHash estimate of the Jaccard similarity of each key pair (share of equal signature rows)."""
        out = np.empty(len(ka), dtype=np.float64)
        sig = self.sig
        for lo in range(0, len(ka), chunk):
            out[lo:lo + chunk] = np.count_nonzero(sig[ka[lo:lo + chunk]] == sig[kb[lo:lo + chunk]], axis=1)
        return out / sig.shape[1]


def lsh_index(values: np.ndarray, offsets: np.ndarray, num_perm: int, num_bands: int, threshold: float,
              seed: int) -> MinHashLSH:
    """The MinHash-LSH index of the non-empty sets (keys 0..m-1; ``index.docs[key]`` is the set).

    The contract :meth:`NearDuplicate.index` implementations follow: ``docs``, ``pairs(max_candidates)``
    (batches of unverified candidate key pairs, a < b) and ``estimate(a, b)`` (MinHash Jaccard estimates).
    """
    return MinHashLSH(values, offsets, num_perm, num_bands, seed, threshold)


#: pairs with more shingles than this are decided by the MinHash estimate when it is clear-cut
_SCREEN_ITEMS = 64
#: margin below the threshold for that screen: >3 standard deviations of a 128-permutation estimate
_SCREEN_MARGIN = 0.15


def verified_edges(values: np.ndarray, offsets: np.ndarray, index, threshold: float,
                   max_candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs whose exact Jaccard is >= threshold: (a, b, jaccard), a < b as set ids.

    ``index`` (see :func:`lsh_index`) yields candidate batches of keys (``index.docs[key]`` is the
    set). Per later member at most ``max_candidates`` earlier candidates are verified (the lowest
    keys): this bounds the work on huge clusters of near-identical texts. Candidates whose MinHash
    estimate is more than ``_SCREEN_MARGIN`` below the threshold are dropped; the rest get the
    exact Jaccard similarity.
    """
    sizes = np.diff(offsets)
    docs = index.docs
    out_a, out_b, out_j = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for ka, kb in index.pairs(max_candidates):
        if len(ka) == 0:
            continue
        order = np.lexsort((ka, kb))
        ka, kb = ka[order], kb[order]
        first = np.flatnonzero(np.r_[True, kb[1:] != kb[:-1]])
        rank = np.arange(len(kb)) - np.repeat(first, np.diff(np.r_[first, len(kb)]))
        ka, kb = ka[rank < max_candidates], kb[rank < max_candidates]
        # |A&B|/|A|B| <= min/max: sizes alone rule some pairs out
        sa, sb = sizes[docs[ka]], sizes[docs[kb]]
        ok = np.minimum(sa, sb) >= threshold * np.maximum(sa, sb)
        # the MinHash estimate screens out candidates far below the threshold (most of them)
        ok = np.flatnonzero(ok)
        ok = ok[index.estimate(ka[ok], kb[ok]) >= threshold - _SCREEN_MARGIN]
        a, b = docs[ka[ok]], docs[kb[ok]]
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


def _expand(node_of_item: np.ndarray, a: np.ndarray, b: np.ndarray, cap: int,
            order: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Item pairs behind node pairs: (item, item, index of the node pair), plus pairs of items
    that share a node (index -1). At most ``cap`` items per node take part: the first by id, or
    the first in ``order`` (items sorted by node)."""
    if order is None:
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
        seed = seed_of(ctx)
        groups = exact_groups(table, ctx)
        # items: distinct (compared text, prompt) when the prompt gates, else the nodes themselves. Exact
        # groups (same normalized system, prompt, answer) are such items: read them off their kept rows
        gate = p.prompt_threshold > 0 and "prompt" not in p.fields
        by_group = gate and fields_sep_free(table, EXACT_FIELDS, ctx)
        # nodes: distinct compared texts; only these are shingled and indexed
        if len(p.fields) == 1:
            node, uniq = column_ids(table, p.fields[0], ctx)
        else:
            node, uniq = dense_ids(joined_key(table, tuple(p.fields), ctx))
        values, offsets = shingle_sets(uniq, p.shingle_size)
        sizes = np.diff(offsets)
        idx_sizes = np.where(sizes < p.min_shingles, 0, sizes)  # too short to judge by overlap
        idx_offsets = np.zeros_like(offsets)
        np.cumsum(idx_sizes, out=idx_offsets[1:])
        idx_values = values[np.repeat(idx_sizes > 0, sizes)]
        index = self.index(idx_values, idx_offsets, p.num_perm, p.num_bands or auto_bands(p.num_perm, p.threshold),
                           p.threshold, seed)
        na, nb, nj = verified_edges(idx_values, idx_offsets, index, p.threshold, p.max_candidates)
        if gate:
            if by_group:
                pnode, n_prompts = tuple_ids(table, ("system", "prompt"), ctx)
                item, item_node, item_prompt = groups.gid, node[groups.kept_pos], pnode[groups.kept_pos]
                first_row = groups.rows[groups.kept_pos]
                # items in (text, prompt) order, as ids from sorted (text, prompt) keys would be
                order = np.lexsort((item_prompt, item_node))

                def prompt_texts(ids: np.ndarray) -> pa.Array:
                    where = np.full(n_prompts, n, dtype=np.int64)
                    np.minimum.at(where, pnode, np.arange(n, dtype=np.int64))  # a row holding each prompt
                    return joined_key(table, ("system", "prompt"), ctx, take=where[ids])
            else:
                pnode, prompts = dense_ids(joined_key(table, ("system", "prompt"), ctx))
                n_prompts = len(prompts)
                ukeys, item = np.unique(node * n_prompts + pnode, return_inverse=True)
                item_node, item_prompt = ukeys // n_prompts, ukeys % n_prompts
                first_row = rows[lowest_member(item, rows, len(ukeys))]
                order = None

                def prompt_texts(ids: np.ndarray) -> pa.Array:
                    return prompts.take(pa.array(ids))
            ia, ib, e = _expand(item_node, na, nb, p.max_copies, order)
            j_out = np.ones(len(e))
            j_out[e >= 0] = nj[e[e >= 0]]
            similar = np.ones(len(ia), dtype=bool)
            diff = np.flatnonzero(item_prompt[ia] != item_prompt[ib])
            if len(diff):
                # shingle only the prompts that take part, and compare each pair of prompts once
                pa_, pb_ = item_prompt[ia][diff], item_prompt[ib][diff]
                mark = np.zeros(n_prompts, dtype=bool)
                mark[pa_] = True
                mark[pb_] = True
                used = np.flatnonzero(mark)
                rank = np.cumsum(mark) - 1
                x, y = rank[pa_], rank[pb_]
                pairs = pc.dictionary_encode(pa.array(np.minimum(x, y) * len(used) + np.maximum(x, y)))
                key = pairs.dictionary.to_numpy()
                pv, po = shingle_sets(prompt_texts(used), p.shingle_size)
                ok_pair = similar_enough(pv, po, key // len(used), key % len(used), p.prompt_threshold,
                                         p.num_perm, seed)
                similar[diff] = ok_pair[pairs.indices.to_numpy()]
            ok = similar & (np.where(e >= 0, True, sizes[item_node[ia]] > 0))
            ia, ib, j_out = ia[ok], ib[ok], j_out[ok]
        else:
            item, item_node = node, np.arange(len(uniq))
            ia, ib, j_out = na, nb, nj
            first_row = rows[lowest_member(item, rows, len(item_node))]
        n_items = len(item_node)
        if p.grouping == "keep_first":
            item_partner = keep_first(first_row, ia, ib, j_out)
        else:
            item_partner = union_find(first_row, ia, ib)
        # a row's target item: its partner, else its own item (copies point at the item's first row)
        target = np.where(item_partner >= 0, item_partner, np.arange(n_items))
        # similarity of each item's text with its target's (per item, then per row)
        item_sim = np.ones(n_items)
        d = np.flatnonzero(item_node != item_node[target])
        item_sim[d] = sh.jaccard(values, offsets, item_node[d], item_node[target[d]])
        t = target[item]
        partner_row = first_row[t]
        member = (partner_row != rows) & ~groups.is_duplicate
        if not gate:
            member &= sizes[item_node[item]] > 0  # texts without words are never grouped
        sim = np.zeros(n, dtype=np.float32)
        sim[member] = item_sim[item[member]]
        return partner_row, member, sim

    def decide(self, scores: pa.Table) -> np.ndarray:
        has_partner = scores[self.partner_column].is_valid().to_numpy(zero_copy_only=False)
        sim = scores["near_duplicate_similarity"].to_numpy(zero_copy_only=False)
        return has_partner & (sim >= self.params.min_similarity)
