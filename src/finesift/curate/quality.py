"""The per-row quality score (what curate keeps first) and diversity figures (kept vs raw).

Quality, in [0, 1], higher = better, deterministic, computed from ``audit.parquet`` only::

    quality = issues * soft * (1 - lm_share + lm_share * lm)

* ``issues`` = product over the row's flags of ``(1 - weight[code])``. Weights
  (each check's ``weight``, collected by :func:`default_weights`) say how much an issue ruins a training example:
  1.0 unusable (empty, placeholder, leaked eval data), 0.7-0.9 almost
  (wrong language, echo, truncated), 0.25-0.5 doubtful (conflict, prompt and
  answer unrelated per the LM, missing context, stale, off-topic, PII),
  0.1-0.3 cosmetic (too long, format, typos). Duplicate codes weigh 0: a copy is
  as good as its original, and curate keeps the *best* member of a group, so the
  flag must not decide which one that is. Unknown codes weigh
  :data:`UNKNOWN_WEIGHT`. Several issues compound.
* ``soft`` = ``1 - typos_rate * min(1, misspelling rate)`` for every float
  column named ``typos_*rate*``: ranks unflagged rows by spelling too.
* ``lm`` (only when ``lm_ifd`` exists; otherwise the factor is 1):
  ``0.7 * (1 - rank(lm_ifd)) + 0.3 * (1 - rank(lm_ppl))``, ranks scaled to 0..1
  within the dataset (ties share their mean rank; a missing score ranks worst).
  Lower IFD = the prompt explains the answer better; lower perplexity = fluent,
  unsurprising text. Ranks rather than raw values because losses are not
  comparable across models and datasets. ``lm_share`` (default 0.5) bounds the
  LM's say: a clean row never drops below 0.5 on the LM alone. (Cherry LLM
  ranks by *high* IFD, among IFD < 1, to find hard examples; here quality means
  coherence, so low IFD ranks first.) ``lm_rows`` (a boolean mask) says which rows the LM
  was asked to score when it scored only some (curate scores its candidate pool, within a
  budget): ranks are then taken among those rows, and every other row gets the neutral
  ``lm = 0.5`` (the mean rank: nothing is known about it) instead of ranking worst.

``weights`` overrides any code's weight and the special keys ``lm_share`` and
``typos_rate``; every weight must lie in 0..1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ConfigError

#: not codes: the LM's share of the score, and the weight of the misspelling rate
SIGNAL_WEIGHTS: dict[str, float] = {"lm_share": 0.5, "typos_rate": 0.5}


def default_weights() -> dict[str, float]:
    """Every check's declared ``weight`` (``Check.weight``) plus :data:`SIGNAL_WEIGHTS`."""
    from ..checks.base import default_weights as check_weights

    return {**check_weights(), **SIGNAL_WEIGHTS}


def __getattr__(name: str) -> Any:
    if name == "DEFAULT_WEIGHTS":  # derived from the checks' metadata on first use
        return default_weights()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


UNKNOWN_WEIGHT = 0.3
_IFD_SHARE = 0.7


def quality_score(audit_table: pa.Table, weights: dict[str, float] | None = None,
                  lm_rows: np.ndarray | None = None) -> np.ndarray:
    """Per-row quality in [0, 1] (higher = better) from an audit table; see the module docstring."""
    w = _weights(weights)
    n = audit_table.num_rows
    names = audit_table.column_names
    score = np.ones(n, dtype=np.float64)
    if "flags" in names:
        score *= _issue_factor(audit_table["flags"], w)
    for col in names:
        if col.startswith("typos_") and "rate" in col and pa.types.is_floating(audit_table.schema.field(col).type):
            rate = np.nan_to_num(_floats(audit_table[col]), nan=0.0)
            score *= 1.0 - w["typos_rate"] * np.clip(rate, 0.0, 1.0)
    if "lm_ifd" in names:
        scored = np.ones(n, dtype=bool) if lm_rows is None else np.asarray(lm_rows, dtype=bool)
        if scored.shape != (n,):
            raise ValueError(f"lm_rows has shape {scored.shape} for {n} rows")
        lm = np.full(n, 0.5)
        sub = _IFD_SHARE * (1.0 - rank01(_floats(audit_table["lm_ifd"])[scored]))
        if "lm_ppl" in names:
            sub += (1.0 - _IFD_SHARE) * (1.0 - rank01(_floats(audit_table["lm_ppl"])[scored]))
        else:
            sub /= _IFD_SHARE
        lm[scored] = sub
        score *= 1.0 - w["lm_share"] + w["lm_share"] * lm
    return np.clip(score, 0.0, 1.0)


