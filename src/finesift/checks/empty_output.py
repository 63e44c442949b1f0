"""``empty_output``: the answer is missing, empty or only whitespace/punctuation.

Score ``empty_output_chars``: the answer's content characters (0 .. inf): letters, digits and
symbols (an emoji answer, "😆", is one); an answer of punctuation alone counts its punctuation when
it holds at least ``min_punctuation`` marks (Morse code ``.. .-.. ---``, ASCII art ``+---+``), since
a task can ask for exactly that, and 0 otherwise ("...", "-", "?"). Lower is worse; a row is flagged
when it is below ``min_chars`` (default 1).

Measured (``.venv/bin/python benchmarks/bench_alpaca.py --checks empty_output --split tune``, then
``--split check``): the emoji, Morse-code and ASCII-art answers it flagged among the rows Alpaca's
volunteers kept (3 of 6) are quiet; the other three are empty answers the cleaning missed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, register


class EmptyOutputParams(CheckParams):
    min_chars: int = decision(1)
    """Flag answers with fewer content characters (letters, digits, symbols) than this."""
    min_punctuation: int = 5
    """Punctuation marks an answer of punctuation alone needs to count as content (Morse code, ASCII art)."""


@register
class EmptyOutput(RowCheck):
    name = "empty_output"
    description = "The answer is empty, whitespace or punctuation only."
    scores = {
        "empty_output_chars": Score(
            "letters, digits and symbols in the answer, or its punctuation marks when it holds only a run of "
            "them (0..inf); lower is worse", 0, float("inf"), worse="lower"),
    }
    default = True
    order = 40
    weight = 1.0
    threshold = Threshold("min_chars", "empty_output_chars", "<")
    Params = EmptyOutputParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: EmptyOutputParams = self.params  # type: ignore[assignment]
        text = pc.fill_null(batch["output"], "")
        content = pc.utf8_length(pc.replace_substring_regex(text, pattern=r"[^\p{L}\p{N}\p{S}]", replacement=""))
        chars = content.to_numpy(zero_copy_only=False).astype(np.int32)
        bare = np.flatnonzero(chars == 0)
        if len(bare):
            # only the rows with no letter, digit or symbol are measured again (few, and short or empty)
            marks = pc.utf8_length(pc.replace_substring_regex(text.take(pa.array(bare)), pattern=r"\s+",
                                                              replacement="")).to_numpy(zero_copy_only=False)
            chars[bare] = np.where(marks >= p.min_punctuation, marks, 0)
        return pa.table({"empty_output_chars": pa.array(chars, pa.int32())})

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["empty_output_chars"].to_numpy(zero_copy_only=False) < self.params.min_chars
