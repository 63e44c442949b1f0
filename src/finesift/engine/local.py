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

import pyarrow as pa

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

    columns: dict[str, pa.Array] = {}
    facts: dict[str, dict[str, Any]] = {}
    for check in ordered(checks):
        check.bind(config, inputs)
        t0 = time.perf_counter()
        with progress.stage(check.name, n) as advance:
            if isinstance(check, RowCheck):
                sub = check.batch_rows or size
                parts = []
                for b in batches:
                    for s in range(0, max(b.num_rows, 1), sub):
                        parts.append(check.score(b.slice(s, min(sub, b.num_rows - s))))
                    advance(b.num_rows)
            elif isinstance(check, DatasetCheck):
                states = [check.fit(b) for b in batches]
                merged = check.merge(states)
                del states  # the per-batch states must not stay alive through finalize's peak
                state = check.finalize(merged)
                del merged
                parts = []
                for b in batches:
                    parts.append(check.score(b, state))
                    advance(b.num_rows)
                facts[check.name] = check.facts(state) or {}
                del state
            else:
                raise TypeError(f"check {check.name}: a check is a RowCheck or a DatasetCheck "
                                "(finesift.checks.base)")
            scores = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
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
            c = scores[col]
            columns[col] = c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c

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
