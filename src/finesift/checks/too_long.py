"""``too_long``: prompt + answer exceed the token budget of the target model.

Tokens are counted with the target model's tokenizer (``config.tokenizer``;
default the SmolLM2 tokenizer, see :mod:`finesift.models.tokenizer`), without
special tokens or chat-template overhead, once per distinct text in a batch.

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

from .base import CheckParams, RowCheck, Score, Threshold, decision, register


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
    """Tokens per text (null and "" -> 0), encoding each distinct text once per audit.

    ``memo`` maps a text's hash to its count: 64-bit keys keep it small on big datasets,
    and a collision (odds ~1e-19 per pair) could only misstate one count.
    """
    col = pc.fill_null(texts, "")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if len(col) == 0:
        return np.zeros(0, dtype=np.int64)
    enc = col.dictionary_encode()
    uniques = enc.dictionary.to_pylist()
    keys = [hash(t) for t in uniques]
    todo = [i for i, k in enumerate(keys) if k not in memo]
    encode = getattr(tok, "encode_batch_fast", None) or tok.encode_batch  # _fast skips offsets
    for lo in range(0, len(todo), _ENCODE_TEXTS):
        # a bounded number of Encoding objects alive at once: each keeps its ids, tokens and masks, about
        # 1 KB per 10 tokens (18k templated answers at once: +250 MB)
        part = todo[lo:lo + _ENCODE_TEXTS]
        for i, e in zip(part, encode([uniques[i] for i in part], add_special_tokens=False)):
            memo[keys[i]] = len(e)
    lengths = np.fromiter((memo[k] for k in keys), dtype=np.int64, count=len(keys))
    return lengths[enc.indices.to_numpy(zero_copy_only=False)]
