"""Vectorized text sets: words, word n-gram shingles, char n-grams, and exact set overlaps.

A list of texts becomes one flat ``uint64`` array of hashed items plus row
offsets (CSR layout), so sets for hundreds of thousands of texts are built and
compared with numpy instead of Python loops:

* :func:`codepoints` - all texts as one uint32 code-point array (one encode call).
* :func:`words` - words = maximal runs of letters/digits (so ``j'en`` is ``j``, ``en``),
  each hashed to 64 bits from its code points.
* :func:`shingles` - hashed word n-grams; a text shorter than n words is one shingle.
* :func:`char_ngrams` - hashed character n-grams (for chrF-like similarity).
* :func:`unique_sets` - sort and deduplicate each row's items (set semantics).
* :func:`intersections` - |A_i & B_i| for many pairs of rows at once.
* CSR helpers: :func:`take` rows, :func:`cap` items per row, :func:`common` items of paired
  rows, :func:`cross` all item combinations of paired rows, :func:`lookup` counts by key.

64-bit hashes make collisions negligible for any dataset size this tool sees.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_P = np.uint64(0x100000001B3)  # FNV prime: odd, so powers never collapse to 0 mod 2^64
_TABLE_SIZE = 0x30000  # BMP + SMP + SIP: every script and emoji block a dataset is likely to hold


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijective, well-spread 64-bit hash of each element."""
    with np.errstate(over="ignore"):
        x = np.asarray(x, dtype=np.uint64) + _GOLD
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


@lru_cache(maxsize=1)
def _alnum_table() -> np.ndarray:
    # str.isalnum once per code point (~40 ms, cached): Unicode-correct letters/digits for any script
    return np.fromiter((chr(c).isalnum() for c in range(_TABLE_SIZE)), dtype=bool, count=_TABLE_SIZE)


def codepoints(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts as one uint32 array, each followed by a ``\\n`` separator, and their start offsets (n+1)."""
    lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lens + 1, out=starts[1:])
    if not texts:
        return np.zeros(0, dtype=np.uint32), starts
    buf = np.frombuffer(("\n".join(texts) + "\n").encode("utf-32-le"), dtype=np.uint32)
    return buf, starts


def words(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hashed words per text: (uint64 hashes, offsets of length n+1), in text order."""
    cp, starts = codepoints(texts)
    n = len(texts)
    if len(cp) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(n + 1, dtype=np.int64)
    table = _alnum_table()
    is_word = np.ones(len(cp), dtype=bool)
    small = cp < _TABLE_SIZE
    is_word[small] = table[cp[small]]
    is_word[cp == 10] = False  # the separator
    edges = np.diff(np.r_[False, is_word, False].astype(np.int8))
    w_start = np.flatnonzero(edges == 1)
    w_end = np.flatnonzero(edges == -1)
    w_len = w_end - w_start
    # polynomial hash of each word's code points: sum(c_k * P^k) mod 2^64 via one reduceat
    pos = np.flatnonzero(is_word)
    k = pos - np.repeat(w_start, w_len)
    max_len = int(w_len.max()) if len(w_len) else 0
    powers = np.ones(max(max_len, 1), dtype=np.uint64)
    with np.errstate(over="ignore"):
        if max_len > 1:
            powers[1:] = _P
            powers = np.cumprod(powers, dtype=np.uint64)
        terms = (cp[pos].astype(np.uint64) + np.uint64(1)) * powers[k]
    if len(terms):
        first = np.r_[0, np.cumsum(w_len)[:-1]]
        h = np.add.reduceat(terms, first) if len(first) else np.zeros(0, np.uint64)
    else:
        h = np.zeros(0, dtype=np.uint64)
    h = mix64(h ^ w_len.astype(np.uint64))
    doc = np.searchsorted(starts, w_start, side="right") - 1
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=n), out=offsets[1:])
    return h, offsets


