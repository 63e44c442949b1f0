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
(``empty_output`` covers them), and so do rows that the cheap answer checks it ``reads`` flag
(``empty_output``, ``placeholder_output``, when they run): scoring an answer that is not there costs
a forward pass and says nothing. Re-deciding those checks more leniently leaves such rows null
(they rank worst in curate's quality score, as an empty answer does).

Cost: answers are scored in batches of similar token length (sorted inside each 256-row batch,
order restored), identical rows once. On a 2-core CPU SmolLM2 scores about 12 Tatoeba rows/s
and 1.5-3 Alpaca rows/s (~150 tokens per row, two passes: with and without the prompt), so
``audit`` runs it only with ``--with lm``. ``curate`` scores it by default on its candidate pool
only (after duplicates and dropped rows are gone), at most ``curate_rows`` of them
(:mod:`finesift.curate.pipeline`).

What it is worth on real data (``benchmarks/bench_lm_quality.py``): on Alpaca rows people
rewrote as wrong answers or unclear instructions vs rows they kept, IFD is the best of the
signals this model gives, and it is weak: see the README's table. It ranks; it is no detector.

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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pydantic import Field

from ..config import gpu_allowed
from .base import CheckParams, RowCheck, Score, Threshold, decision, register, registry

#: cheap checks whose flagged rows have no answer worth a forward pass
SKIP_FLAGGED = ("empty_output", "placeholder_output")


class LMQualityParams(CheckParams):
    max_ifd: float = decision(1.0)
    """Flag rows whose IFD (answer loss with / without the prompt) is above this."""
    batch_size: int = 16
    """Sequences per forward pass."""
    max_length: int = 512
    """Tokens per sequence; longer ones lose the start of the prompt."""
    curate_rows: int | None = Field(512, ge=0)
    """curate with models.lm 'auto' (the default): score at most this many rows of the candidate pool (the
    best by every other signal; the rest keep a neutral LM share), so the LM stays affordable on a CPU
    (~1.5-12 rows/s there). null: the whole pool; 0: no LM scoring. models.lm true scores the whole pool."""


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
    reads = SKIP_FLAGGED
    Params = LMQualityParams

    def accelerated(self, config: Any = None) -> bool:
        return gpu_allowed(config)  # the LM runs where torch finds a GPU

    def score(self, batch: pa.Table) -> pa.Table:
        config = getattr(self, "config", None)
        model = getattr(config, "model", None)
        device = getattr(config, "device", None)
        p = self.params
        n = batch.num_rows
        outputs = pc.fill_null(batch["output"], "").to_pylist()
        todo = np.flatnonzero(~self._skipped(batch) & np.array([bool(o.strip()) for o in outputs], dtype=bool))
        cols = {k: np.full(n, np.nan) for k in ("loss", "ppl", "ifd")}
        if len(todo):
            scorer = _scorer(None if model is None else str(model), device, p.batch_size, p.max_length)
            prompts = pc.fill_null(batch["prompt"], "").to_pylist()
            system = batch["system"].to_pylist() if "system" in batch.column_names else None
            out = scorer.score([prompts[i] for i in todo], [outputs[i] for i in todo],
                               None if system is None else [system[i] for i in todo])
            for k in cols:
                cols[k][todo] = out[k]

        def col(x: np.ndarray) -> pa.Array:
            return pa.array(x.astype(np.float32), mask=np.isnan(x))

        return pa.table({"lm_loss": col(cols["loss"]), "lm_ppl": col(cols["ppl"]), "lm_ifd": col(cols["ifd"])})

    def _skipped(self, batch: pa.Table) -> np.ndarray:
        """Rows a check in :data:`SKIP_FLAGGED` that ran before this one flags (its columns are in the batch)."""
        skip = np.zeros(batch.num_rows, dtype=bool)
        params = getattr(getattr(self, "config", None), "params", None) or {}
        reg = registry()
        for name in SKIP_FLAGGED:
            cls = reg.get(name)
            if cls is None or not all(c in batch.column_names for c in cls.score_columns):
                continue
            skip |= np.asarray(cls(params.get(name)).decide(batch.select(list(cls.score_columns))), dtype=bool)
        return skip

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