def _weights(overrides: dict[str, float] | None) -> dict[str, float]:
    w = default_weights()
    for key, value in (overrides or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"quality weight {key!r}: {value!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"quality weight {key!r}: {value} is outside 0..1")
        w[key] = value
    return w


def _issue_factor(flags: pa.ChunkedArray | pa.Array, w: dict[str, float]) -> np.ndarray:
    import pyarrow.compute as pc

    if isinstance(flags, pa.ChunkedArray):
        flags = flags.combine_chunks()
    n = len(flags)
    factor = np.ones(n, dtype=np.float64)
    values = pc.list_flatten(flags)
    if not len(values):
        return factor
    parents = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False)
    enc = pc.dictionary_encode(values)
    codes = enc.dictionary.to_pylist()
    keep = np.array([1.0 - w.get(c, UNKNOWN_WEIGHT) for c in codes], dtype=np.float64)
    per_flag = keep[enc.indices.to_numpy(zero_copy_only=False)]
    # product per row as exp(sum(log)): a zero factor (weight 1) must stay exactly zero
    zero = per_flag <= 0.0
    logs = np.log(np.where(zero, 1.0, per_flag))
    factor *= np.exp(np.bincount(parents, weights=logs, minlength=n))
    factor[np.unique(parents[zero])] = 0.0
    return factor


def _floats(col) -> np.ndarray:
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def rank01(x: np.ndarray) -> np.ndarray:
    """Rank scaled to 0..1 (0 = smallest); ties get their mean rank; NaN ranks 1 (worst when lower is better)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    out = np.ones(n, dtype=np.float64)
    ok = ~np.isnan(x)
    if not ok.any():
        return out
    if n == 1:
        return np.full(1, 0.5)
    _, inverse, counts = np.unique(x[ok], return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    mean_rank = first + (counts - 1) / 2.0
    out[ok] = mean_rank[inverse] / max(1, n - 1)
    return out


def diversity_figures(emb: np.ndarray, labels: np.ndarray | None = None) -> dict[str, Any]:
    """How varied a set of rows is: ``rows``, ``clusters_covered``, ``mean_pairwise_distance``.

    ``clusters_covered``: distinct cluster labels among the rows (labels < 0 do
    not count; None without labels). Pass the labels of one clustering of the
    raw data for both the raw and the kept rows, so the counts compare.
    ``mean_pairwise_distance``: mean cosine distance (1 - cosine, 0..2, higher =
    more varied) over all pairs of distinct rows. Exact, not sampled, in
    O(rows x dims): for unit vectors the sum of all pairwise cosines is
    ``|sum of rows|^2 - rows``. None for fewer than two rows.
    """
    from ..models.embeddings import unit_rows

    emb = unit_rows(np.asarray(emb, dtype=np.float64))
    n = len(emb)
    out: dict[str, Any] = {"rows": int(n), "clusters_covered": None, "mean_pairwise_distance": None}
    if labels is not None:
        labels = np.asarray(labels)
        out["clusters_covered"] = int(len(np.unique(labels[labels >= 0]))) if len(labels) else 0
    if n >= 2:
        total = emb.sum(axis=0)
        norms = np.einsum("ij,ij->i", emb, emb)  # 1, or 0 for an all-zero row
        mean_cos = (float(total @ total) - float(norms.sum())) / (n * (n - 1))
        out["mean_pairwise_distance"] = round(1.0 - mean_cos, 6)
    return out
