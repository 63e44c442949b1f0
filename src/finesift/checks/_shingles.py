"""Vectorized text sets: words, word n-gram shingles, char n-grams, and exact set overlaps.

A list of texts becomes one flat ``uint64`` array of hashed items plus row
offsets (CSR layout), so sets for hundreds of thousands of texts are built and
compared with numpy instead of Python loops:

* :func:`codepoints` - all texts as one uint32 code-point array (one encode call).
* :func:`text_codepoints` - the same without separators, also straight from an Arrow string
  array (its UTF-8 buffer decoded with numpy: no Python string per text).
* :func:`words` - words = maximal runs of letters/digits (so ``j'en`` is ``j``, ``en``),
  each hashed to 64 bits from its code points; texts go in blocks of ~64k characters so the
  temporaries stay in cache (:func:`blocks`, :func:`concat`). :func:`word_sets`: the sets of
  word n-grams of each text in one call.
* :func:`content_keys` - one hash per text of its letters, digits and marks (punctuation and
  whitespace dropped): the canonical key of near-duplicate detection.
* :func:`shingles` - hashed word n-grams; a text shorter than n words is one shingle.
* :func:`char_ngrams` - hashed character n-grams (for chrF-like similarity).
* :func:`unique_sets` - sort and deduplicate each row's items (set semantics).
* :func:`intersections` - |A_i & B_i| for many pairs of rows at once.
* CSR helpers: :func:`take` rows, :func:`cap` items per row, :func:`common` items of paired
  rows, :func:`cross` all item combinations of paired rows, :func:`lookup` counts by key
  (:class:`Lookup`: a vectorized hash table, for many queries against the same keys).

Sorts of row-major keys (rows in order, items in any order within a row) use numpy's stable
sort: timsort merges the per-row runs, 3-7x faster than a quicksort of the same keys.

64-bit hashes make collisions negligible for any dataset size this tool sees.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import string_bytes

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
    # str.isalnum once per code point (~40 ms, cached): Unicode-correct letters/digits for any script;
    # every code point beyond the table counts as a letter (rare scripts, emoji: as before)
    table = np.ones(0x110000, dtype=bool)
    table[:_TABLE_SIZE] = np.fromiter((chr(c).isalnum() for c in range(_TABLE_SIZE)), dtype=bool, count=_TABLE_SIZE)
    return table


def codepoints(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts as one uint32 array, each followed by a ``\\n`` separator, and their start offsets (n+1)."""
    lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lens + 1, out=starts[1:])
    if not texts:
        return np.zeros(0, dtype=np.uint32), starts
    buf = np.frombuffer(("\n".join(texts) + "\n").encode("utf-32-le"), dtype=np.uint32)
    return buf, starts


def text_codepoints(texts) -> tuple[np.ndarray, np.ndarray]:
    """All texts' code points as one uint32 array (no separators) and each text's start (n+1 offsets).

    ``texts``: a list of str, or an Arrow string array (nulls count as ""), decoded from its UTF-8
    buffer with numpy (no Python string per text).
    """
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return _arrow_codepoints(texts)
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lens, out=starts[1:])
    if not starts[-1]:
        return np.zeros(0, dtype=np.uint32), starts
    return np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32), starts


def _arrow_codepoints(arr) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64)
    offsets, b = string_bytes(arr)
    if not len(b):
        return np.zeros(0, dtype=np.uint32), offsets
    if not (b >= 0x80).any():  # ASCII: one byte, one code point
        return b.astype(np.uint32), offsets
    # UTF-8 (valid, as Arrow guarantees): a code point per lead byte; multi-byte ones (few) decoded apart
    pos = np.flatnonzero((b & 0xC0) != 0x80)
    cp = b[pos].astype(np.uint32)
    hi = np.flatnonzero(cp >= 0x80)
    p, v = pos[hi], cp[hi]
    size = 2 + (v >= 0xE0).astype(np.int64) + (v >= 0xF0)
    v &= np.where(size == 2, 0x1F, np.where(size == 3, 0x0F, 0x07)).astype(np.uint32)
    last = len(b) - 1
    for k in (1, 2, 3):
        more = size > k
        v = np.where(more, (v << np.uint32(6)) | (b[np.minimum(p + k, last)] & 0x3F).astype(np.uint32), v)
    cp[hi] = v
    return cp, np.searchsorted(pos, offsets).astype(np.int64)


#: code points per block of texts processed at once (temporaries stay in cache)
_BLOCK = 1 << 16


