"""The Check protocol and registry.

A check is one module with one class. It has a stable public ``name`` (its
issue code, snake_case; renaming it is a breaking change), a batch-vectorized
:meth:`Check.score` that returns score columns, and a cheap
:meth:`Check.decide` that turns stored scores into a boolean flag. Scores are
stored in ``audit.parquet``, so changing a threshold re-decides without
re-scoring.

Two scopes:

* ``row`` checks see one batch at a time (bounded memory, any batch size gives
  the same result).
* ``dataset`` checks (duplicates, conflicts, templates) need every row. They
  still return one score per row, plus a partner column ``<name>_of`` holding
  the ``row`` of the related row (the kept member of the group).

Everything else finesift knows about a check is metadata on its class, read by the
registry: whether it runs in the default audit or which opt-in enables it (``default``,
``group``), its place in the check order (``order``), whether curate drops its rows by
default and its weight in the quality score (``drop``, ``weight``), how its partner column
ranks for ``duplicate_of`` (``relation``), its score columns with range and direction
(``scores``) and its main decision threshold (``threshold``). The defaults lists
(:func:`default_checks`, :func:`default_drop`, :func:`default_weights` ...) and the README
check table (:func:`markdown_table`) are derived from it, so adding a check is one module
plus its test.

Parameters have two roles. A *decision* threshold (declared with :func:`decision`) is only
read by ``decide``: changing it re-decides from stored scores. Every other parameter is a
*scoring knob*: changing it needs re-scoring, so :func:`finesift.pipeline.redecide` and
``curate --audit DIR`` refuse it. Each parameter's help is its attribute docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError


class CheckParams(BaseModel):
    """Base class for a check's typed parameters (thresholds and scoring knobs).

    A field's attribute docstring is its help (``finesift checks``, ``finesift recipe --init``).
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


DECISION = "decision"
KNOB = "knob"


def decision(default: Any, *, rescore_below: bool = False, **kwargs: Any) -> Any:
    """A decision threshold: read by ``decide`` only, so changing it re-decides stored scores.

    ``rescore_below``: scoring also uses the value (an index that only finds pairs at or above
    it), so re-deciding may raise it but lowering it needs re-scoring.
    """
    extra = {"role": DECISION, **({"rescore_below": True} if rescore_below else {})}
    return Field(default, json_schema_extra=extra, **kwargs)


def knob(default: Any = ..., **kwargs: Any) -> Any:
    """A scoring knob (what an unmarked field is): changing it needs re-scoring."""
    return Field(default, json_schema_extra={"role": KNOB}, **kwargs)


def param_role(params: type[CheckParams], name: str) -> str:
    """``decision`` or ``knob`` for a field of ``params``."""
    extra = params.model_fields[name].json_schema_extra
    return extra.get("role", KNOB) if isinstance(extra, dict) else KNOB


def rescores_below(params: type[CheckParams], name: str) -> bool:
    extra = params.model_fields[name].json_schema_extra
    return bool(isinstance(extra, dict) and extra.get("rescore_below"))


@dataclass(frozen=True)
class Score:
    """A score column: what it means, its range and which end is worse.

    ``lo``/``hi``: the range (None: unbounded, or not a number); ``worse``: ``higher``,
    ``lower`` or None (not an ordered score: a label, a group id, a count of context).
    """

    text: str
    lo: float | None = None
    hi: float | None = None
    worse: Literal["higher", "lower"] | None = None

    def range(self) -> str:
        if self.lo is None and self.hi is None:
            return ""
        return f"{_num(self.lo, '-inf')}..{_num(self.hi, 'inf')}"


def _num(v: float | None, missing: str) -> str:
    if v is None or (isinstance(v, float) and math.isinf(v)):
        return missing
    return f"{v:g}"


@dataclass(frozen=True)
class Threshold:
    """The main decision: a row is flagged when ``column op params.<param>`` (the report draws it)."""

    param: str
    column: str
    op: Literal[">=", ">", "<=", "<"] = ">="


#: the opt-in triggers that are not ``--with`` groups: the AuditConfig fields that enable them
TRIGGERS: dict[str, tuple[str, ...]] = {"current": ("current", "reference"), "eval": ("eval_data",)}


