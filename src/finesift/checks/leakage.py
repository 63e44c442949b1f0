"""``leakage``: a training row duplicates a row of the evaluation set given with ``--eval FILE``.

Chat-aware: prompts and answers are compared separately. A training row leaks when

* its **prompt** matches an eval prompt (the model would have seen the test question), or
* its **prompt + answer** matches an eval row, or
* its **answer** alone matches an eval answer and is long enough (``min_answer_words``) to be
  more than a stock reply ("Yes.", "Bonjour.").

"Matches" is exact (after NFKC, lower case and whitespace normalization), near
(Jaccard of word ``shingle``-grams >= ``near_threshold``; words are runs of letters or digits;
``near_duplicate``'s MinHash path, :mod:`._minhash`: rensa signatures, LSH candidates - at most
:data:`MAX_CANDIDATES` eval texts per training text, a few in a huge templated cluster - verified on
the real shingle sets) or, when embeddings are enabled,
semantic: a paraphrase of the whole item, ``min(prompt cosine, answer cosine) >=
semantic_threshold`` (prompts alone are semantically close far too often on templated data).

Score columns:

* ``leakage_jaccard``: best verified Jaccard with an eval row (0..1, 1 = exact); higher is worse.
* ``leakage_cosine``: best ``min(prompt cosine, answer cosine)`` with an eval row (-1..1; null when
  semantic matching is off); higher is worse.
* ``leakage_match``: which part matched: ``prompt``, ``pair`` or ``answer`` (null if none).
* ``leakage_of``: **index of the matching row in the eval file** (0-based, in the order
  ``finesift.io.read`` returns it), not a row of the training data, so it never feeds
  ``duplicate_of``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from . import _shingles as sh
from ._groups import dense_ids
from ._minhash import auto_bands, lsh_index, shingle_sets
from .base import Check, CheckParams, Context, Score, Threshold, decision, normalize_text, register

PARTS = ("prompt", "pair", "answer")


class LeakageParams(CheckParams):
    near_threshold: float = decision(0.8, rescore_below=True)
    """Jaccard of word shingles at or above which two texts are near duplicates."""
    shingle: int = 3
    """Words per shingle (texts shorter than this are one shingle)."""
    num_perm: int = 128
    """MinHash permutations (more: fewer missed candidates, slower)."""
    semantic: bool | None = None
    """Compare embeddings too. None: on when embeddings are enabled (--with embeddings, curate's default)."""
    semantic_threshold: float = decision(0.95, rescore_below=True)
    """Cosine at or above which two texts are semantic duplicates."""
    backend: str | None = None
    """Embedding backend for semantic matching: static or sentence (default: the run's)."""
    compare_answers: bool = True
    """Also flag rows whose answer alone matches an eval answer (if long enough)."""
    min_answer_words: int = 8
    """Answers shorter than this never leak on their own (stock replies)."""


#: most eval candidates verified per training text (as ``near_duplicate``'s ``max_candidates``): bounded
#: work on templated eval sets, where every eval row shares a band with every training row
MAX_CANDIDATES = 256


@register
class Leakage(Check):
    name = "leakage"
    description = "Duplicates a row of the evaluation set (--eval): prompt, prompt+answer or long answer."
    scope = "dataset"
    cost = "cheap"  # exact + MinHash; the optional semantic part reuses the run's embeddings model
    scores = {
        "leakage_jaccard": Score(
            "best word-shingle Jaccard with an eval row (0..1, 1 = exact); higher is worse", 0, 1, worse="higher"),
        "leakage_cosine": Score(
            "best min(prompt cosine, answer cosine) with an eval row (-1..1); null when off", -1, 1, worse="higher"),
        "leakage_match": Score("which part matched: prompt, pair or answer"),
    }
    group = "eval"
    order = 170
    weight = 1.0
    threshold = Threshold("near_threshold", "leakage_jaccard", ">=")
    config_inputs = ("embeddings", "with_models")
    partner_column = "leakage_of"
    Params = LeakageParams

    def score(self, table: pa.Table, ctx: Context) -> pa.Table:
        path = getattr(ctx.config, "eval_data", None)
        if not path:
            raise ConfigError("leakage needs --eval FILE (the evaluation set to protect)")
        ev = ctx.cached(("leakage_eval", str(path)), lambda: _read(path)).table
        p = self.params
        train = _texts(table)
        evals = _texts(ev)
        n = table.num_rows
        best_j = np.zeros(n)
        best_of = np.full(n, -1, dtype=np.int64)
        best_part = np.full(n, None, dtype=object)
        rank = np.zeros(n, dtype=int)  # prefer prompt > pair > answer on equal scores (most informative)
        for r, part in enumerate(PARTS):
            if part == "answer" and not p.compare_answers:
                continue
            j, of = self._near(train[part], evals[part], part)
            better = (j > best_j) | ((j == best_j) & (j > 0) & (best_of < 0))
            best_j = np.where(better, j, best_j)
            best_of = np.where(better, of, best_of)
            best_part[better] = part
            rank[better] = r
        cosine = None
        if self._semantic_on(ctx):
            cosine, cos_of, cos_part = self._semantic(table, ev, ctx)
            # the partner comes from the shingle match when there is one, else from the embeddings
            use = (best_j < p.near_threshold) & (cosine >= p.semantic_threshold)
            best_of = np.where(use, cos_of, best_of)
            best_part[use] = cos_part[use]
        ctx.facts["leakage"] = {"eval": str(path), "eval_rows": ev.num_rows}
        cols: dict[str, Any] = {
            "leakage_jaccard": pa.array(np.round(best_j, 6), type=pa.float64()),
            "leakage_cosine": pa.array(cosine, type=pa.float64()) if cosine is not None else pa.nulls(n, pa.float64()),
            "leakage_match": pa.array(best_part.tolist(), type=pa.string()),
            "leakage_of": pa.array(best_of, mask=best_of < 0, type=pa.int64()),
        }
        return pa.table(cols)

    def decide(self, scores: pa.Table) -> np.ndarray:
        p = self.params
        j = pc.fill_null(scores["leakage_jaccard"], 0.0).to_numpy(zero_copy_only=False)
        cos = pc.fill_null(scores["leakage_cosine"], -1.0).to_numpy(zero_copy_only=False)
        return (j >= p.near_threshold) | (cos >= p.semantic_threshold)

    # --- matching ---------------------------------------------------------------------------

    def _near(self, train: pa.Array, evals: pa.Array, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Best Jaccard (exact = 1) of each training text against the eval texts, and the eval index.

        The shared MinHash path (:mod:`._minhash`): word-shingle sets of the distinct texts of both
        sides, eval texts first, so that the lowest keys an LSH candidate list keeps are eval texts;
        candidates (at most :data:`MAX_CANDIDATES` per training text) are verified exactly and the
        best is kept, ties to the lowest eval index.
        """
        p = self.params
        n, n_eval = len(train), len(evals)
        best = np.zeros(n)
        of = np.full(n, -1, dtype=np.int64)
        min_words = p.min_answer_words if part == "answer" else 1
        node, uniq = dense_ids(pa.chunked_array([evals, train], type=pa.string()))
        e_node, t_node = node[:n_eval], node[n_eval:]
        k = len(uniq)
        nwords = np.diff(sh.words(uniq)[1])
        values, offsets = shingle_sets(uniq, p.shingle)
        usable = (nwords >= min_words) & (np.diff(offsets) > 0)
        first_eval = np.full(k, n_eval, dtype=np.int64)  # lowest eval index holding each text
        np.minimum.at(first_eval, e_node, np.arange(n_eval, dtype=np.int64))
        is_eval = usable & (first_eval < n_eval)
        exact = is_eval[t_node]
        best[exact], of[exact] = 1.0, first_eval[t_node[exact]]
        queries = np.zeros(k, dtype=bool)
        queries[t_node[~exact & usable[t_node]]] = True
        keys = np.flatnonzero(is_eval)
        keys = keys[np.argsort(first_eval[keys], kind="stable")]  # eval order: ties go to the lowest index
        qs = np.flatnonzero(queries)
        if not len(keys) or not len(qs):
            return best, of
        nodes = np.r_[keys, qs]
        v, o = sh.take((values, offsets), nodes)
        index = lsh_index(v, o, p.num_perm, auto_bands(p.num_perm, p.near_threshold), p.near_threshold, 0)
        ne = len(keys)
        q_best = np.zeros(len(qs))
        q_of = np.full(len(qs), -1, dtype=np.int64)
        for ka, kb in index.pairs(MAX_CANDIDATES):
            a, b = index.docs[ka], index.docs[kb]
            cross = (a < ne) & (b >= ne)  # (eval, training) pairs only
            a, b = a[cross], b[cross]
            if not len(a):
                continue
            j = sh.jaccard(v, o, a, b)
            order = np.lexsort((a, -j, b))  # per training text: best first, then the lowest eval index
            a, b, j = a[order], b[order], j[order]
            top = np.r_[True, b[1:] != b[:-1]]
            qi = b[top] - ne
            better = j[top] > q_best[qi]
            q_best[qi[better]], q_of[qi[better]] = j[top][better], first_eval[keys[a[top][better]]]
        # per training row: the best over its text's candidates
        slot = np.full(k, -1, dtype=np.int64)
        slot[qs] = np.arange(len(qs))
        s_row = slot[t_node]
        hit = (s_row >= 0) & ~exact
        best[hit], of[hit] = q_best[s_row[hit]], q_of[s_row[hit]]
        return best, of

    def _semantic_on(self, ctx: Context) -> bool:
        if self.params.semantic is not None:
            return self.params.semantic
        return "embeddings" in (getattr(ctx.config, "with_models", None) or [])

    def _semantic(self, table: pa.Table, ev: pa.Table, ctx: Context):
        """Best ``min(prompt cosine, answer cosine)`` with an eval row: a paraphrase of the whole item.

        Both parts must match: on templated data ("Translate to French: Drop it!" vs "... Let's
        drop it.") prompts alone are semantically close far too often.
        """
        from ..models.embeddings import embed

        config = ctx.config
        backend = self.params.backend or getattr(config, "embeddings", None) or "static"
        device = getattr(config, "device", None)
        n = table.num_rows

        def vecs(t: pa.Table, col: str) -> tuple[np.ndarray, np.ndarray]:
            texts = pc.fill_null(t[col], "").to_pylist()
            return embed(texts, backend=backend, device=device), np.array([bool(x.strip()) for x in texts])

        tp, tp_ok = vecs(table, "prompt")
        ta, ta_ok = vecs(table, "output")
        ep, ep_ok = vecs(ev, "prompt")
        ea, ea_ok = vecs(ev, "output")
        best = np.full(n, -1.0)
        of = np.full(n, -1, dtype=np.int64)
        part_of = np.full(n, None, dtype=object)
        usable = np.flatnonzero(ep_ok & ea_ok)
        if not len(usable):
            return best, of, part_of
        ep, ea = ep[usable], ea[usable]
        block = max(1, (1 << 22) // max(len(usable), 1))  # bound the (train x eval) matrices' memory
        for start in range(0, n, block):
            sl = slice(start, min(start + block, n))
            sim = np.minimum(tp[sl] @ ep.T, ta[sl] @ ea.T)
            arg = np.argmax(sim, axis=1)
            val = sim[np.arange(len(arg)), arg].astype(float)
            val = np.where(tp_ok[sl] & ta_ok[sl], val, -1.0)
            best[sl], of[sl] = val, usable[arg]
        part_of[best > -1.0] = "pair"
        return np.round(best, 6), of, part_of


def _texts(table: pa.Table) -> dict[str, pa.Array]:
    """Normalized prompt, answer, and prompt + answer of every row."""
    def flat(col):
        col = pc.fill_null(col, "")
        return (col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col).cast(pa.string())

    prompt = flat(normalize_text(table["prompt"]))
    answer = flat(normalize_text(table["output"]))
    return {"prompt": prompt, "answer": answer, "pair": flat(pc.binary_join_element_wise(prompt, answer, "\n"))}


def _read(path: str):
    from ..io import read

    return read(str(path))
