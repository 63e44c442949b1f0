"""The local engine: runs checks over batches of the records table through the check protocol.

For every batch it adds the text features the configured checks need (once, whatever number of
checks read them), then runs the checks in dependency order (a check that ``reads`` another's
score columns runs after it), so later checks see earlier checks' columns in their batches:

* a :class:`~finesift.checks.base.RowCheck` scores each batch;
* a :class:`~finesift.checks.base.DatasetCheck` fits a state on each batch, merges the states in
  input order, finalizes once and scores each batch with the result.

No check knows which engine runs it: a distributed engine runs the same ``fit``/``merge``/
``finalize``/``score`` calls on blocks. Results do not depend on the batch size (tested).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..checks.base import Check, DatasetCheck, RowCheck
from ..checks.features import add_features, resolve
from .memory import release_memory
from .progress import NullProgress


@dataclass
class RunResult:
    """Score columns (one row per input row, input order), seconds per check, dataset facts per check."""

    scores: pa.Table
    seconds: dict[str, float]
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the feature columns computed for the batches (what curate reuses instead of re-deriving)
    features: pa.Table | None = None


def ordered(checks: list[Check]) -> list[Check]:
    """``checks`` with every check after the configured checks it ``reads`` (otherwise in the given order)."""
    by_name = {c.name: c for c in checks}
    out: list[Check] = []
    done: set[str] = set()

    def visit(check: Check, path: tuple[str, ...]) -> None:
        if check.name in done:
            return
        if check.name in path:
            raise ValueError(f"checks read each other's scores in a cycle: {' -> '.join(path + (check.name,))}")
        for dep in check.reads:
            if dep in by_name:
                visit(by_name[dep], path + (check.name,))
        done.add(check.name)
        out.append(check)

    for c in checks:
        visit(c, ())
    return out


def run_checks(table: pa.Table, checks: list[Check], config: Any, *, inputs: dict[str, Any] | None = None,
               progress=None, existing: pa.Table | None = None, batch_size: int | None = None,
               keep_features: tuple[str, ...] = ()) -> RunResult:
    """Score ``table`` with ``checks``.

    ``existing``: score columns already known for these rows (e.g. a reused audit), visible to
    checks that read them.
    ``keep_features``: feature names to return in :attr:`RunResult.features`.
    """
    progress = progress or NullProgress()
    n = table.num_rows
    size = max(1, int(batch_size or getattr(config, "batch_size", None) or _default_batch()))
    starts = list(range(0, n, size)) or [0]
    batches = [table.slice(s, min(size, n - s)) for s in starts]
    if existing is not None and existing.num_columns:
        batches = [_with_columns(b, existing.slice(s, b.num_rows)) for b, s in zip(batches, starts)]

    seconds: dict[str, float] = {}
    wanted = [f for c in checks for f in c.needs] + list(keep_features)
    if wanted:
        t0 = time.perf_counter()
        names = resolve(wanted)
        with progress.stage("features", n) as advance:
            computed = []
            for b in batches:
                computed.append(add_features(b, names, config))
                advance(b.num_rows)
            batches = computed
        seconds["features"] = round(time.perf_counter() - t0, 4)
        release_memory()

    columns: dict[str, pa.ChunkedArray] = {}
    facts: dict[str, dict[str, Any]] = {}
    for check in ordered(checks):
        check.bind(config, inputs)
        t0 = time.perf_counter()
        with progress.stage(check.name, n) as advance:
            if isinstance(check, RowCheck):
                parts = []
                for b in batches:
                    parts.extend(check.score(piece) for piece in pieces(b, check.batch_rows))
                    advance(b.num_rows)
            elif isinstance(check, DatasetCheck):
                states = [check.fit(piece) for b in batches for piece in pieces(b)]
                merged = check.merge(states)
                del states  # the per-batch states must not stay alive through finalize's peak
                release_memory()  # nor the fits' temporaries (Arrow keeps freed pages for reuse)
                state = check.finalize(merged)
                del merged
                parts = []
                for b in batches:
                    parts.extend(check.score(piece, state) for piece in pieces(b))
                    advance(b.num_rows)
                facts[check.name] = check.facts(state) or {}
                del state
            else:
                raise TypeError(f"check {check.name}: a check is a RowCheck or a DatasetCheck "
                                "(finesift.checks.base)")
            scores = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            del parts
        seconds[check.name] = round(time.perf_counter() - t0, 4)
        release_memory()  # one check's temporaries must not raise the next one's starting point
        if scores.num_rows != n:
            raise RuntimeError(f"check {check.name} returned {scores.num_rows} rows for {n}")
        offset = 0
        new_batches = []
        for b in batches:
            new_batches.append(_with_columns(b, scores.slice(offset, b.num_rows)))
            offset += b.num_rows
        batches = new_batches
        for col in scores.column_names:
            # the chunks the batches hold too, not a combined copy (a copy of every score column stayed
            # alive beside the batches' own: +70 MB over a 200k-row audit)
            columns[col] = scores[col]

    ordered_cols = {}
    for check in checks:  # the output lists score columns in the configured check order
        for col in _score_names(check, columns):
            ordered_cols[col] = columns[col]
    out = pa.table(ordered_cols) if ordered_cols else pa.table({"_": pa.nulls(n)}).drop(["_"])
    feats = None
    if keep_features:
        whole = pa.concat_tables(batches) if len(batches) > 1 else batches[0]
        feats = whole.select([f for f in keep_features if f in whole.column_names])
    return RunResult(out, seconds, facts, feats)


#: most text bytes (system + prompt + answer) a check is given at once: a check's temporaries grow with
#: the text it holds (shingles, tokens, per-word lists), so a batch of long rows is cut into pieces of
#: about this size; short rows (a 65,536-row batch of translation pairs is ~5 MB) are one or two pieces.
#: Scores do not depend on where batches are cut (tested), so this changes memory, not results.
PIECE_BYTES = 4 << 20


def pieces(batch: pa.Table, max_rows: int | None = None, max_bytes: int | None = None) -> list[pa.Table]:
    """``batch`` cut into consecutive slices of at most ``max_rows`` rows and about ``max_bytes`` of
    text each (a slice holds at least one row, so a row longer than ``max_bytes`` is a piece of its own)."""
    n = batch.num_rows
    limit = PIECE_BYTES if max_bytes is None else max_bytes
    rows = max(1, int(max_rows)) if max_rows else max(n, 1)
    text = [batch[c] for c in ("system", "prompt", "output") if c in batch.column_names]
    if not text or n == 0:
        return [batch.slice(s, rows) for s in range(0, max(n, 1), rows)]
    size = np.zeros(n, dtype=np.int64)
    for col in text:
        size += np.asarray(pc.fill_null(pc.binary_length(col), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    if int(size.sum()) <= limit and rows >= n:
        return [batch]
    cum = np.cumsum(size)
    out, start = [], 0
    while start < n:
        base = int(cum[start - 1]) if start else 0
        # the last row that keeps this piece within the byte limit, at least one row, at most max_rows
        end = int(np.searchsorted(cum, base + limit, side="right"))
        end = min(max(end, start + 1), start + rows, n)
        out.append(batch.slice(start, end - start))
        start = end
    return out


def _score_names(check: Check, columns: dict[str, pa.Array]) -> list[str]:
    names = [c for c in check.score_columns if c in columns]
    if check.partner_column and check.partner_column in columns:
        names.append(check.partner_column)
    # anything else the check returned (documented in its module), after its documented columns
    names += [c for c in columns if c.startswith(check.name + "_") and c not in names]
    return names


def _with_columns(batch: pa.Table, extra: pa.Table) -> pa.Table:
    for col in extra.column_names:
        if col in batch.column_names:
            batch = batch.set_column(batch.schema.get_field_index(col), col, extra[col])
        else:
            batch = batch.append_column(col, extra[col])
    return batch


def score_table(check: Check, table: pa.Table, config: Any = None, inputs: dict[str, Any] | None = None,
                batch_size: int | None = None) -> pa.Table:
    """Score columns of one check on ``table`` (features added as it needs; a ``row`` column is made
    when the table has none). The one way to run a check outside an audit, e.g. in tests."""
    if "row" not in table.column_names:
        table = table.append_column("row", pa.array(range(table.num_rows), pa.int64()))
    return run_checks(table, [check], config, inputs=inputs,
                      batch_size=batch_size or max(table.num_rows, 1)).scores


def _default_batch() -> int:
    """The configured default batch size (:class:`~finesift.config.AuditConfig`), for runs without a config."""
    from ..config import AuditConfig

    return int(AuditConfig.model_fields["batch_size"].default)