class Check:
    """Base class; subclasses set the class attributes and implement score/decide."""

    #: stable issue code
    name: ClassVar[str]
    #: one line: what is flagged
    description: ClassVar[str]
    #: in ``finesift audit``'s default checks
    default: ClassVar[bool] = False
    #: opt-in trigger of a non-default check: a ``--with`` group ("embeddings", "lm") or a key of TRIGGERS
    group: ClassVar[str | None] = None
    #: place in the check order (flags, tables, reports): lower first; gaps of 10 leave room
    order: ClassVar[int] = 1000
    #: curate rejects flagged rows by default (else the flag only lowers the quality score)
    drop: ClassVar[bool] = True
    #: how much the issue ruins a training example, 0..1 (curate's quality score)
    weight: ClassVar[float | None] = None
    #: "duplicate" (partner = the kept copy) or "conflict": ranks the partner for ``duplicate_of``
    #: (duplicates first, then conflicts, each by ``order``)
    relation: ClassVar[Literal["duplicate", "conflict"] | None] = None
    #: score column -> :class:`Score`; ``score_columns`` ({column: text}) is derived from it
    scores: ClassVar[dict[str, Score]] = {}
    #: the main decision threshold
    threshold: ClassVar[Threshold | None] = None
    #: AuditConfig fields the scores depend on (besides the trigger's own fields): changing one re-scores
    config_inputs: ClassVar[tuple[str, ...]] = ()
    #: "row" (batch-local) or "dataset" (needs all rows)
    scope: ClassVar[Literal["row", "dataset"]] = "row"
    #: "cheap" (rules, hashes) or "model" (a learned model: language ID, tokenizer, embeddings, LM)
    cost: ClassVar[Literal["cheap", "model"]] = "cheap"
    #: score column -> documentation (range and direction)
    score_columns: ClassVar[dict[str, str]] = {}
    #: name of the partner column, for checks that relate rows
    partner_column: ClassVar[str | None] = None
    #: typed parameters
    Params: ClassVar[type[CheckParams]] = CheckParams
    #: rows per batch for a row check, when smaller than AuditConfig.batch_size (slow model checks
    #: report progress more often this way)
    batch_rows: ClassVar[int | None] = None
    #: param name -> AuditConfig field that supplies it when the user left it unset
    config_defaults: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "scores" in cls.__dict__:
            cls.score_columns = {col: sc.text for col, sc in cls.scores.items()}

    def __init__(self, params: CheckParams | dict[str, Any] | None = None):
        if params is None:
            params = self.Params()
        elif isinstance(params, dict):
            try:
                params = self.Params(**params)
            except Exception as exc:  # pydantic.ValidationError
                raise ConfigError(f"invalid parameters for check '{self.name}': {exc}") from exc
        self.params = params

    #: text features (:mod:`finesift.checks.features`) the check reads from its batches: computed once per
    #: batch for every check that names them, never re-derived inside a check
    needs: ClassVar[tuple[str, ...]] = ()
    #: other checks whose score columns this check reads from its batches (they run first when both run;
    #: a check must cope with their absence when they are not configured)
    reads: ClassVar[tuple[str, ...]] = ()
    #: external datasets the check compares against: AuditConfig fields naming files ("eval_data",
    #: "reference"). The engine reads each once and hands it over in :meth:`bind`; ``score`` reads no file.
    inputs: ClassVar[tuple[str, ...]] = ()

    def bind(self, config: Any = None, inputs: dict[str, Any] | None = None) -> "Check":
        """Give the check the resolved audit config and its external datasets (``inputs[field]``)."""
        self.config = config
        self.inputs = dict(inputs or {})
        return self

    def score(self, *args: Any, **kwargs: Any) -> pa.Table:
        """Return a table with ``score_columns`` (and ``partner_column``), one row per input row."""
        raise NotImplementedError

    def accelerated(self, config: Any = None) -> bool:
        """Whether scoring under ``config`` runs a torch model that a GPU speeds up (an LM, a sentence
        encoder). The Ray engine gives each of such a check's tasks a GPU on a cluster that has them
        (``--ray-gpus``); rules, hashes, tokenizers and language ID run on CPUs either way."""
        return False

    def decide(self, scores: pa.Table) -> np.ndarray:
        """Return a boolean mask: True where the row is flagged with this check's code."""
        raise NotImplementedError

    def seed(self) -> int:
        """The audit seed (0 without a config, e.g. in unit tests)."""
        return int(getattr(getattr(self, "config", None), "seed", 0) or 0)


