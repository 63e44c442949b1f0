"""``stale``: the row looks like it comes from an old era of the data (old product, old terms, old style).

The current era is defined one of two ways (see :class:`~finesift.config.AuditConfig`):

* ``--current 'date>=2024-01-01'``: a condition on a metadata field. Rows where it holds
  are current, rows where it fails are old, rows without the field are unknown.
* ``--reference CURRENT_FILE``: a file of current-era rows. The dataset's own rows are
  unlabelled (a mix of eras) and are scored against the reference.

A TF-IDF + logistic-regression model learns to tell the eras apart. It is
*cross-fitted*: every labelled row is scored by a model trained on the other folds,
so no row is judged by a model that saw it. With ``--reference`` the model separates
reference rows from dataset rows, and the probability of being current is recovered
with the positive/unlabelled correction of Elkan & Noto (2008): ``p = g(x) / c``,
where ``c`` is the mean held-out ``g`` over reference rows.

Score columns:

* ``stale_score``: probability the row is old-era (0..1, higher is staler; null when no
  era model could be trained, e.g. no old rows).
* ``stale_pvalue``: share of known-current rows whose held-out score is at least this
  row's (0..1, lower is staler): an empirical false-positive rate.
* ``stale_era``: what the metadata says: ``old``, ``current`` or ``unknown``.
* ``stale_terms``: the evidence, up to ``top_terms`` words/bigrams of this row that are
  frequent in old rows and rare in current ones (log-odds ratio with an informative
  Dirichlet prior, Monroe et al. 2008, z-score >= ``min_term_z``).

A row is flagged when ``stale_score >= threshold`` and ``stale_pvalue <= max_pvalue``,
never when the metadata says it is current (unless ``trust_metadata`` is off), and only
when the dataset as a whole has more such rows than chance would give (a one-sided
binomial test at ``z >= 3`` against ``max_pvalue``): when the eras cannot be told apart,
nothing is flagged.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError, MissingDependencyError
from ._groups import positions_of, row_ids
from .base import CheckParams, DatasetCheck, Score, Threshold, decision, merge_row_states, register

ERA_OLD, ERA_CURRENT, ERA_UNKNOWN = "old", "current", "unknown"
_OPS = (">=", "<=", "==", "!=", ">", "<", "=")
_COND = re.compile(r"^\s*([^\s<>=!]+)\s*(>=|<=|==|!=|>|<|=)\s*(.*?)\s*$")


class StaleParams(CheckParams):
    threshold: float = decision(0.5)
    """Flag rows whose probability of being old-era is at least this."""
    max_pvalue: float = decision(0.05)
    """...and whose score is reached by at most this share of known-current rows: a row that 5% of the
    current era looks like is not unusual there (this is also the false-positive rate on current rows)."""
    trust_metadata: bool = decision(True)
    """Never flag a row the --current condition marks current."""
    folds: int = 5
    """Cross-fitting folds: each labelled row is scored by a model trained on the others."""
    min_rows: int = 10
    """Rows needed in each era to train the era model; below it nothing is scored."""
    C: float = 1.0
    """Inverse L2 regularization of the logistic regression."""
    max_features: int = 200_000
    """Vocabulary cap (words and bigrams) of the TF-IDF features."""
    top_terms: int = 5
    """Evidence terms listed per row."""
    min_term_z: float = 3.0
    """Log-odds z-score a term needs to count as evidence of the old era."""
    prior: float = 0.01
    """Prior strength for the log-odds, in pseudo-rows as a fraction of all rows."""


@dataclass(frozen=True)
class Condition:
    """A parsed ``--current`` condition: ``field op value``."""

    field: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> "Condition":
        m = _COND.match(text or "")
        if not m or not m.group(3):
            raise ConfigError(
                f"--current {text!r}: expected FIELD OP VALUE with OP one of {', '.join(_OPS[:-1])}, "
                "e.g. 'date>=2024-01-01' or 'version==2'")
        value = m.group(3)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        return cls(m.group(1), "==" if m.group(2) == "=" else m.group(2), value)

    def evaluate(self, values: list[Any]) -> np.ndarray:
        """Era per value: ``current`` where the condition holds, ``old`` where not, ``unknown`` if missing/unparseable.

        The comparison is numeric when the condition's value is a number, by date when it
        is an ISO date/datetime, else as strings.
        """
        conv = _converter(self.value)
        target = conv(self.value)
        out = np.full(len(values), ERA_UNKNOWN, dtype=object)
        for i, v in enumerate(values):
            if v is None or v == "":
                continue
            x = conv(v)
            if x is None:
                continue
            try:
                ok = _compare(x, self.op, target)
            except TypeError:  # e.g. naive vs aware dates after normalization failed
                continue
            out[i] = ERA_CURRENT if ok else ERA_OLD
        return out


def _converter(value: str):
    if _to_number(value) is not None:
        return _to_number
    if _to_date(value) is not None:
        return _to_date
    return lambda v: v if isinstance(v, str) else orjson.dumps(v).decode()


def _to_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v).strip())
    except ValueError:
        return None


def _to_date(v: Any) -> _dt.datetime | None:
    """ISO dates and datetimes (a trailing Z is UTC); aware times become naive UTC so all compare."""
    if not isinstance(v, str):
        return None
    s = v.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        d = _dt.datetime.fromisoformat(s)
    except ValueError:
        try:
            d = _dt.datetime.combine(_dt.date.fromisoformat(s), _dt.time())
        except ValueError:
            return None
    if d.tzinfo is not None:
        d = d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return d


def _compare(x, op: str, y) -> bool:
    return {">=": x >= y, ">": x > y, "<=": x <= y, "<": x < y, "==": x == y, "!=": x != y}[op]


def metadata_values(metadata: pa.ChunkedArray | pa.Array, field: str) -> list[Any]:
    """Value of ``field`` in each row's metadata JSON (dotted paths reach nested objects); None if absent."""
    out: list[Any] = []
    parts = field.split(".")
    for s in metadata.to_pylist():
        obj: Any = orjson.loads(s) if s else {}
        val: Any = obj.get(field) if isinstance(obj, dict) else None
        if val is None and len(parts) > 1:
            val = obj
            for p in parts:
                val = val.get(p) if isinstance(val, dict) else None
        out.append(val)
    return out


