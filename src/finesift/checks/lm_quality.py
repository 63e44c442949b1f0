"""``lm_quality``: a local language model finds that the prompt does not explain the answer.

Scores from a causal LM (default SmolLM2-135M-Instruct; ``--model`` for any
local Hugging Face folder; see :mod:`finesift.models.lm_scores`), on the
answer tokens only:

* ``lm_loss`` (0..inf nats/token, lower = more predictable): loss of the answer
  given the prompt, in the model's chat template.
* ``lm_ppl`` (1..inf, lower = more predictable): exp(``lm_loss``).
* ``lm_ifd`` (0..inf, lower = the prompt helps more): instruction-following
  difficulty, ``lm_loss`` / loss of the answer without the prompt.

A row is flagged when ``lm_ifd > max_ifd`` (default 1.0): the prompt makes the
answer *less* predictable than no prompt at all, so prompt and answer do not
belong together. This is the cut Cherry LLM (Li et al., "From Quantity to
Quality", NAACL 2024) and Superfiltering (Li et al., ACL 2024) use to discard
misaligned pairs before ranking by IFD. Rows with an empty answer score null
(``empty_output`` covers them).

The cut is conservative. Measured with SmolLM2 on 200 Tatoeba "Translate to
French" rows: right translations have median IFD 0.64 (0.5% above 1); the same
prompts with another row's French answer 0.77 (1.5% above 1), because any French
answer is more predictable after "Translate to French" than with no prompt. The
*ranks* separate better (the right answer has the lower IFD in 77% of rows and
median perplexity 25 vs 52), which is how :func:`finesift.curate.quality.quality_score`
uses them. An answer that echoes the English prompt has the *lowest* IFD (0.42):
copying is easy; ``echo_output`` and ``wrong_language`` catch that.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, register


class LMQualityParams(CheckParams):
    max_ifd: float = decision(1.0)
    """Flag rows whose IFD (answer loss with / without the prompt) is above this."""
    batch_size: int = 16
    """Sequences per forward pass."""
    max_length: int = 512
    """Tokens per sequence; longer ones lose the start of the prompt."""


@register
class LMQuality(RowCheck):
    name = "lm_quality"
    batch_rows = 256  # ~20 s per batch on CPU: progress moves, memory stays small
    description = "A local language model finds the prompt does not make the answer more predictable (IFD > 1)."
    scope = "row"
    cost = "model"
    scores = {
        "lm_loss": Score(
            "answer loss given the prompt, nats/token (0..inf; lower = more predictable)", 0, float("inf"), worse="higher"),
        "lm_ppl": Score(
            "answer perplexity given the prompt, exp(lm_loss) (1..inf; lower = more predictable)", 1, float("inf"), worse="higher"),
        "lm_ifd": Score(
            "instruction-following difficulty, loss with / without the prompt (0..inf; >1 = "
            "prompt does not help)", 0, float("inf"), worse="higher"),
    }
    group = "lm"
    order = 150
    drop = False
    weight = 0.5
    threshold = Threshold("max_ifd", "lm_ifd", ">")
    config_inputs = ("model",)
    Params = LMQualityParams

    def score(self, batch: pa.Table) -> pa.Table:
        config = getattr(self, "config", None)
        model = getattr(config, "model", None)
        device = getattr(config, "device", None)
        p = self.params
        scorer = _scorer(None if model is None else str(model), device, p.batch_size, p.max_length)
        system = batch["system"].to_pylist() if "system" in batch.column_names else None
        out = scorer.score(pc.fill_null(batch["prompt"], "").to_pylist(), pc.fill_null(batch["output"], "").to_pylist(),
                           system)

        def col(x: np.ndarray) -> pa.Array:
            return pa.array(x.astype(np.float32), mask=np.isnan(x))

        return pa.table({"lm_loss": col(out["loss"]), "lm_ppl": col(out["ppl"]), "lm_ifd": col(out["ifd"])})

    def decide(self, scores: pa.Table) -> np.ndarray:
        ifd = scores["lm_ifd"].to_numpy(zero_copy_only=False).astype(np.float64)
        return np.nan_to_num(ifd, nan=-np.inf) > self.params.max_ifd


@lru_cache(maxsize=1)
def _scorer(model: str | None, device: str | None, batch_size: int, max_length: int):
    """The scorer for a model and its settings, shared by every batch and audit of the process: loading
    the model takes seconds, and scoring only reads it (eval mode, inference only). One at a time: a
    process that moves on to another model (or to training) does not also hold the last one."""
    from ..models.lm_scores import LMScorer

    return LMScorer(model, device=device, batch_size=batch_size, max_length=max_length)