class RowCheck(Check):
    """A check that scores each batch from its own columns alone (any batch size gives the same scores)."""

    scope = "row"

    def score(self, batch: pa.Table) -> pa.Table:  # type: ignore[override]
        raise NotImplementedError


class DatasetCheck(Check):
    """A check whose scores depend on the whole dataset (duplicates, conflicts, templates, eras).

    It declares a state fitted over batches, so it can stream and run distributed::

        state = check.finalize(check.merge([check.fit(b) for b in batches]))
        scores = concat(check.score(b, state) for b in batches)

    ``fit(batch)`` extracts what the check needs from one batch, compactly (hashes, band keys,
    counts, per-row features; not the text when avoidable). ``merge(states)`` combines states of
    batches in input order (associative; ``merge([s]) == s``). ``finalize(state)`` does the global
    step once (grouping, fitting a model, building an index). ``score(batch, state)`` gives the
    batch's rows their scores. ``facts(state)`` reports dataset-level findings for summary.json.
    """

    scope = "dataset"

    def fit(self, batch: pa.Table) -> Any:
        raise NotImplementedError

    def merge(self, states: list[Any]) -> Any:
        """Default: states are dicts of numpy arrays (or lists) with one entry per row; concatenate them."""
        return merge_row_states(states)

    def finalize(self, state: Any) -> Any:
        return state

    def score(self, batch: pa.Table, state: Any) -> pa.Table:  # type: ignore[override]
        raise NotImplementedError

    def facts(self, state: Any) -> dict[str, Any]:
        return {}


def merge_row_states(states: list[dict[str, Any]]) -> dict[str, Any]:
    """Concatenate per-batch dict states key by key (numpy arrays, lists or Arrow arrays), in order."""
    if not states:
        return {}
    if len(states) == 1:
        return states[0]
    out: dict[str, Any] = {}
    for key in states[0]:
        parts = [s[key] for s in states]
        first = parts[0]
        if isinstance(first, np.ndarray):
            out[key] = np.concatenate(parts)
        elif isinstance(first, (pa.Array, pa.ChunkedArray)):
            out[key] = pa.chunked_array([p for part in parts for p in
                                         (part.chunks if isinstance(part, pa.ChunkedArray) else [part])],
                                        type=first.type).combine_chunks()
        elif isinstance(first, list):
            out[key] = [x for part in parts for x in part]
        else:
            raise TypeError(f"cannot merge state entry {key!r} of type {type(first).__name__}: override merge()")
    return out


def batch_positions(batch: pa.Table, state_rows: np.ndarray) -> np.ndarray:
    """Positions in a merged state (whose ``rows`` are the ``row`` values in input order) of a batch's rows."""
    rows = np.asarray(batch["row"].to_numpy(zero_copy_only=False), dtype=np.int64)
    pos = np.searchsorted(state_rows, rows)
    if len(rows) and (pos.max(initial=0) >= len(state_rows) or not np.array_equal(state_rows[pos], rows)):
        raise RuntimeError("a batch holds rows the dataset state was not fitted on")
    return pos


def text_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A text column as one contiguous string array, nulls as "" (what the vectorized scorers expect)."""
    if pa.types.is_null(col.type):
        col = col.cast(pa.string())
    col = pc.fill_null(col, "")
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def string_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int64 offsets from 0, the UTF-8 bytes they index) of a string or binary array, without copying the bytes.

    What the byte-level scorers (word counts, token pieces, language detection, echo parsing) walk with numpy;
    nulls read as empty (their offsets do not advance)."""
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if wide else np.int32, count=len(arr) + 1,
                            offset=arr.offset * (8 if wide else 4)).astype(np.int64)
    data = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[offsets[0]:offsets[-1]]
    return offsets - offsets[0], data