def row_texts(table: pa.Table) -> list[str]:
    return pc.binary_join_element_wise(pc.fill_null(table["prompt"], ""), pc.fill_null(table["output"], ""),
                                       "\n").to_pylist()


@register
class Stale(DatasetCheck):
    name = "stale"
    description = "Looks like an old era of the data (old terms or style), per --current or --reference."
    cost = "cheap"  # a small model trained on the data itself; no packaged weights
    scores = {
        "stale_score": Score(
            "probability the row is old-era (0..1); higher is staler; null = not scored", 0, 1, worse="higher"),
        "stale_pvalue": Score(
            "share of known-current rows scoring at least as high (0..1); lower is staler", 0, 1, worse="lower"),
        "stale_era": Score("era the metadata gives: old, current or unknown"),
        "stale_terms": Score("evidence: the row's terms most typical of old rows (list of strings)"),
    }
    group = "current"
    order = 160
    weight = 0.5
    threshold = Threshold("threshold", "stale_score", ">=")
    config_inputs = ("seed",)
    Params = StaleParams
    inputs = ("reference",)

    def _mode(self) -> tuple[str | None, str | None]:
        config = getattr(self, "config", None)
        current = getattr(config, "current", None)
        reference = getattr(config, "reference", None)
        if current and reference:
            raise ConfigError("stale: give either --current or --reference, not both")
        if not current and not reference:
            raise ConfigError("stale needs --current 'FIELD>=VALUE' or --reference CURRENT_FILE to define the current era")
        return current, reference

    def fit(self, batch: pa.Table) -> dict[str, Any]:
        """Per row: ``row``, the text the era model reads and (``--current``) the era the metadata gives.

        The texts themselves are kept: the TF-IDF vocabulary (``min_df``, ``max_features``) is a
        property of the whole dataset, so no per-batch summary would give the same features.
        """
        current, _ = self._mode()
        state: dict[str, Any] = {"rows": row_ids(batch), "texts": row_texts(batch)}
        if current:
            cond = Condition.parse(current)
            values = (metadata_values(batch["metadata"], cond.field) if "metadata" in batch.column_names
                      else [None] * batch.num_rows)
            state["era"] = cond.evaluate(values)
            state["present"] = np.array([v is not None for v in values], dtype=bool)
            # only needed for the error when no row at all has the field: a batch with one does not look
            state["hint"] = [] if state["present"].any() else _fields_seen(batch, _HINT_ROWS)
        return state

    def merge(self, states: list[dict[str, Any]]) -> dict[str, Any]:
        if len(states) == 1:
            return states[0]
        out = merge_row_states([{k: v for k, v in s.items() if k != "hint"} for s in states])
        if "hint" in states[0]:
            out["hint"] = [f for s in states for f in s["hint"]][:_HINT_ROWS]
        return out

    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        current, _ = self._mode()
        texts = state["texts"]
        n = len(texts)
        if current:
            if n and not state["present"].any():
                cond = Condition.parse(current)
                raise ConfigError(f"--current {current!r}: no row has a metadata field '{cond.field}'"
                                  f"{_fields_hint(state['hint'])}")
            era = state["era"]
            result = self._score_labelled(texts, era)
        else:
            ref = self.inputs.get("reference")
            if ref is None:
                raise RuntimeError("stale: the engine did not hand over the reference file (Check.inputs)")
            era = np.full(n, ERA_UNKNOWN, dtype=object)
            result = self._score_reference(texts, row_texts(ref.table))
        return {"rows": state["rows"], "score": result.score, "pvalue": result.pvalue, "era": era,
                "terms": result.terms, "facts": result.facts}

    def score(self, batch: pa.Table, state: dict[str, Any]) -> pa.Table:
        pos = positions_of(row_ids(batch), state["rows"])
        score, pvalue = state["score"][pos], state["pvalue"][pos]
        terms = state["terms"]
        return pa.table({
            "stale_score": pa.array(score, type=pa.float64(), mask=np.isnan(score)),
            "stale_pvalue": pa.array(pvalue, type=pa.float64(), mask=np.isnan(pvalue)),
            "stale_era": pa.array(state["era"][pos].tolist(), type=pa.string()),
            "stale_terms": pa.array([terms[i] for i in pos.tolist()], type=pa.list_(pa.string())),
        })

    def facts(self, state: dict[str, Any]) -> dict[str, Any]:
        return state["facts"]

    def decide(self, scores: pa.Table) -> np.ndarray:
        p = self.params
        score = pc.fill_null(scores["stale_score"], 0.0).to_numpy(zero_copy_only=False)
        pval = pc.fill_null(scores["stale_pvalue"], 1.0).to_numpy(zero_copy_only=False)
        era = np.asarray(scores["stale_era"].to_pylist(), dtype=object)
        eligible = ~pc.is_null(scores["stale_score"]).to_numpy(zero_copy_only=False)
        if p.trust_metadata:
            eligible &= era != ERA_CURRENT
        flag = eligible & (score >= p.threshold) & (pval <= p.max_pvalue)
        # the dataset-level gate: more candidates than the false-positive rate explains, else nothing
        m = int(eligible.sum())
        expected = m * p.max_pvalue
        if flag.sum() <= expected + 3.0 * math.sqrt(max(expected * (1 - p.max_pvalue), 1.0)):
            return np.zeros(len(score), dtype=bool)
        return flag

    # --- scoring --------------------------------------------------------------------------

    def _score_labelled(self, texts: list[str], era: np.ndarray) -> "_Scored":
        """--current: old vs current rows from metadata; unknown rows scored by a model trained on all labelled."""
        n = len(texts)
        old, cur = era == ERA_OLD, era == ERA_CURRENT
        facts = {"mode": "current", "condition": self.config.current, "old_rows": int(old.sum()),
                 "current_rows": int(cur.sum()), "unknown_rows": int(n - old.sum() - cur.sum())}
        if old.sum() < self.params.min_rows or cur.sum() < self.params.min_rows:
            facts["skipped"] = f"needs at least {self.params.min_rows} old and current rows"
            return _Scored.empty(n, facts)
        X, vocab = _features(texts, self.params.max_features)
        labelled = np.flatnonzero(old | cur)
        y = old[labelled].astype(int)  # 1 = old
        score = np.full(n, np.nan)
        score[labelled] = _cross_fit(X[labelled], y, self.params, self.seed(), balanced=True)
        unknown = np.flatnonzero(~(old | cur))
        if len(unknown):
            model = _fit(X[labelled], y, self.params, self.seed(), balanced=True)
            score[unknown] = model.predict_proba(X[unknown])[:, 1]
        facts["auc"] = _auc(score[labelled], y)
        pvalue = _pvalues(score, score[cur], cur)
        counts = _binary_counts(X)
        terms = _evidence(counts, vocab, old_weight=old.astype(float), cur_weight=cur.astype(float),
                          rows=np.flatnonzero(~cur), params=self.params)
        facts["old_terms"] = terms.top
        return _Scored(score, pvalue, terms.per_row, facts)

    def _score_reference(self, texts: list[str], ref_texts: list[str]) -> "_Scored":
        """--reference: reference rows are current (labelled); dataset rows are unlabelled (PU learning)."""
        n, m = len(texts), len(ref_texts)
        facts = {"mode": "reference", "reference": self.config.reference, "dataset_rows": n, "reference_rows": m}
        if n < self.params.min_rows or m < self.params.min_rows:
            facts["skipped"] = f"needs at least {self.params.min_rows} dataset and reference rows"
            return _Scored.empty(n, facts)
        X, vocab = _features(texts + ref_texts, self.params.max_features)
        s = np.r_[np.zeros(n, dtype=int), np.ones(m, dtype=int)]  # 1 = in the reference
        g = _cross_fit(X, s, self.params, self.seed(), balanced=False)
        c = float(np.mean(g[n:]))
        p_current = np.clip(g / max(c, 1e-12), 0.0, 1.0)
        stale = 1.0 - p_current
        facts["auc_reference_vs_dataset"] = _auc(g, s)
        facts["label_frequency_c"] = round(c, 6)
        pvalue = _pvalues(stale[:n], stale[n:])
        counts = _binary_counts(X)
        # soft counts: a dataset row counts as old in proportion to its score
        old_w = np.r_[stale[:n], np.zeros(m)]
        cur_w = np.r_[1.0 - stale[:n], np.ones(m)]
        terms = _evidence(counts, vocab, old_weight=old_w, cur_weight=cur_w, rows=np.arange(n), params=self.params)
        facts["old_terms"] = terms.top
        facts["estimated_old_share"] = round(float(stale[:n].mean()), 4)
        return _Scored(stale[:n], pvalue, terms.per_row[:n], facts)


