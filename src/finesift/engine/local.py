"""The local engine: runs checks over batches of the records table through the check protocol.

It runs the checks in dependency order (a check that ``reads`` another's score columns runs after
it), so later checks see earlier checks' columns in their batches. Every batch gets the text features
a check needs just before the first check that needs them (once, whatever number of checks read
them), and loses them once no check still to run needs them, so that memory holds the features of
the checks at hand, not of all of them:

* a :class:`~finesift.checks.base.RowCheck` scores each batch;
* a :class:`~finesift.checks.base.DatasetCheck` fits a state on each batch, merges the states in
  input order, finalizes once and scores each batch with the result.

No check knows which engine runs it: a distributed engine runs the same ``fit``/``merge``/
``finalize``/``score`` calls on blocks. Results do not depend on the batch size (tested).
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
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
    workers = thread_count(config)
    added: list[str] = []  # the features computed here (a column the batches came with is not one)

    def add(wanted) -> None:
        """Compute the features in ``wanted`` (and what they are made from) that the batches lack.

        A check's features are computed just before it runs, not all before the first check: the dataset
        checks that peak first (near duplicates, conflicts) then run without the language probabilities
        the later checks need (650 MB at 5M rows)."""
        nonlocal batches
        have = set(batches[0].column_names)
        # only what the batches lack is resolved: a feature already there keeps its inputs from being made
        # again (``embedding`` present, its dropped ``embeddings_static`` would be recomputed)
        names = resolve([w for w in wanted if w not in have]) if wanted else []
        missing = [f for f in names if f not in have]
        if not missing:
            return
        t0 = time.perf_counter()
        with progress.stage("features", n) as advance:
            computed = []
            if workers == 1:
                for b in batches:
                    computed.append(add_features(b, missing, config))
                    advance(b.num_rows)
            else:
                # pieces of a batch on the threads, sharing PIECE_BYTES of text like the checks do (the features
                # of one batch at once on the threads raised the 200k templated rows' peak past 1 GB)
                with ThreadPoolExecutor(workers) as pool:
                    for b in batches:
                        parts = list(pool.map(lambda p: add_features(p, missing, config),
                                              pieces(b, max_bytes=max(1, PIECE_BYTES // workers))))
                        computed.append(pa.concat_tables(parts) if len(parts) > 1 else parts[0])
                        advance(b.num_rows)
            batches = computed
            del computed  # the batches are the one reference to the features (drop_features frees them)
        added.extend(missing)
        seconds["features"] = round(seconds.get("features", 0.0) + time.perf_counter() - t0, 4)
        release_memory()

    run = ordered(checks)
    configured = {c.name for c in run}
    scored: dict[str, pa.Table] = {}
    facts: dict[str, dict[str, Any]] = {}

    def given(check: Check) -> list[pa.Table]:
        # a check sees the batches' own columns (input, features, a reused audit's scores) and the score
        # columns of the configured checks it ``reads``: what it sees never depends on which other
        # checks happened to finish first
        out = batches
        for dep in check.reads:
            if dep in configured:
                out = _attached(out, scored[dep])
        return out

    # the checks in flight share PIECE_BYTES of text between them: a check's temporaries grow with the text
    # it holds, so the threads raise the peak no more than one check on a whole piece does
    piece_bytes = max(1, PIECE_BYTES // workers)

    def score(check: Check, its_batches: list[pa.Table]) -> tuple[pa.Table, float, dict[str, Any] | None]:
        t0 = time.perf_counter()
        with progress.stage(check.name, n) as advance:
            fact = None
            if isinstance(check, RowCheck):
                parts = []
                for b in its_batches:
                    parts.extend(check.score(piece) for piece in pieces(b, check.batch_rows, piece_bytes))
                    advance(b.num_rows)
            elif isinstance(check, DatasetCheck):
                states = [check.fit(piece) for b in its_batches for piece in pieces(b, max_bytes=piece_bytes)]
                merged = check.merge(states)
                del states  # the per-batch states must not stay alive through finalize's peak
                release_memory()  # nor the fits' temporaries (Arrow keeps freed pages for reuse): it runs alone
                state = check.finalize(merged)
                del merged
                parts = []
                for b in its_batches:
                    parts.extend(check.score(piece, state) for piece in pieces(b, max_bytes=piece_bytes))
                    advance(b.num_rows)
                fact = check.facts(state) or {}
                del state
            else:
                raise TypeError(f"check {check.name}: a check is a RowCheck or a DatasetCheck "
                                "(finesift.checks.base)")
            out = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
            del parts
        if out.num_rows != n:
            raise RuntimeError(f"check {check.name} returned {out.num_rows} rows for {n}")
        return out, round(time.perf_counter() - t0, 4), fact

    # what each check may read of the features: those it names and what they are computed from
    needs = {c.name: set(resolve(c.needs)) if c.needs else set() for c in run}

    def drop_features() -> None:
        # a feature no check still to finish needs goes as soon as the last one that does is done: every
        # feature column of every batch stayed alive to the end (the language probabilities alone are
        # ~130 MB per million rows); a check in flight keeps the batches it was given
        nonlocal batches
        still = set(keep_features).union(*(needs[c.name] for c in run if c.name not in scored))
        gone = [f for f in added if f not in still and f in batches[0].column_names]
        if not gone:
            return
        # a kept feature made from one about to go is computed now, not recomputed from scratch at the end
        add([k for k in keep_features if k not in batches[0].column_names and set(resolve([k])) & set(gone)])
        batches = [b.drop_columns(gone) for b in batches]

    def finished(check: Check, result: tuple[pa.Table, float, dict[str, Any] | None]) -> None:
        scored[check.name], seconds[check.name], fact = result
        if fact is not None:
            facts[check.name] = fact
        drop_features()
        release_memory()  # one check's temporaries must not raise the next one's starting point

    def prepare(check: Check) -> list[pa.Table]:
        add(check.needs)
        return given(check)

    for check in run:
        check.bind(config, inputs)
    if workers == 1:
        for check in run:
            finished(check, score(check, prepare(check)))
    else:
        _concurrently(run, configured, scored, workers, score, finished, prepare)
    # the kept features no check needed nor was made from: computed last, not held through every check
    add(keep_features)

    columns: dict[str, pa.ChunkedArray] = {}
    for check in run:
        for col in scored[check.name].column_names:
            # the chunks the score tables hold, not a combined copy (a copy of every score column stayed
            # alive beside the batches' own: +70 MB over a 200k-row audit)
            columns[col] = scored[check.name][col]
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


def thread_count(config: Any = None) -> int:
    """Checks (and pieces of features) scored at once: ``config.threads``, else 1.

    One by default: 2 threads took 0.89x the time of 1 on the 100k-row benchmark on 2 cores
    (``benchmarks/bench_speed_vs_tree.py``; 0.93x-1.08x in earlier runs) for +22% of peak memory.
    """
    value = getattr(config, "threads", None)
    return max(1, int(value)) if value else 1


def schedule(run: list[Check]) -> list[Check]:
    """The order :func:`_concurrently` starts the checks of ``run`` in (as far as ``reads`` allow).

    Dataset checks first, each alone (their temporaries and states grow with the data: beside another check
    they raised the 200k templated rows' peak past 1 GB), then the row checks two or more at once, model-backed
    ones first so that no long check starts last and runs alone.
    """
    return sorted(run, key=lambda c: (not isinstance(c, DatasetCheck), c.cost != "model", run.index(c)))


def _concurrently(run: list[Check], configured: set[str], scored: dict[str, pa.Table], workers: int,
                  score, finished, prepare) -> None:
    """Score the checks of ``run`` on ``workers`` threads, each once every configured check it reads is done.

    Checks spend most of their time in Arrow, numpy and the tokenizer, which release the GIL. At most
    ``workers`` row checks are in flight, and a :class:`DatasetCheck` runs alone: a row check's temporaries
    are bounded by its piece (``PIECE_BYTES / workers``) whatever the dataset's size, while a dataset
    check's state grows with the data, so running anything beside it would raise the peak with the input.
    A check's result never depends on the others' timing (see ``given`` in :func:`run_checks`): ``prepare``
    gives it its batches (its features added) on this thread, when it is started.
    """
    pending = schedule(run)
    running: dict[Any, Check] = {}
    with ThreadPoolExecutor(workers) as pool:
        while pending or running:
            for check in [c for c in pending if all(d in scored for d in c.reads if d in configured)]:
                if len(running) >= workers:
                    break
                if any(isinstance(c, DatasetCheck) for c in (check, *running.values())) and running:
                    break  # a dataset check runs alone, and the checks after it wait for it
                pending.remove(check)
                running[pool.submit(score, check, prepare(check))] = check
            if not running:  # cannot happen after ordered(): a check waits only on checks before it
                raise RuntimeError(f"checks wait on each other: {[c.name for c in pending]}")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: run.index(running[f])):
                check = running.pop(future)
                finished(check, future.result())  # a check's error is raised here, the others finish first


def _attached(batches: list[pa.Table], scores: pa.Table) -> list[pa.Table]:
    """``batches`` with the rows of ``scores`` (one per row of all batches, in order) as extra columns."""
    out, offset = [], 0
    for b in batches:
        out.append(_with_columns(b, scores.slice(offset, b.num_rows)))
        offset += b.num_rows
    return out


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