def matches(texts: pa.Array, pattern: str, *, ignore_case: bool = False) -> np.ndarray:
    """Per text, whether the RE2 ``pattern`` matches it (bool numpy array; a null text does not match)."""
    if len(texts) == 0:
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring_regex(texts, pattern=pattern, ignore_case=ignore_case)
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


def normalize_text(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Unicode NFKC, lower case, whitespace collapsed and stripped. Nulls become "".

    Works on the distinct values only (``dictionary_encode``): SFT data repeats a lot, and the
    regex-free whitespace collapse (split + join) is ~3x faster than ``\\s+`` replacement.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.fill_null(arr, "")
    if arr.type == pa.large_string():
        arr = arr.cast(pa.string())
    enc = pc.dictionary_encode(arr)
    values = pc.utf8_normalize(enc.dictionary, form="NFKC")
    values = pc.utf8_lower(values)
    values = pc.binary_join(pc.utf8_split_whitespace(values), " ")
    values = pc.utf8_trim_whitespace(values)
    return pc.take(values, enc.indices)


_REGISTRY: dict[str, type[Check]] = {}

#: ``--with`` groups a check may name in ``group`` (the other groups are TRIGGERS)
WITH_GROUPS = ("embeddings", "lm", "judge")


def validate_metadata(cls: type[Check]) -> None:
    """Refuse a check whose metadata the registry could not use (a typo here would drop it silently)."""
    where = f"check {getattr(cls, 'name', cls.__name__)!r}"
    problems = []
    if not getattr(cls, "name", None) or not getattr(cls, "description", None):
        problems.append("name and description are required")
    if not cls.scores:
        problems.append("scores (column -> Score) is empty")
    if cls.default and cls.group:
        problems.append("a default check has no opt-in group")
    if cls.group is not None and cls.group not in WITH_GROUPS and cls.group not in TRIGGERS:
        problems.append(f"group {cls.group!r} is not one of {', '.join((*WITH_GROUPS, *TRIGGERS))}")
    if not isinstance(cls.weight, (int, float)) or not 0.0 <= cls.weight <= 1.0:
        problems.append(f"weight must be a number in 0..1, not {cls.weight!r}")
    if cls.relation is not None and not cls.partner_column:
        problems.append("a relation needs a partner_column")
    t = cls.threshold
    if t is not None:
        if t.param not in cls.Params.model_fields or param_role(cls.Params, t.param) != DECISION:
            problems.append(f"threshold param {t.param!r} is not a decision parameter of {cls.Params.__name__}")
        if t.column not in cls.scores:
            problems.append(f"threshold column {t.column!r} is not in scores")
    undocumented = [f for f, info in cls.Params.model_fields.items() if not info.description]
    if undocumented:
        problems.append(f"parameters without help (an attribute docstring): {', '.join(undocumented)}")
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: add a check to the registry under its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"duplicate check name {cls.name!r}")
    validate_metadata(cls)
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Check]]:
    from . import _all  # noqa: F401  (imports every check module so they register)

    return dict(_REGISTRY)


def get_check(name: str) -> type[Check]:
    reg = registry()
    if name not in reg:
        raise ConfigError(f"unknown check '{name}'. Known checks: {', '.join(sorted(reg))}")
    return reg[name]


# --- what the metadata derives ----------------------------------------------------------------------

def ordered() -> list[type[Check]]:
    """Every registered check in check order (``order``, then name)."""
    return sorted(registry().values(), key=lambda c: (c.order, c.name))


def default_checks() -> tuple[str, ...]:
    """The checks ``finesift audit`` runs unless ``--checks`` says otherwise."""
    return tuple(c.name for c in ordered() if c.default)


def groups() -> dict[str, tuple[str, ...]]:
    """Opt-in group -> its checks: the ``--with`` groups and the TRIGGERS (``current``, ``eval``)."""
    out: dict[str, list[str]] = {g: [] for g in (*WITH_GROUPS, *TRIGGERS)}
    for c in ordered():
        if c.group:
            out[c.group].append(c.name)
    return {g: tuple(v) for g, v in out.items()}