def shingles(word_hashes: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed word n-grams per text (CSR). A text with 1..n-1 words yields one shingle of all its words."""
    counts = np.diff(offsets)
    rows = len(counts)
    if n <= 1 or len(word_hashes) == 0:
        return word_hashes.copy(), offsets.copy()
    out_counts = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
    out_offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(out_counts, out=out_offsets[1:])
    doc = np.repeat(np.arange(rows), out_counts)
    # index of each shingle's first word, and how many words it spans
    first = offsets[doc] + (np.arange(out_offsets[-1]) - out_offsets[doc])
    span = np.minimum(counts[doc], n)
    h = np.zeros(len(first), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            use = j < span
            h[use] = mix64(h[use] * _P ^ word_hashes[first[use] + j])
    return h, out_offsets


def char_ngrams(texts: list[str], ns: tuple[int, ...] = (1, 2, 3, 4)) -> tuple[np.ndarray, np.ndarray]:
    """Hashed character n-grams, CSR with ``len(ns) * len(texts)`` rows: row ``k * len(texts) + i``
    holds the ``ns[k]``-grams of text ``i`` (n is part of the hash)."""
    cp, starts = codepoints(texts)
    rows = len(texts)
    lens = np.diff(starts) - 1
    parts_h, counts = [], []
    for n in ns:
        cnt = np.maximum(lens - n + 1, 0)
        first = np.repeat(starts[:-1], cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        h = np.full(len(first), np.uint64(n), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(n):
                h = mix64(h * _P ^ cp[first + j].astype(np.uint64))
        parts_h.append(h)
        counts.append(cnt)
    h = np.concatenate(parts_h) if parts_h else np.zeros(0, np.uint64)
    offsets = np.zeros(len(ns) * rows + 1, dtype=np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=offsets[1:])
    return h, offsets


#: low hash bits given up for the row number in one-key sorts: rows < 2^24, 40 hash bits left.
#: Fixed, so that items from different collections stay comparable.
ROW_BITS = np.uint64(24)
_HASH_SHIFT = np.uint64(64) - ROW_BITS


def unique_sets(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row's items and drop repeats (CSR in, CSR out).

    One uint64 sort of (row << 40 | item >> 24): items keep their top 40 bits (the low 24
    are set to 0 in the output), plenty to keep collisions inside one row negligible.
    """
    rows = len(offsets) - 1
    if len(values) == 0:
        return np.zeros(0, np.uint64), np.zeros(rows + 1, dtype=np.int64)
    doc = np.repeat(np.arange(rows, dtype=np.uint64), np.diff(offsets))
    if rows >= 1 << int(ROW_BITS):  # beyond the packed key: two-key sort
        v = (np.asarray(values, dtype=np.uint64) >> ROW_BITS) << ROW_BITS
        order = np.lexsort((v, doc))
        v, d = v[order], doc[order]
        keep = np.r_[True, (v[1:] != v[:-1]) | (d[1:] != d[:-1])]
        v, d = v[keep], d[keep].astype(np.int64)
    else:
        key = (doc << _HASH_SHIFT) | (np.asarray(values, dtype=np.uint64) >> ROW_BITS)
        key.sort()
        key = key[np.r_[True, key[1:] != key[:-1]]]
        v, d = key << ROW_BITS, (key >> _HASH_SHIFT).astype(np.int64)
    out = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(d, minlength=rows), out=out[1:])
    return v, out


