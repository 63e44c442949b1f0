"""``too_long``: prompt + answer exceed the token budget of the target model.

Tokens are counted with the target model's tokenizer (``config.tokenizer``;
default the SmolLM2 tokenizer, see :mod:`finesift.models.tokenizer`), without
special tokens or chat-template overhead, once per distinct text in a batch; with a byte-level
BPE (SmolLM2's, GPT-2's) once per distinct word, the counts being the same (:func:`_word_split`).

Scores (token counts, 0..inf, higher is longer):

* ``too_long_prompt_tokens``, ``too_long_output_tokens`` -- per field (the summary reads
  them for token-length statistics);
* ``too_long_total_tokens`` -- system prompt + prompt + answer.

A row is flagged when the total exceeds ``max_tokens`` (default: ``config.max_tokens``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, register, string_bytes


class TooLongParams(CheckParams):
    max_tokens: int | None = decision(None)
    """Token budget for system + prompt + answer; None: ``config.max_tokens`` (2048)."""


DEFAULT_MAX_TOKENS = 2048


@register
class TooLong(RowCheck):
    name = "too_long"
    description = "Prompt + answer are longer than the token budget of the target model."
    cost = "model"
    scores = {
        "too_long_prompt_tokens": Score("tokens in the prompt (0..inf)", 0, float("inf"), worse="higher"),
        "too_long_output_tokens": Score("tokens in the answer (0..inf)", 0, float("inf"), worse="higher"),
        "too_long_total_tokens": Score(
            "tokens in system + prompt + answer (0..inf); flagged above max_tokens", 0, float("inf"), worse="higher"),
    }
    default = True
    order = 130
    weight = 0.3
    threshold = Threshold("max_tokens", "too_long_total_tokens", ">")
    config_inputs = ("tokenizer",)
    Params = TooLongParams

    #: an unset ``max_tokens`` takes ``AuditConfig.max_tokens`` (also when re-deciding stored scores)
    config_defaults = {"max_tokens": "max_tokens"}

    def __init__(self, params: CheckParams | dict[str, Any] | None = None):
        super().__init__(params)
        # token counts of texts already seen in earlier batches of this audit (1M-row datasets repeat
        # a lot), per tokenizer file: one instance may be bound to configs naming other tokenizers
        self._memo: dict[str, dict[int, int]] = {}

    def score(self, batch: pa.Table) -> pa.Table:
        from ..models.tokenizer import load_tokenizer_json, resolve_tokenizer_json

        path = str(resolve_tokenizer_json(getattr(getattr(self, "config", None), "tokenizer", None)))
        tok = load_tokenizer_json(path)  # loaded once per process (lru_cache on the path)
        memo = self._memo.setdefault(path, {})
        prompt = _count(tok, batch["prompt"], memo)
        output = _count(tok, batch["output"], memo)
        total = prompt + output
        if "system" in batch.column_names:
            total = total + _count(tok, batch["system"], memo)
        return pa.table({
            "too_long_prompt_tokens": pa.array(prompt.astype(np.int32)),
            "too_long_output_tokens": pa.array(output.astype(np.int32)),
            "too_long_total_tokens": pa.array(total.astype(np.int32)),
        })

    def decide(self, scores: pa.Table) -> np.ndarray:
        budget = self.params.max_tokens or DEFAULT_MAX_TOKENS
        return scores["too_long_total_tokens"].to_numpy(zero_copy_only=False) > budget


#: texts encoded per tokenizer call
_ENCODE_TEXTS = 1024


def _count(tok, texts: pa.Array | pa.ChunkedArray, memo: dict[int, int]) -> np.ndarray:
    """Tokens per text (null and "" -> 0), encoding each distinct text (or word, see :func:`_word_split`)
    once per audit.

    ``memo`` maps a text's hash to its count: 64-bit keys keep it small on big datasets,
    and a collision (odds ~1e-19 per pair) could only misstate one count.
    """
    col = pc.fill_null(texts, "")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if len(col) == 0:
        return np.zeros(0, dtype=np.int64)
    enc = col.dictionary_encode()
    uniques = enc.dictionary
    added = _word_split(tok)
    if added is None:
        lengths = _encoded(tok, uniques, memo)
    else:
        lengths = np.zeros(len(uniques), dtype=np.int64)
        # the added tokens' texts as one alternation of quoted literals (one pass, not one per token)
        split = np.ones(len(uniques), dtype=bool)
        quoted = [c for c in added if "\\E" not in c]
        if quoted:
            split &= ~np.asarray(pc.match_substring_regex(uniques, "|".join(rf"\Q{c}\E" for c in quoted)), dtype=bool)
        for content in set(added) - set(quoted):
            split &= ~np.asarray(pc.match_substring(uniques, content), dtype=bool)
        whole = np.flatnonzero(~split)
        if len(whole):
            lengths[whole] = _encoded(tok, uniques.take(pa.array(whole)), memo)
        some = np.flatnonzero(split)
        if len(some):
            words, owner = _words(uniques.take(pa.array(some)))
            wenc = words.dictionary_encode()
            per_word = _encoded(tok, wenc.dictionary, memo)[wenc.indices.to_numpy(zero_copy_only=False)]
            lengths[some] = np.bincount(owner, weights=per_word, minlength=len(some)).astype(np.int64)
    return lengths[enc.indices.to_numpy(zero_copy_only=False)]


def _encoded(tok, texts: pa.Array, memo: dict[int, int]) -> np.ndarray:
    """Token count of each (distinct) text, through ``memo``."""
    strings = texts.to_pylist()
    keys = [hash(t) for t in strings]
    todo = [i for i, k in enumerate(keys) if k not in memo]
    encode = getattr(tok, "encode_batch_fast", None) or tok.encode_batch  # _fast skips offsets
    for lo in range(0, len(todo), _ENCODE_TEXTS):
        # a bounded number of Encoding objects alive at once: each keeps its ids, tokens and masks, about
        # 1 KB per 10 tokens (18k templated answers at once: +250 MB)
        part = todo[lo:lo + _ENCODE_TEXTS]
        for i, e in zip(part, encode([strings[i] for i in part], add_special_tokens=False)):
            memo[keys[i]] = len(e)
    return np.fromiter((memo[k] for k in keys), dtype=np.int64, count=len(keys))


#: code points that may be whitespace to the pre-tokenizer's regex besides ASCII (a superset of Unicode's
#: White_Space, which Oniguruma's \s is: with the old Mongolian vowel separator and the zero-width and
#: format characters around the spaces); a space after one of them, or after an ASCII control character,
#: is not a cut
_MAYBE_SPACE = (0x85, 0xA0, 0x1680, 0x180E, *range(0x2000, 0x2010), *range(0x2028, 0x2030), *range(0x205F, 0x2065),
                0x3000, 0xFEFF)
#: their UTF-8 encodings as integers, by length (none takes 4 bytes)
_SPACE_KEYS = {n: np.array(sorted(int.from_bytes(chr(c).encode(), "big") for c in _MAYBE_SPACE
                                  if len(chr(c).encode()) == n), dtype=np.int64) for n in (2, 3)}


def _words(texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(the words, the text of each) of a string array: each text cut before every " " that follows a
    character that is not whitespace (:func:`_word_split`), with numpy on the UTF-8 bytes. The words of a
    text are its bytes in order (a word after a cut starts with the space)."""
    n = len(texts)
    offsets, data = string_bytes(texts)
    spaces = np.flatnonzero(data == 0x20)
    owner = np.searchsorted(offsets, spaces, side="right") - 1
    inner = spaces > offsets[owner]  # a space that opens its text cuts nothing
    spaces, owner = spaces[inner], owner[inner]
    prev = data[spaces - 1]
    cut = (prev >= 0x21) & (prev <= 0x7E)
    multi = np.flatnonzero(prev >= 0x80)  # the last byte of a longer character: which one?
    if len(multi):
        at = spaces[multi]

        def byte(back: int) -> np.ndarray:  # the byte ``back`` before each space (0 before the first byte)
            pos = at - back
            return np.where(pos >= 0, data[np.maximum(pos, 0)], 0).astype(np.int64)

        tail2 = byte(2) << 8 | byte(1)
        tail3 = byte(3) << 16 | tail2
        # valid UTF-8 synchronizes: a whole encoding ending just before the space is that character
        cut[multi] = ~(np.isin(tail2, _SPACE_KEYS[2]) | np.isin(tail3, _SPACE_KEYS[3]))
    starts = np.concatenate([offsets[:-1], spaces[cut]])
    owners = np.concatenate([np.arange(n, dtype=np.int64), owner[cut]])
    order = np.argsort(starts, kind="stable")  # equal starts are empty texts: kept in text order
    bounds = np.append(starts[order], offsets[-1])
    words = pa.LargeStringArray.from_buffers(len(order), pa.py_buffer(bounds), pa.py_buffer(data))
    return words, owners[order]