def model_groups() -> dict[str, tuple[str, ...]]:
    """``--with`` group -> its checks."""
    return {g: names for g, names in groups().items() if g in WITH_GROUPS}


def partner_precedence() -> tuple[str, ...]:
    """Codes whose partner column feeds ``duplicate_of``, highest precedence first."""
    rel = [c for c in ordered() if c.relation]
    return tuple(c.name for c in sorted(rel, key=lambda c: (c.relation != "duplicate", c.order, c.name)))


def relation_codes(relation: str) -> tuple[str, ...]:
    """Codes of one relation kind (``duplicate``: groups that keep one member), in check order."""
    return tuple(c.name for c in ordered() if c.relation == relation)


def default_drop() -> tuple[str, ...]:
    """Codes curate rejects by default (the others only lower the quality score)."""
    return tuple(c.name for c in ordered() if c.drop)


def default_weights() -> dict[str, float]:
    """Code -> quality weight, as declared by each check."""
    return {c.name: float(c.weight) for c in ordered()}


def param_help(cls: type[Check]) -> list[dict[str, Any]]:
    """A check's parameters: name, default, role (decision / knob) and help."""
    out = []
    for fname, info in cls.Params.model_fields.items():
        default = info.get_default(call_default_factory=True)
        out.append({"name": fname, "default": default, "role": param_role(cls.Params, fname),
                    "help": " ".join((info.description or "").split())})
    return out


def check_info(cls: type[Check]) -> dict[str, Any]:
    """The metadata as JSON-ready data (summary.json's ``checks`` section, ``finesift checks --json``)."""
    t = cls.threshold
    return {
        "description": cls.description, "cost": cls.cost, "scope": cls.scope,
        "score_columns": dict(cls.score_columns),
        "scores": {col: {"text": sc.text, "lo": _finite(sc.lo), "hi": _finite(sc.hi), "worse": sc.worse}
                   for col, sc in cls.scores.items()},
        "threshold": None if t is None else {"param": t.param, "column": t.column, "op": t.op},
        "default": cls.default, "group": cls.group, "drop": cls.drop, "weight": cls.weight,
        "relation": cls.relation, "partner_column": cls.partner_column,
    }


def _finite(v: float | None) -> float | None:
    return None if v is None or math.isinf(v) else v


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _enabled(cls: type[Check]) -> str:
    if cls.default:
        return "default"
    if cls.group in WITH_GROUPS:
        return f"`--with {cls.group}`"
    if cls.group in TRIGGERS:
        return " / ".join(f"`--{'eval' if f == 'eval_data' else f}`" for f in TRIGGERS[cls.group])
    return "`--checks`"


def markdown_table() -> str:
    """The README's check table, generated from the metadata (``finesift checks --markdown``)."""
    rows = ["| code | flags | runs | scores (range; worse) | flagged when | partner | curate | cost |",
            "|---|---|---|---|---|---|---|---|"]
    for cls in sorted(ordered(), key=lambda c: (not c.default, c.order, c.name)):
        scores = []
        for col, sc in cls.scores.items():
            meta = "; ".join(x for x in (sc.range(), f"{sc.worse} is worse" if sc.worse else "") if x)
            scores.append(f"`{col}`" + (f" ({meta})" if meta else "") + f": {_cell(sc.text)}")
        t = cls.threshold
        if t is not None:
            default = cls.Params.model_fields[t.param].get_default(call_default_factory=True)
            shown = f"{default:g}" if isinstance(default, float) else ("from the config" if default is None else default)
            when = f"`{t.column} {t.op} {t.param}` ({shown})"
        else:
            when = ""
        curate = ("drop" if cls.drop else "score only") + f", weight {cls.weight:g}"
        partner = f"`{cls.partner_column}`" if cls.partner_column else ""
        rows.append(f"| `{cls.name}` | {_cell(cls.description)} | {_enabled(cls)} | {'<br>'.join(scores)} | "
                    f"{when} | {partner} | {curate} | {cls.cost} |")
    return "\n".join(rows) + "\n"