def _gather(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions of the items of rows ``idx`` (concatenated) and each row's item count."""
    start = offsets[idx]
    cnt = offsets[idx + 1] - start
    total = int(cnt.sum())
    pos = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(start, cnt)
    return pos, cnt


def intersections(values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray,
                  chunk_items: int = 4_000_000) -> np.ndarray:
    """|set_a[i] & set_b[i]| for each pair, for sets made by :func:`unique_sets`.

    Both rows' items are concatenated per pair, tagged with the pair number, sorted,
    and equal neighbours counted: each set has no repeats, so a repeat is a shared
    item. The sort key is (pair << 32 | top 32 bits of the item hash), one uint64 sort
    instead of a two-key lexsort; a 32-bit clash inside one pair (~n^2/2^33 for n items)
    is negligible. Pairs go in chunks of about ``chunk_items`` items to bound memory.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    out = np.zeros(len(a), dtype=np.int64)
    if len(a) == 0:
        return out
    sizes = np.diff(offsets)
    top = (values >> np.uint64(32)).astype(np.uint64)
    cost = np.cumsum(sizes[a] + sizes[b])
    lo = 0
    while lo < len(a):
        base = cost[lo - 1] if lo else 0
        hi = int(np.searchsorted(cost, base + chunk_items, side="right"))
        hi = max(hi, lo + 1)
        pa_, ca = _gather(offsets, a[lo:hi])
        pb_, cb = _gather(offsets, b[lo:hi])
        idx = np.arange(hi - lo, dtype=np.uint64) << np.uint64(32)
        key = np.concatenate([np.repeat(idx, ca) | top[pa_], np.repeat(idx, cb) | top[pb_]])
        key.sort()
        dup = key[1:][key[1:] == key[:-1]]
        out[lo:hi] = np.bincount((dup >> np.uint64(32)).astype(np.int64), minlength=hi - lo)
        lo = hi
    return np.minimum(out, np.minimum(sizes[a], sizes[b]))


def jaccard(values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of row pairs (0 when both sets are empty)."""
    inter = intersections(values, offsets, a, b)
    sizes = np.diff(offsets)
    union = sizes[a] + sizes[b] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def dice(values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice / F1 overlap 2|A&B| / (|A|+|B|) of row pairs (0 when both are empty)."""
    inter = intersections(values, offsets, a, b)
    sizes = np.diff(offsets)
    tot = sizes[a] + sizes[b]
    return np.where(tot > 0, 2 * inter / np.maximum(tot, 1), 0.0)


# -- CSR helpers shared by the dataset checks ------------------------------------------------

def doc_of(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))

def segment_mean(values: np.ndarray, offsets: np.ndarray, default: float = 0.0) -> np.ndarray:
    sizes = np.diff(offsets)
    sums = np.bincount(doc_of(offsets), weights=values, minlength=len(sizes))
    return np.where(sizes > 0, sums / np.maximum(sizes, 1), default)

def take(csr: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``idx`` of a CSR set collection."""
    values, offsets = csr
    start, cnt = offsets[idx], np.diff(offsets)[idx]
    out = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(cnt, out=out[1:])
    pos = np.arange(out[-1]) - np.repeat(out[:-1], cnt) + np.repeat(start, cnt)
    return values[pos], out

def cap(csr: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """At most k items per row (the first k of each sorted set: a hash-random, deterministic subset)."""
    values, offsets = csr
    rank = np.arange(len(values)) - np.repeat(offsets[:-1], np.diff(offsets))
    keep = rank < k
    out = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(np.minimum(np.diff(offsets), k), out=out[1:])
    return values[keep], out

def common(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(row, item) for items in both row i of ``a`` and row i of ``b`` (sets from unique_sets)."""
    doc = np.concatenate([doc_of(a[1]), doc_of(b[1])])
    vals = np.concatenate([a[0], b[0]])
    if len(a[1]) - 1 >= 1 << int(ROW_BITS):
        order = np.lexsort((vals, doc))
        d, v = doc[order], vals[order]
        same = (d[1:] == d[:-1]) & (v[1:] == v[:-1])
        return d[1:][same], v[1:][same]
    key = (doc.astype(np.uint64) << (np.uint64(64) - ROW_BITS)) | (vals >> ROW_BITS)
    key.sort()
    same = key[1:][key[1:] == key[:-1]]
    return (same >> (np.uint64(64) - ROW_BITS)).astype(np.int64), same << ROW_BITS

def cross(a_off: np.ndarray, b_off: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (row, a position, b position) combination of two CSR collections with the same rows."""
    na, nb = np.diff(a_off), np.diff(b_off)
    per = na * nb
    row = np.repeat(np.arange(len(na)), per)
    local = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    # b varies fastest: the combinations of one a item are contiguous
    return row, a_off[:-1][row] + local // np.maximum(nb[row], 1), b_off[:-1][row] + local % np.maximum(nb[row], 1)

def lookup(keys_sorted: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
    """counts[key] for each query key (0 when absent)."""
    if len(keys_sorted) == 0:
        return np.zeros(len(query), dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys_sorted, query), len(keys_sorted) - 1)
    return np.where(keys_sorted[pos] == query, counts[pos], 0)

def count(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, counts = np.unique(values, return_counts=True)
    return keys, counts
