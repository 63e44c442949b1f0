"""``empty_output``: the answer is missing, empty or only whitespace/punctuation.

Score ``empty_output_chars``: number of letters or digits in the answer (0 .. inf).
Lower is worse; a row is flagged when it is below ``min_chars`` (default 1).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, register


class EmptyOutputParams(CheckParams):
    min_chars: int = decision(1)
    """Flag answers with fewer letters/digits than this."""


@register
class EmptyOutput(RowCheck):
    name = "empty_output"
    description = "The answer is empty, whitespace or punctuation only."
    scores = {
        "empty_output_chars": Score(
            "letters+digits in the answer (0..inf); lower is worse", 0, float("inf"), worse="lower"),
    }
    default = True
    order = 40
    weight = 1.0
    threshold = Threshold("min_chars", "empty_output_chars", "<")
    Params = EmptyOutputParams

    def score(self, batch: pa.Table) -> pa.Table:
        text = pc.fill_null(batch["output"], "")
        alnum = pc.replace_substring_regex(text, pattern=r"[^\p{L}\p{N}]", replacement="")
        return pa.table({"empty_output_chars": pc.utf8_length(alnum).cast(pa.int32())})

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["empty_output_chars"].to_numpy(zero_copy_only=False) < self.params.min_chars
