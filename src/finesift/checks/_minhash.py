"""One MinHash path for the checks that look for nearly equal texts (``near_duplicate``, ``leakage``).

Shingling (hashed word n-gram sets, :func:`shingle_sets`) -> rensa ``RMinHash`` signatures ->
LSH candidates (:class:`MinHashLSH`, bands from :func:`auto_bands`; at most ``max_candidates``
per text, a few in huge clusters of near-identical texts) -> exact verification
(:func:`verified_edges`, :func:`similar_enough`: exact Jaccard of the shingle sets, with the
MinHash estimate screening out clear misses).

Why candidate pairs come from our own banding of rensa's signatures and not from
``RMinHashLSH.query``: a query returns every text that shares a band, as a Python list, so a
cluster of 200,000 templated texts costs 200,000^2 candidates; here each text takes at most
``max_candidates`` (``benchmarks/bench_near_duplicate.py`` times both: the same on ordinary data).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import _shingles as sh


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


def _rensa_hashes(values: np.ndarray) -> np.ndarray:
    """rensa's token hash of each item (uint64), each distinct item of ``values`` hashed once (called per
    chunk of sets: a template's items are hashed once per chunk, not once per set).

    Arrow's hash table finds the distinct items in one pass (a sort with np.unique took 5 s of 13
    on 200k templated texts, whose items are mostly the template's).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from rensa import RMinHash

    enc = pc.dictionary_encode(pa.array(values, pa.uint64()))
    uniq = enc.dictionary.to_numpy()
    toks = uniq.view("S8").tolist()  # each item as its 8-byte token
    table = np.asarray(RMinHash.hash_token_sets([toks])[0], dtype=np.uint64)
    return table[enc.indices.to_numpy(zero_copy_only=False)]


#: signature bits kept per permutation: b-bit MinHash (Li & Koenig, 2010) with b = 16. Two different
#: minima agree on their low 16 bits with probability 2^-16, which raises a Jaccard estimate by at most
#: 1.5e-5 and adds as few LSH candidates (all verified exactly), for half the memory of rensa's 32 bits
#: (102 -> 51 MB on 200k templated texts)
SIG_DTYPE = np.uint16


