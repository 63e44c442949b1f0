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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from ..errors import ConfigError


class CheckParams(BaseModel):
    """Base class for a check's typed parameters (thresholds and scoring knobs)."""

    model_config = ConfigDict(extra="forbid")


class Check:
    """Base class; subclasses set the class attributes and implement score/decide."""

    #: stable issue code
    name: ClassVar[str]
    #: one line: what is flagged
    description: ClassVar[str]
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

    def __init__(self, params: CheckParams | dict[str, Any] | None = None):
        if params is None:
            params = self.Params()
        elif isinstance(params, dict):
            try:
                params = self.Params(**params)
            except Exception as exc:  # pydantic.ValidationError
                raise ConfigError(f"invalid parameters for check '{self.name}': {exc}") from exc
        self.params = params

    def score(self, table: pa.Table, ctx: "Context") -> pa.Table:
        """Return a table with ``score_columns`` (and ``partner_column``), one row per input row."""
        raise NotImplementedError

    def decide(self, scores: pa.Table) -> np.ndarray:
        """Return a boolean mask: True where the row is flagged with this check's code."""
        raise NotImplementedError


@dataclass
class Context:
    """What checks share: the resolved config, dataset-level facts, and derived columns computed once."""

    config: Any = None
    facts: dict[str, Any] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict)
    _pins: dict[int, Any] = field(default_factory=dict)

    def table_key(self, table: Any) -> int:
        """A cache key for ``table`` that stays unique: the table is pinned so its id is never reused."""
        self._pins[id(table)] = table
        return id(table)

    def cached(self, key: Any, compute):
        """Compute a derived value once per audit (e.g. normalized text used by several checks)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def text_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A text column as one contiguous string array, nulls as "" (what the vectorized scorers expect)."""
    if pa.types.is_null(col.type):
        col = col.cast(pa.string())
    col = pc.fill_null(col, "")
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


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


def normalized(table: pa.Table, column: str, ctx: Context) -> pa.ChunkedArray | pa.Array:
    """Normalized text of a column, cached in ``ctx`` for dataset-level checks."""
    return ctx.cached(("normalized", column, ctx.table_key(table)), lambda: normalize_text(table[column]))


_REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: add a check to the registry under its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"duplicate check name {cls.name!r}")
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
