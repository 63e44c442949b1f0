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


# --- soft signals: what ranks a usable row below a spotless one ------------------------------------

#: a score at least this far from its check's benign end towards the threshold is a soft signal
#: (conflict 0.25 of 0.5, truncated_output 0.25, wrong_language 0.4 of 0.8): tuned on the experiment's
#: noisy set, seed 0, where clean rows sit far below (99th percentiles 0.25, 0, 0.26)
NEAR = 0.5
#: an answer whose alignment with its own prompt stands less than this many standard deviations above its
#: alignment with random prompts of the dataset answers something else (a translation of another sentence:
#: z ~ -1; a translation of its prompt: z ~ 4 and up; 6% of clean Tatoeba rows fall below 1.5)
ALIGN_Z = 1.5
#: an answer this many robust standard deviations longer or shorter than answers to prompts of similar length
#: (a chatty wrapper: z ~ 3; a cut-off answer: z ~ -2.5; 2-3% of clean Tatoeba rows) is ``odd_length``
LENGTH_Z = 2.0
#: an answer whose character trigrams read this much like the prompts rather than the answers (0..1; a
#: wrapper in the prompt's language: ~0.2-0.3; 1-2% of clean Tatoeba rows) is ``prompt_like``
PROMPT_LIKE = 0.25
#: misspelling counts: any misspelled word is a signal, even below the typos check's rate threshold
_COUNT_SIGNALS = {"typos_prompt_count": "typos", "typos_output_count": "typos"}


def soft_signals(audit_table: pa.Table, thresholds: dict[str, float] | None = None,
                 prompts: list[str | None] | None = None, answers: list[str | None] | None = None,
                 skip: set[str] | frozenset[str] = frozenset(), seed: int = 0,
                 answer_key: np.ndarray | None = None) -> list[list[str]]:
    """Per row, the names of the soft signals against it: evidence short of a dropping flag.

    * every flag whose code is not in ``skip`` (curate passes the codes it drops and the duplicate
      relations, so what is left are the codes that only lower quality: ``typos``, ``format_outlier``,
      ``lm_quality``...);
    * ``<code>~``: a check's main score (a bounded 0..1 score) at least :data:`NEAR` of the way from its
      benign end to ``thresholds[code]`` (a conflict score of 0.3, a truncation score of 0.4);
    * ``typos``: any misspelled word at all;
    * ``format_variant``: the prompt writes the dataset's dominant head ("Translate to French: ") in another
      case or spacing (:func:`format_variants`);
    * ``contested``: another row of the same prompt group (``conflict_group``) gives a different answer
      (``answer_key``) and is still here: which one is right is not settled, so neither ranks as spotless;
    * ``misaligned``: the answer aligns with its own prompt hardly better than with random prompts
      (:func:`answer_evidence` ``z`` below :data:`ALIGN_Z`), ``odd_length`` (``length_z`` beyond
      :data:`LENGTH_Z` either way) and ``prompt_like`` (``prompt_like`` at least :data:`PROMPT_LIKE`), when
      ``prompts`` and ``answers`` are given.

    Deterministic for ``seed``. A row with no signal is one nothing found anything against.
    """
    from ..checks.base import registry

    n = audit_table.num_rows
    names = audit_table.column_names
    out: list[list[str]] = [[] for _ in range(n)]
    if "flags" in names:
        for r, f in enumerate(audit_table["flags"].to_pylist()):
            out[r].extend(c for c in (f or []) if c not in skip)
    for code, cls in registry().items():
        t = cls.threshold
        if t is None or cls.relation == "duplicate" or t.column not in names:
            continue
        sc = cls.scores.get(t.column)
        limit = (thresholds or {}).get(code)
        if sc is None or limit is None or sc.lo is None or sc.hi is None or not np.isfinite([sc.lo, sc.hi]).all():
            continue
        x = _floats(audit_table[t.column])
        with np.errstate(invalid="ignore"):
            if sc.worse == "higher":
                near = (x > sc.lo) & (x >= sc.lo + NEAR * (float(limit) - sc.lo))
            elif sc.worse == "lower":
                near = (x < sc.hi) & (x <= sc.hi - NEAR * (sc.hi - float(limit)))
            else:
                continue
        for r in np.flatnonzero(near):
            if code not in out[r]:
                out[r].append(code + "~")
    for col, name in _COUNT_SIGNALS.items():
        if col in names:
            hit = np.nan_to_num(_floats(audit_table[col]), nan=0.0) > 0
            for r in np.flatnonzero(hit):
                if name not in out[r]:
                    out[r].append(name)
    if answer_key is not None and "conflict_group" in names:
        answers_of: dict[Any, set] = {}
        group = audit_table["conflict_group"].to_pylist()
        for r, g in enumerate(group):
            if g is not None:
                answers_of.setdefault(g, set()).add(answer_key[r])
        for r, g in enumerate(group):
            if g is not None and len(answers_of[g]) > 1:
                out[r].append("contested")
    if prompts is not None:
        for r in np.flatnonzero(format_variants(prompts)):
            out[r].append("format_variant")
        if answers is not None:
            ev = answer_evidence(prompts, answers, seed)
            with np.errstate(invalid="ignore"):
                for name, hit in (("misaligned", ev["z"] < ALIGN_Z), ("odd_length", np.abs(ev["length_z"]) >= LENGTH_Z),
                                  ("prompt_like", ev["prompt_like"] >= PROMPT_LIKE)):
                    for r in np.flatnonzero(hit):
                        out[r].append(name)
    return out


