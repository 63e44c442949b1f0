"""``echo_output``: the answer repeats the prompt instead of answering it.

Catches an English "translation" that copies the English sentence, an answer that
restates the instruction, or one that pastes the input back. Texts are normalized
(the ``norm_prompt`` / ``norm_output`` features: NFKC, lower case; then spacing and ASCII
punctuation removed) and cut into overlapping 5-character shingles, so near-verbatim copies ("I'm very happy" for "I am very
happy") still match.

Scores:

* ``echo_output_similarity`` (0..1, higher is worse): share of the answer's shingles found
  in the prompt. 1 = every piece of the answer is copied from the prompt.
* ``echo_output_coverage`` (0..1): share of the prompt's payload (what follows the
  instruction's first ": " or line break; else the whole prompt) that the answer
  reproduces. An echo reproduces most of it; an answer quoting a multiple-choice
  option or extracting one sentence of a long passage does not.
* ``echo_output_novel`` (0..inf): answer shingles not found in the prompt -- new content.
  "The largest state is Alaska." restating the question still adds "is Alaska".
* ``echo_output_words`` (0..inf): words (runs of non-space, non-punctuation characters) in the answer.

A row is flagged when similarity >= ``threshold``, coverage >= ``min_coverage``,
novel <= ``max_novel`` and the answer has at least ``min_words`` words (a one-word
echo such as "Taxi!" -> "Taxi !" is often a correct answer).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, normalize_text, register, text_array

SHINGLE = 5  # bytes: 5 x 8 bits + row index must fit in 63 bits
_ROW_SHIFT = 8 * SHINGLE
_MAX_ROWS = 1 << (63 - _ROW_SHIFT)


class EchoOutputParams(CheckParams):
    threshold: float = decision(0.8)
    """Flag when at least this share of the answer is copied from the prompt..."""
    min_coverage: float = decision(0.8)
    """...the copy covers at least this share of the prompt's payload..."""
    max_novel: int = decision(4)
    """...the answer adds at most this many new shingles (about as many characters)..."""
    min_words: int = decision(2)
    """...and the answer has at least this many words."""