@dataclass
class _Scored:
    score: np.ndarray
    pvalue: np.ndarray
    terms: list[list[str]]
    facts: dict[str, Any]

    @classmethod
    def empty(cls, n: int, facts: dict[str, Any]) -> "_Scored":
        return cls(np.full(n, np.nan), np.full(n, np.nan), [[] for _ in range(n)], facts)


@dataclass
class _Terms:
    per_row: list[list[str]]
    top: list[dict[str, Any]]


#: rows whose metadata fields the "no such field" error lists
_HINT_ROWS = 100


def _fields_seen(batch: pa.Table, limit: int) -> list[list[str]]:
    """The metadata fields of each of the first ``limit`` rows of ``batch``."""
    out: list[list[str]] = []
    if "metadata" not in batch.column_names:
        return [[] for _ in range(min(limit, batch.num_rows))]
    for s in batch["metadata"].slice(0, limit).to_pylist():
        obj = orjson.loads(s) if s else {}
        out.append(sorted(obj) if isinstance(obj, dict) else [])
    return out


def _fields_hint(rows: list[list[str]]) -> str:
    seen = sorted({f for fields in rows for f in fields})
    return f"; metadata fields seen: {', '.join(seen)}" if seen else "; the rows have no metadata fields"


def _sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("scikit-learn", "The stale check", "models") from exc