def _word_split(tok) -> tuple[str, ...] | None:
    """The added tokens' texts when ``tok`` counts a text as the sum of its words, else None.

    A byte-level BPE with the GPT-2 pre-tokenizer regex and no normalizer encodes each pre-token on
    its own, and a space after a non-space character always starts a new pre-token (no alternative
    of the regex runs over a space but a whitespace run, which cannot hold the character before it;
    none looks behind, and what decides where a match ends is the same whether a space or the
    text's end follows). So a text has as many tokens as its pieces cut before such spaces
    (:func:`_words`): words repeat far more than texts (a sentence under several templates), and
    each distinct word is encoded once. A text holding an added token's text is encoded whole
    (an added token is matched before pre-tokenization).
    """
    try:
        from tokenizers import models, pre_tokenizers
    except ImportError:
        return None
    pre = tok.pre_tokenizer
    if (tok.normalizer is not None or type(pre) is not pre_tokenizers.ByteLevel or pre.add_prefix_space
            or not pre.use_regex or type(tok.model) is not models.BPE or tok.model.dropout is not None
            # a truncated or padded encoding's length is not its words' sum
            or tok.truncation is not None or tok.padding is not None):
        return None
    return tuple(a.content for a in tok.get_added_tokens_decoder().values() if a.content)