#: a prompt's head: the text up to the first ":" within 60 characters, with the blanks after it
_HEAD = r"^(?P<h>[^:\n]{1,60}:[ \t]*)"


def format_variants(prompts: list[str | None], min_share: float = 0.5) -> np.ndarray:
    """Per prompt, whether it writes the dataset's dominant head in another case or spacing.

    The dominant head is the exact most common head text ("Translate to French: "); when at least
    ``min_share`` of the prompts use it, a prompt whose head has the same letters but not the same text
    ("TRANSLATE TO FRENCH: ", "Translate to French:" without the blank) is a variant. The
    ``format_outlier`` check compares letters only, so it sees these as the dominant template.
    """
    import pyarrow.compute as pc

    n = len(prompts)
    arr = pa.array(prompts, pa.string())
    head = pc.struct_field(pc.extract_regex(pc.fill_null(arr, ""), _HEAD), [0])
    heads = head.to_pylist()
    counts: dict[str, int] = {}
    for h in heads:
        if h is not None:
            counts[h] = counts.get(h, 0) + 1
    out = np.zeros(n, dtype=bool)
    if not counts or n == 0:
        return out
    top = max(counts, key=lambda h: (counts[h], h))
    if counts[top] < min_share * n:
        return out
    letters = lambda s: "".join(ch for ch in s.lower() if ch.isalpha())  # noqa: E731
    key = letters(top)
    for r, h in enumerate(heads):
        out[r] = h is not None and h != top and letters(h) == key
    return out


#: rows the word association is learned from (a seeded sample beyond this): bounds the cost on large pools
ALIGN_SAMPLE = 20_000


def answer_evidence(prompts: list[str | None], answers: list[str | None], seed: int = 0,
                    k: int | None = None) -> dict[str, np.ndarray]:
    """Per row, evidence on the answer mined from the dataset itself: the ``conflict`` check's implausibility
    evidence, applied to every row rather than only to rows sharing a prompt.

    ``z``: how many standard deviations the answer's word alignment with its own prompt stands above its
    alignment with ``k`` random prompts of the dataset (NaN: not judged); ``length_z``: robust z of its
    length among answers to prompts of similar length; ``prompt_like``: 0..1, how much its character
    trigrams read like the prompts rather than like the answers."""
    from ..checks.conflict import BASELINE_PROMPTS, AnswerEvidence

    n = len(prompts)
    if n < 3:
        return {"z": np.full(n, np.nan), "length_z": np.zeros(n), "prompt_like": np.zeros(n)}
    p = [s or "" for s in prompts]
    a = [s or "" for s in answers]
    uprm, prm_idx = np.unique(np.asarray(p, dtype=object), return_inverse=True)
    uans, ans_idx = np.unique(np.asarray(a, dtype=object), return_inverse=True)
    order = np.random.default_rng(seed).permutation(n)[:ALIGN_SAMPLE]
    pos = np.full(n, -1, dtype=np.int64)
    pos[order] = np.arange(len(order))
    ev = AnswerEvidence(list(uans), ans_idx.reshape(-1), list(uprm), prm_idx.reshape(-1), pos,
                   [a[i] for i in order], [p[i] for i in order])
    z, _ = ev.prompt_z(k or BASELINE_PROMPTS, seed)
    prompt_like, _ = ev.language()
    return {"z": np.asarray(z, dtype=np.float64), "length_z": np.asarray(ev.length_z(), dtype=np.float64),
            "prompt_like": np.asarray(prompt_like, dtype=np.float64)}
