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
from ._groups import first_ids, nullable_int, positions_of, row_ids
from ._minhash import auto_bands, lsh_index, shingle_sets
from .base import CheckParams, DatasetCheck, Score, Threshold, decision, register
from .features import add_features, hash_strings
from .near_duplicate import KeyedSets

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
class Leakage(DatasetCheck):
    name = "leakage"
    description = "Duplicates a row of the evaluation set (--eval): prompt, prompt+answer or long answer."
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
    needs = ("norm_prompt", "norm_output")
    inputs = ("eval_data",)

    def fit(self, batch: pa.Table) -> dict[str, Any]:
        """Per row: ``row`` and the hash of each compared part; per distinct text of each part in the
        batch: its hash and shingle set (the MinHash path needs the sets, not the texts); per row the
        answer's word count, and the semantic best match when embeddings are on (it needs only the row
        and the eval set, so it is done here, batch by batch)."""
        ev = self._eval()
        texts = _parts(batch["norm_prompt"], batch["norm_output"])
        state: dict[str, Any] = {"rows": row_ids(batch)}
        for part in self._parts():
            state[f"{part}_hash"], state[f"{part}_sets"] = _keyed_sets(texts[part], self.params.shingle)
        if self.params.compare_answers:
            state["answer_words"] = np.diff(sh.words(texts["answer"])[1]).astype(np.int32)
        if self._semantic_on():
            state["cosine"], state["cos_of"] = self._semantic(batch, ev)
        return state

    def merge(self, states: list[dict[str, Any]]) -> dict[str, Any]:
        if len(states) == 1:
            return states[0]
        out: dict[str, Any] = {}
        for key in states[0]:
            parts = [s[key] for s in states]
            out[key] = KeyedSets.concat(parts) if isinstance(parts[0], KeyedSets) else np.concatenate(parts)
        return out

    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        p = self.params
        ev = self._eval()
        n = len(state["rows"])
        evals = _parts(*_eval_texts(ev.table, self.config))
        best_j = np.zeros(n)
        best_of = np.full(n, -1, dtype=np.int64)
        best_part = np.full(n, None, dtype=object)
        for part in self._parts():
            words = state["answer_words"] if part == "answer" else None
            j, of = self._near(state[f"{part}_hash"], state[f"{part}_sets"], words, evals[part], part)
            # prefer prompt > pair > answer on equal scores (the most informative part)
            better = (j > best_j) | ((j == best_j) & (j > 0) & (best_of < 0))
            best_j = np.where(better, j, best_j)
            best_of = np.where(better, of, best_of)
            best_part[better] = part
        cosine = state.get("cosine")
        if cosine is not None:
            # the partner comes from the shingle match when there is one, else from the embeddings
            use = (best_j < p.near_threshold) & (cosine >= p.semantic_threshold)
            best_of = np.where(use, state["cos_of"], best_of)
            best_part[use & (cosine > -1.0)] = "pair"
        eval_path = getattr(self.config, "eval_data", None) or ev.source
        return {"rows": state["rows"], "jaccard": np.round(best_j, 6), "of": best_of, "part": best_part,
                "cosine": cosine, "facts": {"eval": str(eval_path), "eval_rows": ev.table.num_rows}}

    def score(self, batch: pa.Table, state: dict[str, Any]) -> pa.Table:
        pos = positions_of(row_ids(batch), state["rows"])
        of = state["of"][pos]
        cosine = state["cosine"]
        return pa.table({
            "leakage_jaccard": pa.array(state["jaccard"][pos], type=pa.float64()),
            "leakage_cosine": (pa.array(cosine[pos], type=pa.float64()) if cosine is not None
                               else pa.nulls(len(pos), pa.float64())),
            "leakage_match": pa.array(state["part"][pos].tolist(), type=pa.string()),
            "leakage_of": nullable_int(of, of >= 0),
        })

    def facts(self, state: dict[str, Any]) -> dict[str, Any]:
        return dict(state["facts"])

    def decide(self, scores: pa.Table) -> np.ndarray:
        p = self.params
        j = pc.fill_null(scores["leakage_jaccard"], 0.0).to_numpy(zero_copy_only=False)
        cos = pc.fill_null(scores["leakage_cosine"], -1.0).to_numpy(zero_copy_only=False)
        return (j >= p.near_threshold) | (cos >= p.semantic_threshold)

    # --- matching ---------------------------------------------------------------------------

    def _parts(self) -> tuple[str, ...]:
        return PARTS if self.params.compare_answers else PARTS[:2]

    def _eval(self):
        ev = getattr(self, "inputs", {}).get("eval_data")
        if ev is None:
            if getattr(getattr(self, "config", None), "eval_data", None):
                raise RuntimeError("leakage: the engine did not hand over the eval set (Check.inputs)")
            raise ConfigError("leakage needs --eval FILE (the evaluation set to protect)")
        return ev

    def _near(self, t_hash: np.ndarray, t_sets: KeyedSets, t_words: np.ndarray | None, evals: pa.Array,
              part: str) -> tuple[np.ndarray, np.ndarray]:
        """Best Jaccard (exact = 1) of each training row's text against the eval texts, and the eval index.

        The shared MinHash path (:mod:`._minhash`): word-shingle sets of the distinct texts of both
        sides, eval texts first, so that the lowest keys an LSH candidate list keeps are eval texts;
        candidates (at most :data:`MAX_CANDIDATES` per training text, a few in a huge cluster of
        templated texts: :class:`._minhash.MinHashLSH`) are verified exactly and the best is kept,
        ties to the lowest eval index.
        """
        p = self.params
        n, n_eval = len(t_hash), len(evals)
        best = np.zeros(n)
        of = np.full(n, -1, dtype=np.int64)
        min_words = p.min_answer_words if part == "answer" else 1
        # eval side: distinct texts, each with the lowest eval index holding it
        e_enc = pc.dictionary_encode(evals)
        e_idx = np.asarray(e_enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        e_uniq = e_enc.dictionary
        e_first = np.full(len(e_uniq), n_eval, dtype=np.int64)
        np.minimum.at(e_first, e_idx, np.arange(n_eval, dtype=np.int64))
        e_values, e_offsets = shingle_sets(e_uniq, p.shingle)
        e_usable = (np.diff(sh.words(e_uniq)[1]) >= min_words) & (np.diff(e_offsets) > 0)
        e_keys = np.asarray(hash_strings(e_uniq).to_numpy(zero_copy_only=False), dtype=np.uint64)
        # training side: distinct texts (first appearance order), each with its rows
        t_node, t_keys = first_ids(t_hash)
        t_values, t_offsets = t_sets.sets_of(t_keys)
        t_usable = np.diff(t_offsets) > 0
        if t_words is not None:
            words = np.zeros(len(t_keys), dtype=np.int64)
            words[t_node] = t_words
            t_usable &= words >= min_words
        # exact: a training text that is a usable eval text
        ek = e_keys[e_usable]
        ef = e_first[e_usable]
        order = np.argsort(ek, kind="stable")
        ek, ef = ek[order], ef[order]
        at = np.minimum(np.searchsorted(ek, t_keys), max(len(ek) - 1, 0))
        t_exact = ek[at] == t_keys if len(ek) else np.zeros(len(t_keys), dtype=bool)
        exact = t_exact[t_node]
        best[exact], of[exact] = 1.0, ef[at[t_node[exact]]]
        qs = np.flatnonzero(~t_exact & t_usable)
        keys = np.flatnonzero(e_usable)
        keys = keys[np.argsort(e_first[keys], kind="stable")]  # eval order: ties go to the lowest index
        if not len(keys) or not len(qs):
            return best, of
        ev_v, ev_o = sh.take((e_values, e_offsets), keys)
        q_v, q_o = sh.take((t_values, t_offsets), qs)
        v = np.concatenate([ev_v, q_v])
        o = np.concatenate([ev_o, q_o[1:] + ev_o[-1]])
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
            q_best[qi[better]], q_of[qi[better]] = j[top][better], e_first[keys[a[top][better]]]
        # per training row: the best over its text's candidates
        slot = np.full(len(t_keys), -1, dtype=np.int64)
        slot[qs] = np.arange(len(qs))
        s_row = slot[t_node]
        hit = s_row >= 0
        best[hit], of[hit] = q_best[s_row[hit]], q_of[s_row[hit]]
        return best, of

    def _semantic_on(self) -> bool:
        if self.params.semantic is not None:
            return self.params.semantic
        return "embeddings" in (getattr(getattr(self, "config", None), "with_models", None) or [])

    def _semantic(self, batch: pa.Table, ev) -> tuple[np.ndarray, np.ndarray]:
        """Best ``min(prompt cosine, answer cosine)`` of each row with an eval row: a paraphrase of the whole
        item, and that eval row (-1 where none).

        Both parts must match: on templated data ("Translate to French: Drop it!" vs "... Let's
        drop it.") prompts alone are semantically close far too often.
        """
        n = batch.num_rows
        best = np.full(n, -1.0)
        of = np.full(n, -1, dtype=np.int64)
        ep, ea, usable = self._eval_vectors(ev)
        if not len(usable):
            return best, of
        tp, tp_ok = self._vectors(batch, "prompt")
        ta, ta_ok = self._vectors(batch, "output")
        block = max(1, (1 << 22) // max(len(usable), 1))  # bound the (train x eval) matrices' memory
        for start in range(0, n, block):
            sl = slice(start, min(start + block, n))
            sim = np.minimum(tp[sl] @ ep.T, ta[sl] @ ea.T)
            arg = np.argmax(sim, axis=1)
            val = sim[np.arange(len(arg)), arg].astype(float)
            val = np.where(tp_ok[sl] & ta_ok[sl], val, -1.0)
            best[sl], of[sl] = val, usable[arg]
        return np.round(best, 6), of

    def _vectors(self, table: pa.Table, col: str) -> tuple[np.ndarray, np.ndarray]:
        from ..models.embeddings import embed

        config = getattr(self, "config", None)
        backend = self.params.backend or getattr(config, "embeddings", None) or "static"
        texts = pc.fill_null(table[col], "").to_pylist()
        return (embed(texts, backend=backend, device=getattr(config, "device", None)),
                np.array([bool(x.strip()) for x in texts], dtype=bool))

    def _eval_vectors(self, ev) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The eval rows' prompt and answer embeddings (rows with both), once per eval set and check."""
        memo = getattr(self, "_eval_memo", None)
        if memo is None or memo[0] is not ev:
            ep, ep_ok = self._vectors(ev.table, "prompt")
            ea, ea_ok = self._vectors(ev.table, "output")
            usable = np.flatnonzero(ep_ok & ea_ok)
            memo = (ev, ep[usable], ea[usable], usable)
            self._eval_memo = memo
        return memo[1], memo[2], memo[3]


def _parts(prompt: pa.Array | pa.ChunkedArray, answer: pa.Array | pa.ChunkedArray) -> dict[str, pa.Array]:
    """Normalized prompt, answer, and prompt + answer (normalization leaves no newline inside a field, so
    the join is unambiguous)."""
    def flat(col):
        col = pc.fill_null(col, "")
        return (col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col).cast(pa.string())

    prompt, answer = flat(prompt), flat(answer)
    return {"prompt": prompt, "answer": answer, "pair": flat(pc.binary_join_element_wise(prompt, answer, "\n"))}


def _eval_texts(table: pa.Table, config: Any) -> tuple[pa.Array, pa.Array]:
    """The eval set's normalized prompt and answer: the same features the training batches get."""
    feats = add_features(table.select([c for c in ("prompt", "output") if c in table.column_names]),
                         ("norm_prompt", "norm_output"), config)
    return feats["norm_prompt"], feats["norm_output"]


def _keyed_sets(texts: pa.Array, shingle_size: int) -> tuple[np.ndarray, KeyedSets]:
    """Hash per text, and the shingle sets of the batch's distinct texts keyed by hash (first appearance)."""
    enc = pc.dictionary_encode(texts)
    keys = np.asarray(hash_strings(enc.dictionary).to_numpy(zero_copy_only=False), dtype=np.uint64)
    per_row = keys[np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    values, offsets = shingle_sets(enc.dictionary, shingle_size)
    return per_row, KeyedSets(keys, values, np.diff(offsets))