@register
class EchoOutput(RowCheck):
    name = "echo_output"
    description = "The answer repeats the prompt (verbatim or nearly) instead of answering it."
    scores = {
        "echo_output_similarity": Score(
            "share of the answer copied from the prompt (0..1); higher is worse", 0, 1, worse="higher"),
        "echo_output_coverage": Score(
            "share of the prompt's payload reproduced by the answer (0..1)", 0, 1, worse="higher"),
        "echo_output_novel": Score(
            "answer shingles not found in the prompt: new content (0..inf)", 0, float("inf"), worse="lower"),
        "echo_output_words": Score("words in the answer (0..inf)", 0, float("inf")),
    }
    default = True
    order = 70
    weight = 0.9
    threshold = Threshold("threshold", "echo_output_similarity", ">=")
    Params = EchoOutputParams
    needs = ("norm_prompt", "norm_output")

    def score(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        sim = np.zeros(n, dtype=np.float32)
        cov = np.zeros(n, dtype=np.float32)
        novel = np.zeros(n, dtype=np.int32)
        for start in range(0, n, _MAX_ROWS):
            part = batch.slice(start, min(_MAX_ROWS, n - start))
            s, c, v = _echo(pc.fill_null(part["prompt"], ""), part["norm_prompt"], part["norm_output"])
            sim[start:start + part.num_rows], cov[start:start + part.num_rows] = s, c
            novel[start:start + part.num_rows] = v
        return pa.table({
            "echo_output_similarity": pa.array(sim),
            "echo_output_coverage": pa.array(cov),
            "echo_output_novel": pa.array(novel),
            "echo_output_words": pa.array(_word_count(batch["output"]), pa.int32()),
        })

    def decide(self, scores: pa.Table) -> np.ndarray:
        p: EchoOutputParams = self.params  # type: ignore[assignment]

        def col(name: str) -> np.ndarray:
            return scores[name].to_numpy(zero_copy_only=False)

        return ((col("echo_output_similarity") >= p.threshold) & (col("echo_output_coverage") >= p.min_coverage)
                & (col("echo_output_novel") <= p.max_novel) & (col("echo_output_words") >= p.min_words))


def _word_count(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Runs of characters outside ASCII punctuation and spacing per text (RE2 ``[^[:punct:][:space:]]+``
    matches), counted on the UTF-8 bytes: a run starts at a kept byte after a dropped one or a text start."""
    text = text_array(col)
    if pa.types.is_null(text.type):
        text = text.cast(pa.string())
    data, offsets = _utf8(text)
    n = len(offsets) - 1
    if len(data) == 0:
        return np.zeros(n, dtype=np.int32)
    word = ~_DROP[data]
    start = word.copy()
    start[1:] &= ~word[:-1]
    begins = offsets[:-1][np.diff(offsets) > 0]
    start[begins] = word[begins]  # a text's first byte starts a run whatever precedes it
    pos = np.flatnonzero(start)
    return np.diff(np.searchsorted(pos, offsets)).astype(np.int32)


# what follows the instruction: after its first ": " (not "https:") or line break
_PAYLOAD = r"(?s)^(?:[^:\n]|:\S)*(?::\s|\n)\s*(?P<payload>.+)$"


#: bytes RE2's ASCII ``[[:punct:][:space:]]`` matches; UTF-8 continuation and lead bytes (>= 0x80) never are
_DROP = np.zeros(256, dtype=bool)
_DROP[np.frombuffer(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t\n\v\f\r", dtype=np.uint8)] = True
_WINDOW_MASK = np.uint64((1 << _ROW_SHIFT) - 1)


def _utf8(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, int64 offsets from 0) of a string array without nulls."""
    n = len(arr)
    otype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=otype)[arr.offset:arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    data = data[offsets[0]:offsets[-1]]
    return data, offsets - offsets[0]


def _squash(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Raw text normalized as the ``norm_*`` features are (:func:`normalize_text`), then :func:`_strip`."""
    return _strip(normalize_text(col))


def _strip(norm: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Normalized text with only letters and digits left (spacing and punctuation changes do not hide a
    copy), as (UTF-8 bytes, offsets). ASCII punctuation and spacing (the classes ``[[:punct:][:space:]]``
    of RE2) dropped byte-wise with numpy: no regex per batch."""
    text = text_array(norm)
    data, offsets = _utf8(text)
    drop = _DROP[data]
    gone = np.flatnonzero(drop)
    return data[~drop], offsets - np.searchsorted(gone, offsets)


def _shingles(text: tuple[np.ndarray, np.ndarray], rows: np.ndarray | None = None,
              unique: bool = True) -> np.ndarray:
    """Keys ``row << 40 | shingle`` of every 5-byte window of every text, row-major.

    ``text``: (bytes, offsets) from :func:`_strip`; ``rows[i]`` is the row number of text i
    (default i). ``unique``: sorted and deduplicated.
    """
    data, offsets = text
    n = len(offsets) - 1
    windows = np.maximum(np.diff(offsets) - SHINGLE + 1, 0)
    total = int(windows.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint64)
    row_ids = (np.arange(n) if rows is None else rows).astype(np.uint64)
    # 8 bytes read at every byte offset (an unaligned strided view, the top 3 masked off); a window
    # starts at every byte but a text's last 4
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[:len(data)] = data
    view = np.ndarray(shape=(len(data),), dtype="<u8", buffer=padded, strides=(1,))
    valid = np.ones(len(data), dtype=bool)
    ends = offsets[1:]
    for k in range(1, SHINGLE):
        valid[np.maximum(ends - k, offsets[:-1])[ends > offsets[:-1]]] = False
    key = view[valid]
    key &= _WINDOW_MASK
    key |= np.repeat(row_ids << np.uint64(_ROW_SHIFT), windows)
    if unique:
        key.sort(kind="stable")  # rows in order: timsort merges the row runs
        key = key[np.r_[True, key[1:] != key[:-1]]]
    return key


def _member(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """Which keys of ``a`` are in ``sorted_b``."""
    if not len(sorted_b) or not len(a):
        return np.zeros(len(a), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_b, a), len(sorted_b) - 1)
    return sorted_b[pos] == a


def _echo(prompt: pa.Array | pa.ChunkedArray, norm_prompt: pa.Array | pa.ChunkedArray,
          norm_output: pa.Array | pa.ChunkedArray):
    """(similarity, coverage, novel) per row, from the raw prompt and the normalized prompt and answer."""
    n = len(prompt)
    shift = np.uint64(_ROW_SHIFT)
    # every window of the answer (no dedup: the answer is only searched, never searched in); sorted, as
    # only counts per row matter and sorted queries search fast
    out_keys = _shingles(_strip(norm_output), unique=False)
    out_keys.sort(kind="stable")
    out_rows = (out_keys >> shift).astype(np.int64)
    hit = _member(out_keys, _shingles(_strip(norm_prompt)))
    total = np.bincount(out_rows, minlength=n)
    found = np.bincount(out_rows[hit], minlength=n)
    sim = np.divide(found, total, out=np.zeros(n), where=total > 0)
    cov = np.zeros(n)
    # coverage is 0 wherever nothing of the answer is in the prompt: compute it only where it is not
    cand = np.flatnonzero(found > 0)
    if len(cand):
        sub = prompt.take(pa.array(cand))
        # the payload is cut from the raw prompt (at a line break normalized text no longer has), then
        # normalized like the features
        payload = pc.struct_field(pc.extract_regex(sub, _PAYLOAD), "payload")
        payload = pc.if_else(pc.is_valid(payload), payload, sub)
        pay_keys = _shingles(_squash(payload), rows=cand)
        keep = np.zeros(n, dtype=bool)
        keep[cand] = True
        answer = out_keys[keep[out_rows]]  # already sorted
        pay_rows = (pay_keys >> shift).astype(np.int64)
        pay_total = np.bincount(pay_rows, minlength=n)
        pay_found = np.bincount(pay_rows[_member(pay_keys, answer)], minlength=n)
        cov = np.divide(pay_found, pay_total, out=np.zeros(n), where=pay_total > 0)
    return sim.astype(np.float32), cov.astype(np.float32), (total - found).astype(np.int32)