def _features(texts: list[str], max_features: int):
    """TF-IDF of words and bigrams, fitted on every text (unsupervised, so no label leaks)."""
    _sklearn()
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=max_features, sublinear_tf=True,
                          lowercase=True, dtype=np.float32)
    try:
        X = vec.fit_transform(texts)
    except ValueError:  # empty vocabulary: every text is empty or unique tokens only
        vec = TfidfVectorizer(ngram_range=(1, 1), min_df=1, lowercase=True, dtype=np.float32,
                              token_pattern=r"(?u)\b\w+\b")
        X = vec.fit_transform([t or "_" for t in texts])
    return X.tocsr(), np.asarray(vec.get_feature_names_out(), dtype=object)


def _fit(X, y: np.ndarray, params: StaleParams, seed: int, balanced: bool):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=params.C, max_iter=2000, class_weight="balanced" if balanced else None,
                              random_state=seed).fit(X, y)


def _cross_fit(X, y: np.ndarray, params: StaleParams, seed: int, balanced: bool) -> np.ndarray:
    """Held-out P(y=1) for every row: each fold is scored by a model trained on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    folds = max(2, min(params.folds, int(np.bincount(y).min())))
    out = np.empty(len(y), dtype=float)
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in skf.split(np.zeros(len(y)), y):
        out[test] = _fit(X[train], y[train], params, seed, balanced).predict_proba(X[test])[:, 1]
    return out


def _auc(score: np.ndarray, y: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None
    return round(float(roc_auc_score(y, score)), 4)


def _pvalues(score: np.ndarray, null: np.ndarray, in_null: np.ndarray | None = None) -> np.ndarray:
    """Share of null (known-current, held-out) scores >= each score; NaN where the score is NaN.

    A row that is itself in the null is compared with the others only.
    """
    null = np.sort(null[~np.isnan(null)])
    m = len(null)
    out = np.full(len(score), np.nan)
    ok = ~np.isnan(score)
    if m:
        ge = (m - np.searchsorted(null, score[ok], side="left")).astype(float)
        denom = np.full(len(ge), float(m))
        if in_null is not None:
            self_ = in_null[ok]
            ge[self_] -= 1
            denom[self_] -= 1
        out[ok] = np.divide(ge, denom, out=np.ones_like(ge), where=denom > 0)
    return out


def _binary_counts(X):
    B = X.copy()
    B.data[:] = 1.0
    return B


def _evidence(B, vocab: np.ndarray, *, old_weight: np.ndarray, cur_weight: np.ndarray, rows: np.ndarray,
              params: StaleParams) -> _Terms:
    """Log-odds ratio of a term's document rate in old vs current rows, with an informative prior; top terms per row.

    Rates are per row (the share of rows containing the term), so long rows in one era do
    not make every common word look typical of it. The prior is the pooled rate over
    ``prior * rows`` pseudo-rows, which shrinks rare terms towards 0 (Monroe et al. 2008).
    """
    y_old = np.asarray(B.T @ old_weight).ravel()
    y_cur = np.asarray(B.T @ cur_weight).ravel()
    n_old, n_cur = float(old_weight.sum()), float(cur_weight.sum())
    rate = (y_old + y_cur) / max(n_old + n_cur, 1e-12)
    k = max(params.prior * (n_old + n_cur), 1.0)
    a = k * rate + 1e-3
    b = k * (1.0 - rate) + 1e-3
    yo_, no_ = y_old + a, np.maximum(n_old - y_old, 0) + b
    yc_, nc_ = y_cur + a, np.maximum(n_cur - y_cur, 0) + b
    delta = np.log(yo_ / no_) - np.log(yc_ / nc_)
    z = delta / np.sqrt(1 / yo_ + 1 / no_ + 1 / yc_ + 1 / nc_)
    z = np.nan_to_num(z, nan=0.0, neginf=0.0, posinf=0.0)
    good = z >= params.min_term_z
    order = np.argsort(-z, kind="stable")
    top = [{"term": str(vocab[j]), "z": round(float(z[j]), 2), "old_rows": round(float(y_old[j]), 1),
            "current_rows": round(float(y_cur[j]), 1)} for j in order[:20] if good[j]]
    per_row: list[list[str]] = [[] for _ in range(B.shape[0])]
    k = params.top_terms
    if k and good.any():
        Bg = B[:, np.flatnonzero(good)].tocsr()
        zg = z[good]
        vg = vocab[good]
        indptr, indices = Bg.indptr, Bg.indices
        for r in rows:
            cols = indices[indptr[r]:indptr[r + 1]]
            if len(cols):
                # highest z first; ties by term so the list is deterministic
                best = sorted(cols, key=lambda c: (-zg[c], vg[c]))[:k]
                per_row[r] = [str(vg[c]) for c in best]
    return _Terms(per_row, top)