def blocks(texts):
    """Consecutive slices of ``texts`` of about :data:`_BLOCK` characters (bytes for Arrow arrays)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        if pa.types.is_null(texts.type) or pa.types.is_dictionary(texts.type):
            texts = texts.cast(pa.string())
        if texts.null_count:
            texts = pc.fill_null(texts, "")
        lens = pc.binary_length(texts).to_numpy(zero_copy_only=False)
    else:
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    cum = np.cumsum(lens)
    cuts = [0]
    while cuts[-1] < len(texts):
        base = cum[cuts[-1] - 1] if cuts[-1] else 0
        cuts.append(max(int(np.searchsorted(cum, base + _BLOCK, side="right")), cuts[-1] + 1))
    return [texts[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def words(texts) -> tuple[np.ndarray, np.ndarray]:
    """Hashed words per text: (uint64 hashes, offsets of length n+1), in text order.

    ``texts``: a list of str or an Arrow string array (see :func:`text_codepoints`).
    """
    return concat([_words(b) for b in blocks(texts)])


def concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """CSR collections one after the other (rows of the first, then of the second, ...)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(1, np.int64)
    values = np.concatenate([p[0] for p in parts])
    offsets = np.zeros(sum(len(p[1]) - 1 for p in parts) + 1, dtype=np.int64)
    np.cumsum(np.concatenate([np.diff(p[1]) for p in parts]), out=offsets[1:])
    return values, offsets