def signatures(values: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int,
               docs: np.ndarray | None = None) -> np.ndarray:
    """rensa ``RMinHash`` signatures of CSR sets ``docs`` (default: all), the low :data:`SIG_DTYPE` bits of
    each permutation's minimum, one row per set: those of ``RMinHash.from_token_sets`` on each item's
    8-byte token, without a Python object per item and a bounded chunk of sets at a time (no array of
    every item's hash or code is held: 100+ MB on 200k templated texts)."""
    from rensa import RMinHash

    docs = np.arange(len(offsets) - 1) if docs is None else np.asarray(docs)
    sig = np.zeros((len(docs), num_perm), dtype=SIG_DTYPE)
    step = max(1, (1 << 19) // num_perm)  # rows per to_rows() call: bounded Python ints
    for lo in range(0, len(docs), step):
        v, o = sh.take((values, offsets), docs[lo:lo + step])
        rows = RMinHash.digest_matrix_from_flat_token_hashes(_rensa_hashes(v), o.astype(np.uint64), num_perm,
                                                             seed).to_rows()
        sig[lo:lo + len(rows)] = np.asarray(rows, dtype=np.uint32).astype(SIG_DTYPE)
    return sig


class MinHashLSH:
    """Banded MinHash-LSH over CSR sets (keys 0..m-1 = the non-empty sets, in order).

    Signatures are rensa's ``RMinHash`` (``num_perm`` permutations, seeded). Candidates of a set
    are the sets whose signatures agree on every row of at least one band (``num_bands`` bands of
    ``num_perm / num_bands`` rows), exactly what an ``RMinHashLSH`` returns; the pairs are found with
    numpy on the signatures, one band at a time: no Python list per query and no matrix of every
    set's digests at once. MinHash estimates of candidate pairs come from the same signatures.
    """

    #: most candidate pairs expanded at once (memory bound)
    PAIR_BUDGET = 1 << 18
    #: a band group with more members than this (the default max_candidates) is a huge cluster (templated: texts
    #: that differ in a token or two)...
    HUGE_GROUP = 256
    #: ...whose later members take only this many of its first members as candidates, not
    #: ``max_candidates``: bounded work per text (the first members are the cluster's kept texts)
    HUGE_CANDIDATES = 4
    HUGE_BANDS = 4

    def __init__(self, values: np.ndarray, offsets: np.ndarray, num_perm: int, num_bands: int, seed: int,
                 threshold: float = 0.5):
        docs = np.flatnonzero(np.diff(offsets) > 0)
        self.num_bands = num_bands
        self.docs = docs
        self.sig = np.zeros((0, num_perm), dtype=SIG_DTYPE)
        if len(docs) < 2:
            self.docs = docs[:0]
            return
        # the signatures of every non-empty set, a bounded chunk of sets at a time (16 bits: 51 MB on 200k
        # templated texts). Sets without any candidate are not pruned first with rensa's one-shot LSH
        # query: it needs the digest matrix of every set at once (another 205 MB there) and the band
        # groups below find the same candidates
        #: signatures, one row per key (row gathers for pair estimates are contiguous)
        self.sig = signatures(values, offsets, num_perm, seed, docs)

    def _band_groups(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Groups of two or more sets whose signatures agree on every row of band ``k``: (member sets,
        group by group, each group's in increasing order; each group's start in it; group sizes)."""
        m, num_perm = self.sig.shape
        rows = num_perm // self.num_bands
        band = self.sig[:, k * rows:(k + 1) * rows]
        with np.errstate(over="ignore"):
            key = band[:, 0].astype(np.uint64)
            for r in range(1, rows):
                key = key * sh._P ^ band[:, r]
            key = sh.mix64(key)  # a 64-bit hash per band value
        low = np.uint64((1 << 24) - 1)
        if m < 1 << 24:  # one uint64 sort: 40 bits of band hash, 24 bits of set id
            s = np.sort((key & ~low) | np.arange(m, dtype=np.uint64))
            hk, doc = s >> np.uint64(24), (s & low).astype(np.int64)
            del s
        else:
            doc = np.argsort(key, kind="stable")
            hk = key[doc]
        new = np.empty(m, dtype=bool)
        new[0] = True
        np.not_equal(hk[1:], hk[:-1], out=new[1:])
        del hk
        size = np.diff(np.r_[np.flatnonzero(new), m])
        multi = np.repeat(size >= 2, size)
        doc, new = doc[multi], new[multi]
        if not len(doc):
            return doc, np.zeros(0, np.int64), np.zeros(0, np.int64)
        # groups must agree on the whole 64-bit hash (40 bits were sorted on): split any that do not
        full = key[doc]
        grp = np.cumsum(new)
        order = np.lexsort((doc, full, grp))
        doc, full, grp = doc[order], full[order], grp[order]
        del order
        new = np.r_[True, (grp[1:] != grp[:-1]) | (full[1:] != full[:-1])]
        del full, grp
        start = np.flatnonzero(new)
        size = np.diff(np.r_[start, len(doc)])
        multi = np.repeat(size >= 2, size)
        doc = doc[multi]
        size = size[size >= 2]
        start = np.zeros(len(size), dtype=np.int64)
        np.cumsum(size[:-1], out=start[1:])
        return doc, start, size

    def _candidates(self, max_candidates: int) -> tuple[np.ndarray, ...]:
        """Band groups one band at a time, in band order (memory: a few arrays of ``m``, not of bands x m).

        Returns ``members`` (the first ``max_candidates`` sets of every group: only those are ever an
        earlier candidate) and, per later member of a group that takes candidates from it: its set
        (``later``), the slot in ``members`` of its group's first set (``first``), and how many of the
        group's first sets it takes (``cnt``: its rank, at most ``max_candidates``; in a group of more
        than :attr:`HUGE_GROUP` sets at most :attr:`HUGE_CANDIDATES`, from the first :attr:`HUGE_BANDS`
        bands where the set is in such a group)."""
        m = len(self.docs)
        idt = np.int32 if self.num_bands * m < 1 << 31 else np.int64
        huge_seen = np.zeros(m, dtype=np.int16)
        huge_cap = min(self.HUGE_CANDIDATES, max_candidates)
        members, later, first, cnt = [], [], [], []
        n_members = 0
        for k in range(self.num_bands if m >= 2 else 0):
            doc, start, size = self._band_groups(k)
            if not len(doc):
                continue
            gstart = np.repeat(start, size)
            rank = np.arange(len(doc)) - gstart
            keep = rank < max_candidates  # members a later set can take
            slot = np.zeros(len(size), dtype=np.int64)  # each group's first slot in this band's kept members
            np.cumsum(np.minimum(size, max_candidates)[:-1], out=slot[1:])
            members.append(doc[keep].astype(idt))
            is_later = rank > 0
            d = doc[is_later]
            g = np.repeat(np.arange(len(size)), size)[is_later]
            c = np.minimum(rank[is_later], max_candidates)
            huge = size[g] > self.HUGE_GROUP
            if huge.any():
                hd = d[huge]
                c[huge] = np.where(huge_seen[hd] < self.HUGE_BANDS, np.minimum(c[huge], huge_cap), 0)
                huge_seen[hd] = np.minimum(huge_seen[hd] + 1, self.HUGE_BANDS)
            take = c > 0
            later.append(d[take].astype(idt))
            first.append((slot[g[take]] + n_members).astype(np.int64))
            cnt.append(c[take].astype(idt))
            n_members += int(keep.sum())
        if not members:
            return (np.zeros(0, idt),) * 4
        cat = np.concatenate
        return cat(members), cat(later), cat(first), cat(cnt)

    def pairs(self, max_candidates: int):
        """Yield (a, b) candidate pairs as keys (a < b), each pair once; per later key b at most
        ``max_candidates`` earlier candidates (the lowest keys), one batch of later keys at a time.

        In a band group of more than :attr:`HUGE_GROUP` sets a later set takes only the group's first
        :attr:`HUGE_CANDIDATES` sets: a cluster of 200,000 templated texts costs a few candidates per
        text, not ``max_candidates`` (which took 72 s and 7.5 GB), from the first :attr:`HUGE_BANDS` bands
        where it is in a huge group (the other bands would offer the same first members again)."""
        members, later, first, cnt = self._candidates(max_candidates)
        if not len(later):
            return
        # within a band group the lowest ``max_candidates`` earlier members are enough: the lowest
        # of the union over bands are among them
        order = np.argsort(later, kind="stable")  # per later key: its band groups in band order
        later, first, cnt = later[order], first[order], cnt[order].astype(np.int64)
        del order
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
            key = np.sort(np.repeat(later[lo:hi].astype(np.int64), c) * m + a)  # (later, earlier), deduplicated over bands
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
    # int32 set ids while they fit: a huge cluster keeps millions of verified pairs (2M on 200k templated rows)
    idt = np.int32 if len(sizes) < 1 << 31 else np.int64
    out_a, out_b, out_j = [np.zeros(0, idt)], [np.zeros(0, idt)], [np.zeros(0)]
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
        out_a.append(a[keep].astype(idt))
        out_b.append(b[keep].astype(idt))
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
        used, inv = np.unique(np.r_[a[big], b[big]], return_inverse=True)
        sig = signatures(*sh.take((values, offsets), used), num_perm, seed)
        x, y = inv.ravel()[: len(big)], inv.ravel()[len(big):]
        est = np.empty(len(big))
        for lo in range(0, len(big), 4096):  # bounded: a gathered signature row per pair is num_perm x 4 bytes
            est[lo:lo + 4096] = np.count_nonzero(sig[x[lo:lo + 4096]] == sig[y[lo:lo + 4096]], axis=1)
        est /= num_perm
        sure = np.abs(est - threshold) > _SCREEN_MARGIN
        out[big[sure]] = est[sure] > threshold
        exact[big[sure]] = False
    idx = np.flatnonzero(exact)
    out[idx] = sh.jaccard(values, offsets, a[idx], b[idx]) >= threshold - 1e-9
    return out
