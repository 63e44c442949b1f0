"""``echo_output``: the answer repeats the prompt instead of answering it.

Catches an English "translation" that copies the English sentence, an answer that
restates the instruction, or one that pastes the input back. Texts are normalized
(NFKC, lower case, spacing and ASCII punctuation removed) and cut into overlapping
5-character shingles, so near-verbatim copies ("I'm very happy" for "I am very
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

from .base import Check, CheckParams, Context, register

SHINGLE = 5  # bytes: 5 x 8 bits + row index must fit in 63 bits
_ROW_SHIFT = 8 * SHINGLE
_MAX_ROWS = 1 << (63 - _ROW_SHIFT)


class EchoOutputParams(CheckParams):
    threshold: float = 0.8
    """Flag when at least this share of the answer is copied from the prompt..."""
    min_coverage: float = 0.8
    """...the copy covers at least this share of the prompt's payload..."""
    max_novel: int = 4
    """...the answer adds at most this many new shingles (about as many characters)..."""
    min_words: int = 2
    """...and the answer has at least this many words."""


@register
class EchoOutput(Check):
    name = "echo_output"
    description = "The answer repeats the prompt (verbatim or nearly) instead of answering it."
    score_columns = {
        "echo_output_similarity": "share of the answer copied from the prompt (0..1); higher is worse",
        "echo_output_coverage": "share of the prompt's payload reproduced by the answer (0..1)",
        "echo_output_novel": "answer shingles not found in the prompt: new content (0..inf)",
        "echo_output_words": "words in the answer (0..inf)",
    }
    Params = EchoOutputParams

    def score(self, table: pa.Table, ctx: Context) -> pa.Table:
        n = table.num_rows
        sim = np.zeros(n, dtype=np.float32)
        cov = np.zeros(n, dtype=np.float32)
        novel = np.zeros(n, dtype=np.int32)
        for start in range(0, n, _MAX_ROWS):
            part = table.slice(start, min(_MAX_ROWS, n - start))
            s, c, v = _echo(pc.fill_null(part["prompt"], ""), part["output"])
            sim[start:start + part.num_rows], cov[start:start + part.num_rows] = s, c
            novel[start:start + part.num_rows] = v
        words = pc.count_substring_regex(pc.fill_null(table["output"], ""), pattern=r"[^[:punct:][:space:]]+")
        if isinstance(words, pa.ChunkedArray):
            words = words.combine_chunks()
        return pa.table({
            "echo_output_similarity": pa.array(sim),
            "echo_output_coverage": pa.array(cov),
            "echo_output_novel": pa.array(novel),
            "echo_output_words": words.cast(pa.int32()),
        })

    def decide(self, scores: pa.Table) -> np.ndarray:
        p: EchoOutputParams = self.params  # type: ignore[assignment]

        def col(name: str) -> np.ndarray:
            return scores[name].to_numpy(zero_copy_only=False)

        return ((col("echo_output_similarity") >= p.threshold) & (col("echo_output_coverage") >= p.min_coverage)
                & (col("echo_output_novel") <= p.max_novel) & (col("echo_output_words") >= p.min_words))


# what follows the instruction: after its first ": " (not "https:") or line break
_PAYLOAD = r"(?s)^(?:[^:\n]|:\S)*(?::\s|\n)\s*(?P<payload>.+)$"


def _squash(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Normalized text with only letters and digits left (spacing and punctuation changes do not hide a copy)."""
    text = pc.utf8_lower(pc.utf8_normalize(pc.fill_null(col, ""), form="NFKC"))
    # ASCII punctuation/space only: RE2 compiles Unicode classes slowly and pyarrow recompiles per batch
    out = pc.replace_substring_regex(text, pattern=r"[[:punct:][:space:]]+", replacement="")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _shingles(arr: pa.Array, rows: np.ndarray | None = None, unique: bool = True) -> np.ndarray:
    """Keys ``row << 40 | shingle`` of every 5-byte window of every text, row-major.

    ``rows[i]`` is the row number of text i (default i). ``unique``: sorted and deduplicated.
    """
    arr = arr.cast(pa.large_string())  # int64 offsets: no overflow on big batches
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = arr.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    windows = np.maximum(np.diff(offsets) - SHINGLE + 1, 0)
    if windows.sum() == 0:
        return np.zeros(0, dtype=np.uint64)
    row_ids = (np.arange(n) if rows is None else rows).astype(np.uint64)
    key = np.repeat(row_ids, windows) << np.uint64(_ROW_SHIFT)
    # start of each window: row start + position within the row
    starts = np.repeat(offsets[:-1] - np.concatenate([[0], np.cumsum(windows)[:-1]]), windows)
    starts += np.arange(len(key))
    for k in range(SHINGLE):
        key |= data[starts + k].astype(np.uint64) << np.uint64(8 * k)
    if unique:
        key.sort()  # sort + mask: np.unique's hash path is ~20x slower on uint64 (numpy 2.4)
        key = key[np.r_[True, key[1:] != key[:-1]]]
    return key


def _member(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """Which keys of ``a`` are in ``sorted_b``."""
    if not len(sorted_b) or not len(a):
        return np.zeros(len(a), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_b, a), len(sorted_b) - 1)
    return sorted_b[pos] == a


def _echo(prompt: pa.Array | pa.ChunkedArray, output: pa.Array | pa.ChunkedArray):
    """(similarity, coverage, novel) per row."""
    n = len(prompt)
    shift = np.uint64(_ROW_SHIFT)
    # every window of the answer (no dedup: the answer is only searched, never searched in)
    out_keys = _shingles(_squash(output), unique=False)
    out_rows = (out_keys >> shift).astype(np.int64)
    hit = _member(out_keys, _shingles(_squash(prompt)))
    total = np.bincount(out_rows, minlength=n)
    found = np.bincount(out_rows[hit], minlength=n)
    sim = np.divide(found, total, out=np.zeros(n), where=total > 0)
    cov = np.zeros(n)
    # coverage is 0 wherever nothing of the answer is in the prompt: compute it only where it is not
    cand = np.flatnonzero(found > 0)
    if len(cand):
        sub = prompt.take(pa.array(cand))
        payload = pc.struct_field(pc.extract_regex(sub, _PAYLOAD), "payload")
        payload = pc.if_else(pc.is_valid(payload), payload, sub)
        pay_keys = _shingles(_squash(payload), rows=cand)
        keep = np.zeros(n, dtype=bool)
        keep[cand] = True
        answer = np.sort(out_keys[keep[out_rows]])
        pay_rows = (pay_keys >> shift).astype(np.int64)
        pay_total = np.bincount(pay_rows, minlength=n)
        pay_found = np.bincount(pay_rows[_member(pay_keys, answer)], minlength=n)
        cov = np.divide(pay_found, pay_total, out=np.zeros(n), where=pay_total > 0)
    return sim.astype(np.float32), cov.astype(np.float32), (total - found).astype(np.int32)