def word_sets(texts, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``unique_sets`` of the hashed word n-grams (n = 1: words) of each text, block by block."""
    out = []
    for b in blocks(texts):
        w, wo = _words(b)
        out.append(unique_sets(*shingles(w, wo, n)) if n > 1 else unique_sets(w, wo))
    return concat(out)


def _words(texts) -> tuple[np.ndarray, np.ndarray]:
    cp, starts = text_codepoints(texts)
    n = len(starts) - 1
    if len(cp) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(n + 1, dtype=np.int64)
    is_word = _alnum_table()[cp]
    iw = is_word.view(np.int8)
    # runs of word characters that do not cross a text boundary
    edge = np.empty(len(cp) + 1, dtype=np.int8)
    edge[0] = iw[0]
    np.subtract(iw[1:], iw[:-1], out=edge[1:-1])
    edge[-1] = -iw[-1]
    w_start = np.flatnonzero(edge > 0)
    w_end = np.flatnonzero(edge < 0)
    inner = starts[1:-1]
    inner = inner[(inner > 0) & (inner < len(cp))]
    cut = inner[is_word[inner] & is_word[inner - 1]]  # a word runs across texts: split it
    if len(cut):
        cut = cut[np.r_[True, cut[1:] != cut[:-1]]]
        w_start = np.insert(w_start, np.searchsorted(w_start, cut), cut)
        w_end = np.insert(w_end, np.searchsorted(w_end, cut), cut)
    w_len = w_end - w_start
    # polynomial hash of each word's code points: sum((c_k + 1) * P^k) mod 2^64 via one reduceat
    pos = np.flatnonzero(is_word)
    first = np.zeros(len(w_len), dtype=np.int64)
    np.cumsum(w_len[:-1], out=first[1:])
    # position within its word: 0 at each word start, +1 after (one cumsum)
    k = np.ones(len(pos), dtype=np.int64)
    k[first] = 0
    k[first[1:]] = 1 - w_len[:-1]
    np.cumsum(k, out=k)
    max_len = int(w_len.max()) if len(w_len) else 0
    powers = np.ones(max(max_len, 1), dtype=np.uint64)
    with np.errstate(over="ignore"):
        if max_len > 1:
            powers[1:] = _P
            powers = np.cumprod(powers, dtype=np.uint64)
        terms = cp[pos].astype(np.uint64)
        terms += np.uint64(1)
        terms *= powers[k]
    h = np.add.reduceat(terms, first) if len(first) else np.zeros(0, np.uint64)
    h = mix64(h ^ w_len.astype(np.uint64))
    # words of text i: those starting in [starts[i], starts[i + 1])
    return h, np.searchsorted(w_start, starts).astype(np.int64)


@lru_cache(maxsize=1)
def _content_table() -> np.ndarray:
    # letters, digits, combining marks (a Devanagari vowel sign is part of its word) and the field separator
    import unicodedata

    table = _alnum_table().copy()
    marks = np.fromiter((unicodedata.category(chr(c))[0] == "M" for c in range(_TABLE_SIZE)), dtype=bool,
                        count=_TABLE_SIZE)
    table[:_TABLE_SIZE] |= marks
    table[0x1F] = True
    return table


def content_keys(texts) -> np.ndarray:
    """Per text, a 64-bit hash of its letters, digits, combining marks and ``\\x1f`` separators in order:
    punctuation, symbols and all whitespace dropped, so "je suis  malade !" and "jesuismalade" share a key.
    Texts with none of them share the key of "" (:data:`EMPTY_KEY`). Case is kept (normalize first).

    What ``pc.replace_substring_regex`` with a Unicode class and a string hash give, in numpy over the
    code points (:func:`text_codepoints`), about 3x faster.
    """
    return np.concatenate([_content_keys(b) for b in blocks(texts)]) if len(texts) else np.zeros(0, np.uint64)


def _content_keys(texts) -> np.ndarray:
    cp, starts = text_codepoints(texts)
    n = len(starts) - 1
    keep = _content_table()[cp] if len(cp) else np.zeros(0, dtype=bool)
    pos = np.flatnonzero(keep)
    cum = np.zeros(len(cp) + 1, dtype=np.int64)
    np.cumsum(keep, out=cum[1:])
    first = cum[starts]  # kept code points of text i: first[i]..first[i + 1]
    counts = np.diff(first)
    h = np.zeros(n, dtype=np.uint64)
    if len(pos):
        rank = np.arange(len(pos), dtype=np.int64) - np.repeat(first[:-1], counts)
        powers = np.full(int(counts.max()), _P, dtype=np.uint64)
        powers[0] = 1
        with np.errstate(over="ignore"):
            powers = np.cumprod(powers, dtype=np.uint64)
            terms = (cp[pos].astype(np.uint64) + np.uint64(1)) * powers[rank]
        some = np.flatnonzero(counts)
        h[some] = np.add.reduceat(terms, first[:-1][some])
    return mix64(h ^ counts.astype(np.uint64))


#: the :func:`content_keys` key of a text without letters, digits or marks
EMPTY_KEY = mix64(np.zeros(1, dtype=np.uint64))[0]


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
        key.sort(kind="stable")  # rows arrive in order: timsort merges the row runs (~5x a quicksort)
        key = key[np.r_[True, key[1:] != key[:-1]]]
        v, d = key << ROW_BITS, (key >> _HASH_SHIFT).astype(np.int64)
    out = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(d, minlength=rows), out=out[1:])
    return v, out


def _gather(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions of the items of rows ``idx`` (concatenated) and each row's item count."""
    start = offsets[idx]
    cnt = offsets[idx + 1] - start
    shift = start - (np.cumsum(cnt) - cnt)
    pos = np.arange(int(cnt.sum()), dtype=np.int64)
    pos += np.repeat(shift, cnt)
    return pos, cnt


def intersections(values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray,
                  chunk_items: int = 1 << 18) -> np.ndarray:
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
    cost = np.cumsum(sizes[a] + sizes[b])
    lo = 0
    while lo < len(a):
        base = cost[lo - 1] if lo else 0
        hi = int(np.searchsorted(cost, base + chunk_items, side="right"))
        hi = max(hi, lo + 1)
        pa_, ca = _gather(offsets, a[lo:hi])
        pb_, cb = _gather(offsets, b[lo:hi])
        idx = np.arange(hi - lo, dtype=np.uint64) << np.uint64(32)
        # top 32 bits of the gathered items only (a shifted copy of every item cost 2x their memory per call)
        key = np.concatenate([np.repeat(idx, ca) | (values[pa_] >> np.uint64(32)),
                              np.repeat(idx, cb) | (values[pb_] >> np.uint64(32))])
        key.sort(kind="stable")  # two sorted runs (sets are sorted): timsort merges them in one pass
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

def take(csr: tuple[np.ndarray, ...], idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows ``idx`` of a CSR set collection: ``(values, offsets)``, or several per-item arrays sharing
    the offsets, ``(values_1, ..., values_k, offsets)``."""
    *values, offsets = csr
    start, cnt = offsets[idx], np.diff(offsets)[idx]
    out = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(cnt, out=out[1:])
    pos = np.repeat(start - out[:-1], cnt)
    pos += np.arange(out[-1])
    return (*(v[pos] for v in values), out)

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
    key.sort(kind="stable")  # two sorted runs: one merge
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

class Lookup:
    """``counts[key]`` for query keys (0 when absent): a vectorized open-addressing hash table.

    Built once (a few numpy rounds of linear probing), then each query batch costs a few passes
    with one random memory access per probe (key and count share a table row), where
    ``searchsorted`` into a large sorted array costs a cache miss per halving step. Slots come
    from Fibonacci hashing (the top bits of ``key * 2^64/phi``); empty slots hold a key absent
    from ``keys`` and a count of 0, so a query that equals it correctly finds 0.
    """

    def __init__(self, keys: np.ndarray, counts: np.ndarray):
        keys = np.asarray(keys)
        if keys.dtype.kind not in "iu":
            raise TypeError(f"integer keys expected, got {keys.dtype}")
        self.dtype = np.dtype(np.uint64) if keys.dtype.kind == "u" else np.dtype(np.int64)
        keys = keys.astype(self.dtype, copy=False)
        self.count_dtype = np.asarray(counts).dtype
        bits = max(int(4 * len(keys)).bit_length(), 4)  # load <= 1/4: few second probes
        self.shift = np.uint64(64 - bits)
        size = 1 << bits
        self.mask = size - 1
        self.empty = self._absent(keys)
        table = np.empty((size, 2), dtype=self.dtype)
        table[:, 0] = self.empty
        table[:, 1] = 0
        todo = np.arange(len(keys))
        slot = self._slot(keys)
        owner = np.full(size, -1, dtype=np.int64)
        while len(todo):
            h = slot[todo]
            free = table[h, 0] == self.empty
            cand, hc = todo[free], h[free]
            owner[hc] = cand  # one key wins each free slot
            won = owner[hc] == cand
            put, hp = cand[won], hc[won]
            table[hp, 0] = keys[put]
            table[hp, 1] = np.asarray(counts)[put]
            placed = np.zeros(len(keys), dtype=bool)
            placed[put] = True
            todo = todo[~placed[todo]]
            slot[todo] = (slot[todo] + 1) & self.mask
        self.table = table
        #: the table as one 16-byte element per slot: a 1-D gather fetches key and count at once (a
        #: 2-D row gather is ~8x slower); the elements are only copied, never used as numbers
        self._rows = table.view(np.complex128).ravel()

    def keys_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """The keys the table holds and their counts (in slot order)."""
        used = self.table[:, 0] != self.empty
        return self.table[used, 0], self.table[used, 1].astype(self.count_dtype, copy=False)

    def _absent(self, keys: np.ndarray):
        """A key value not among ``keys`` (for empty slots)."""
        if not len(keys):
            return self.dtype.type(0)
        lo = keys.min()
        if lo > np.iinfo(self.dtype).min:
            return self.dtype.type(lo - 1)
        hi = keys.max()
        if hi < np.iinfo(self.dtype).max:
            return self.dtype.type(hi + 1)
        present = np.sort(keys)  # every value from min to max is taken only if there are 2^64 keys
        gap = np.flatnonzero(np.diff(present) > 1)[0]
        return self.dtype.type(present[gap] + 1)

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys.astype(np.uint64, copy=False) * _GOLD) >> self.shift).astype(np.int64)

    def __call__(self, query: np.ndarray) -> np.ndarray:
        query = np.asarray(query).astype(self.dtype, copy=False)
        out = np.zeros(len(query), dtype=self.dtype)
        todo = None
        q, slot = query, self._slot(query)
        rows, empty = self._rows, self.empty
        while len(q):
            row = rows[slot].view(self.dtype).reshape(-1, 2)
            hit = row[:, 0] == q
            if todo is None:
                out[hit] = row[hit, 1]
                more = ~hit & (row[:, 0] != empty)
                todo = np.flatnonzero(more)
            else:
                out[todo[hit]] = row[hit, 1]
                more = ~hit & (row[:, 0] != empty)  # an occupied slot holding another key: probe on
                todo = todo[more]
            q, slot = q[more], (slot[more] + 1) & self.mask
        return out.astype(self.count_dtype, copy=False)


def lookup(keys_sorted: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
    """counts[key] for each query key (0 when absent)."""
    if len(keys_sorted) == 0:
        return np.zeros(len(query), dtype=np.int64)
    if len(query) < 4 * len(keys_sorted) // 64:  # few queries: binary search beats building a table
        pos = np.minimum(np.searchsorted(keys_sorted, query), len(keys_sorted) - 1)
        return np.where(keys_sorted[pos] == query, counts[pos], 0)
    return Lookup(keys_sorted, counts)(query)

def count(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values (sorted) and how often each occurs (np.unique's result, without its slow hash path)."""
    s = np.sort(values)
    if len(s) == 0:
        return s, np.zeros(0, dtype=np.int64)
    first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return s[first], np.diff(np.r_[first, len(s)])
