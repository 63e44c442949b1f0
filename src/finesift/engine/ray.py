"""The Ray engine: the local engine's check protocol on Ray Data blocks, same results.

The records table is cut into blocks of ``batch_size`` rows (the local engine's batches) and
made a Ray Dataset of Arrow blocks. Then, stage by stage and in the local engine's order:

* the text features the checks need: ``map_batches`` over whole blocks, on workers;
* a :class:`~finesift.checks.base.RowCheck`: ``map_batches``, each block gaining its score columns;
* a :class:`~finesift.checks.base.DatasetCheck`: ``fit`` per block in a Ray task, the states
  brought to the driver and merged in input order, ``finalize`` once on the driver, the state
  put in the object store once and ``score`` per block in a Ray task.

GPUs: on a cluster that has them, every task of a stage that runs a torch model (a check whose
``accelerated(config)`` is true, such as ``lm_quality``; the features stage when it computes
sentence embeddings) asks Ray for ``--ray-gpus`` GPUs (default 1; a fraction lets tasks share one),
so Ray places it on a GPU worker and torch finds that GPU there. Every other stage asks for CPUs
only. Without GPUs in the cluster nothing asks for one (``--ray-gpus`` above 0 is then refused).

Each stage is materialized before the next so that its seconds are its own (Ray runs lazily)
and a later check sees the earlier checks' columns, as locally. The checks are the same
objects the local engine runs, pickled to the workers: no check knows which engine runs it.
Blocks keep their order (``preserve_order``), and the result is checked to be in input order.

The input is read on the driver with finesift's reader (ids, row positions and skipped records as
locally), and the scored blocks come back to the driver for the decisions and writers, so the
driver holds the audit table as the local engine does; the workers hold the per-stage work.
On a cluster (``--ray-address``), every worker needs finesift installed (the same version); the
files of ``--eval``/``--reference`` are read once on the driver and shipped with the checks.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import pyarrow as pa

from ..checks.base import Check, DatasetCheck, RowCheck
from ..checks.features import accelerated, add_features, resolve
from ..errors import ConfigError, FinesiftError, MissingDependencyError
from . import local
from .local import RunResult, _default_batch, _score_names, _with_columns, ordered
from .progress import NullProgress

#: the local engine's entry point (an empty table needs no cluster)
_LOCAL_RUN = local.run_checks
#: GPUs each model task asks for (``--ray-gpus``); None: 1 where the cluster has GPUs, else 0
_GPUS: ContextVar[float | None] = ContextVar("finesift_ray_gpus", default=None)


def import_ray():
    """The ``ray`` module with Ray Data, or :class:`MissingDependencyError` naming ``finesift[ray]``."""
    try:
        import ray
        import ray.data  # Ray Data is an extra of ray (`pip install ray` alone lacks it)
    except ImportError as exc:
        raise MissingDependencyError("ray[data]", "--engine ray", extra="ray") from exc
    return ray


def check_address(address: str) -> None:
    """Refuse a ``host:port`` no cluster listens on, in seconds: ``ray.init`` would retry for minutes."""
    addr = address.strip()
    if addr in ("auto", "local") or "://" in addr:
        return  # Ray resolves these itself (a running local cluster, or a Ray Client URL)
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: expected HOST:PORT of a Ray cluster's head "
                          "(e.g. 10.0.0.5:6379), 'auto', or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"--ray-address {address!r}: no Ray cluster reachable there "
                          f"({exc.strerror or exc}); start one with 'ray start --head' or fix the address") from None


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def session(address: str | None = None) -> Iterator[Any]:
    """A connected Ray: the running one if this process has one, else ``address``'s cluster, else a
    new local instance with this machine's CPUs (shut down again on exit; a joined cluster is left running)."""
    ray = import_ray()
    if address:
        check_address(address)
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False, "include_dashboard": False}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            # "local": a new instance even where RAY_ADDRESS names a cluster the user did not ask for here
            ray.init(address="local", num_cpus=_local_cpus(), **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        raise ConfigError(f"cannot start {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    try:
        yield ray
    finally:
        ray.shutdown()


def check_gpus(gpus: float | None) -> float | None:
    """``--ray-gpus`` as the engine takes it: None (auto) or a finite number >= 0, else a :class:`ConfigError`."""
    if gpus is None:
        return None
    value = float(gpus)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"--ray-gpus {gpus!r}: expected GPUs per model task, a number >= 0 "
                          "(a fraction such as 0.5 lets tasks share a GPU; 0: never ask for one)")
    return value


@contextmanager
def use(address: str | None = None, gpus: float | None = None) -> Iterator[None]:
    """Run every audit and curate started inside on Ray (joining ``address`` when given).

    ``gpus``: GPUs each model task asks for (None: 1 where the cluster has GPUs; 0: never).
    The pipeline reaches its engine through :func:`finesift.engine.run_checks`; inside this
    block that is this module's :func:`run_checks`.
    """
    from . import using

    token = _GPUS.set(check_gpus(gpus))
    try:
        with session(address), using(run_checks):
            yield
    finally:
        _GPUS.reset(token)


def gpus_per_task(ray) -> float:
    """What a model task asks for here: ``--ray-gpus`` (default 1) on a cluster with GPUs, else 0.

    Asking a cluster without GPUs for one would leave the task waiting forever, so an explicit
    ``--ray-gpus`` above 0 there is a :class:`ConfigError` instead.
    """
    wanted = _GPUS.get()
    have = float(ray.cluster_resources().get("GPU", 0.0))
    if wanted == 0:
        return 0.0
    if have <= 0:
        if wanted is not None:
            raise ConfigError(f"--ray-gpus {wanted:g}: the Ray cluster has no GPUs; leave the option out "
                              "(model stages then run on CPUs) or join a cluster with GPU workers")
        return 0.0
    want = 1.0 if wanted is None else wanted
    if want > have:
        raise ConfigError(f"--ray-gpus {want:g}: more GPUs per task than the Ray cluster has ({have:g})")
    return want


# --- the engine -----------------------------------------------------------------------------------

def run_checks(table: pa.Table, checks: list[Check], config: Any, *, inputs: dict[str, Any] | None = None,
               progress=None, existing: pa.Table | None = None, batch_size: int | None = None,
               keep_features: tuple[str, ...] = ()) -> RunResult:
    """:func:`finesift.engine.local.run_checks` on Ray: same arguments, same :class:`RunResult`."""
    n = table.num_rows
    if n == 0:  # no block to give a worker; nothing a cluster could add
        return _LOCAL_RUN(table, checks, config, inputs=inputs, progress=progress, existing=existing,
                          batch_size=batch_size, keep_features=keep_features)
    ray = import_ray()
    with session(), _data_context(ray), _user_errors():
        return _run(ray, table, checks, config, inputs=inputs, progress=progress or NullProgress(),
                    existing=existing, batch_size=batch_size, keep_features=keep_features)


def _run(ray, table: pa.Table, checks: list[Check], config: Any, *, inputs, progress, existing, batch_size,
         keep_features) -> RunResult:
    n = table.num_rows
    size = max(1, int(batch_size or getattr(config, "batch_size", None) or _default_batch()))
    starts = list(range(0, n, size))
    blocks = [table.slice(s, min(size, n - s)) for s in starts]
    if existing is not None and existing.num_columns:
        blocks = [_with_columns(b, existing.slice(s, b.num_rows)) for b, s in zip(blocks, starts)]
    ds = ray.data.from_arrow(blocks)
    del blocks

    seconds: dict[str, float] = {}
    gpus = gpus_per_task(ray)
    wanted = [f for c in checks for f in c.needs] + list(keep_features)
    if wanted:
        t0 = time.perf_counter()
        with progress.stage("features", n) as advance:
            on_gpu = gpus if accelerated(wanted, config) else 0.0
            ds = _map(ds, _features_block, resolve(wanted), config, gpus=on_gpu, size=size).materialize()
            advance(n)
        seconds["features"] = round(time.perf_counter() - t0, 4)

    produced: dict[str, list[str]] = {}
    facts: dict[str, dict[str, Any]] = {}
    for check in ordered(checks):
        check.bind(config, inputs)
        on_gpu = gpus if check.accelerated(config) else 0.0
        before = set(ds.schema().names)
        t0 = time.perf_counter()
        with progress.stage(check.name, n) as advance:
            if isinstance(check, RowCheck):
                ds = _map(ds, _row_block, check, size, gpus=on_gpu, size=size).materialize()
            elif isinstance(check, DatasetCheck):
                ds, facts[check.name] = _dataset_check(ray, ds, check, on_gpu)
            else:
                raise TypeError(f"check {check.name}: a check is a RowCheck or a DatasetCheck "
                                "(finesift.checks.base)")
            advance(n)
        seconds[check.name] = round(time.perf_counter() - t0, 4)
        after = ds.schema().names
        produced[check.name] = [c for c in after if c not in before or _declares(check, c)]

    whole = _collect(ray, ds)
    if whole.num_rows != n or ("row" in table.column_names and not whole["row"].equals(table["row"])):
        raise RuntimeError("the Ray engine returned the rows out of input order")
    columns = {col: _contiguous(whole[col]) for name in produced for col in produced[name]}
    ordered_cols = {}
    for check in checks:  # the output lists score columns in the configured check order
        for col in _score_names(check, columns):
            ordered_cols[col] = columns[col]
    out = pa.table(ordered_cols) if ordered_cols else pa.table({"_": pa.nulls(n)}).drop(["_"])
    feats = whole.select([f for f in keep_features if f in whole.column_names]) if keep_features else None
    return RunResult(out, seconds, facts, feats)


def _map(ds, fn, *args, gpus: float = 0.0, size: int | None = None):
    # batch_size=None: a call per whole block, so a block is exactly one of the local engine's batches; Ray
    # wants a batch size for GPU tasks: the block size then, so a batch is still one local-engine batch
    gpu = {"batch_size": size, "num_gpus": gpus} if gpus else {"batch_size": None}
    return ds.map_batches(fn, fn_args=args, batch_format="pyarrow", zero_copy_batch=True, **gpu)


def _carried(fn):
    """``fn`` run on a worker: a :class:`FinesiftError` it raises travels to the driver untouched."""

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except FinesiftError as exc:
            raise _FromWorker(exc) from None

    return run


@_carried
def _features_block(block: pa.Table, names: list[str], config: Any) -> pa.Table:
    return add_features(block, names, config)


@_carried
def _row_block(block: pa.Table, check: RowCheck, size: int) -> pa.Table:
    parts = [check.score(piece) for piece in local.pieces(block, check.batch_rows or size)]
    return _scored(block, check, pa.concat_tables(parts) if len(parts) > 1 else parts[0])


def _scored(block: pa.Table, check: Check, scores: pa.Table) -> pa.Table:
    if scores.num_rows != block.num_rows:
        raise RuntimeError(f"check {check.name} returned {scores.num_rows} rows for {block.num_rows}")
    return _with_columns(block, scores)


def _dataset_check(ray, ds, check: DatasetCheck, gpus: float = 0.0):
    """fit per block on workers, merge in input order and finalize on the driver, score per block on workers."""
    refs = ds.to_arrow_refs()
    check_ref = ray.put(check)
    fit, score = _tasks(ray)
    if gpus:
        fit, score = fit.options(num_gpus=gpus), score.options(num_gpus=gpus)
    fitted = ray.get([fit.remote(check_ref, r) for r in refs])
    # blocks come in input order (preserve_order); sorting by first row makes the merge order not depend on it
    fitted.sort(key=lambda item: item[0])
    merged = check.merge([state for _, state in fitted])
    del fitted  # the per-block states must not stay alive through finalize's peak
    state = check.finalize(merged)
    del merged
    facts = check.facts(state) or {}
    state_ref = ray.put(state)
    del state
    out = ray.data.from_arrow_refs([score.remote(check_ref, state_ref, r) for r in refs])
    return out.materialize(), facts


@_carried
def _fit_block(check: DatasetCheck, block: pa.Table) -> tuple[int, Any]:
    """The block's first row and its state (the block fitted in byte-bounded pieces, as locally)."""
    first = block["row"][0].as_py() if block.num_rows and "row" in block.column_names else -1
    states = [check.fit(piece) for piece in local.pieces(block)]
    return first, states[0] if len(states) == 1 else check.merge(states)


@_carried
def _score_block(check: DatasetCheck, state: Any, block: pa.Table) -> pa.Table:
    parts = [check.score(piece, state) for piece in local.pieces(block)]
    return _scored(block, check, pa.concat_tables(parts) if len(parts) > 1 else parts[0])


_TASKS: tuple[Any, Any] | None = None


def _tasks(ray):
    """:func:`_fit_block` and :func:`_score_block` as Ray tasks (made once: ``import ray`` is deferred)."""
    global _TASKS
    if _TASKS is None:
        _TASKS = (ray.remote(_fit_block), ray.remote(_score_block))
    return _TASKS


def _declares(check: Check, col: str) -> bool:
    return col in check.score_columns or col == check.partner_column or col.startswith(check.name + "_")


def _collect(ray, ds) -> pa.Table:
    parts = [t for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def _contiguous(col):
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


@contextmanager
def _data_context(ray) -> Iterator[None]:
    """Ray Data set up for the engine for the duration of a run, the caller's settings restored after."""
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.raise_original_map_exception)
    ctx.execution_options.preserve_order = True  # blocks in input order: merge and output order rely on it
    ctx.enable_progress_bars = False  # finesift's own progress bars are on stderr already
    # a check's FinesiftError (bad input) must reach the driver as itself, not as Ray's UserCodeException
    # wrapper, whose pickled form drops the original
    ctx.raise_original_map_exception = True
    console = [h for h in logging.getLogger("ray.data").handlers if h.name == "console"]
    levels = [h.level for h in console]
    for h in console:
        # Ray Data logs every run's plan and a failed task's traceback on the console; the error itself
        # still propagates (and Ray Data's log file under the session folder keeps every line)
        h.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        (ctx.execution_options.preserve_order, ctx.enable_progress_bars,
         ctx.raise_original_map_exception) = saved
        for h, level in zip(console, levels):
            h.setLevel(level)


class _FromWorker(Exception):
    """A :class:`FinesiftError` raised on a worker, on its way to the driver.

    Ray rewrites the message of the exception it propagates (retry notes appended) and pickles it
    by its arguments, which subclasses with their own ``__init__`` (``InputError``) cannot be
    rebuilt from: the error rides inside, pickled by class, arguments and attributes.
    """

    def __init__(self, error: FinesiftError):
        super().__init__(str(error))
        self.error = error

    def __reduce__(self):
        e = self.error
        return _arrived, (type(e), e.args, dict(e.__dict__))


def _arrived(cls: type, args: tuple, state: dict) -> _FromWorker:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return _FromWorker(error)


@contextmanager
def _user_errors() -> Iterator[None]:
    """A finesift error raised in a worker (bad input a check found) comes back as itself: one clear line."""
    try:
        yield
    except Exception as exc:
        carried = _carried_error(exc)
        if carried is None:
            raise
        raise carried from None


def _carried_error(exc: BaseException) -> FinesiftError | None:
    """The worker's :class:`FinesiftError` inside Ray's wrappers of ``exc`` (``cause``, ``__cause__``), if any."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, _FromWorker):
            return e.error
        todo += [x for x in (getattr(e, "cause", None), e.__cause__, e.__context__) if isinstance(x, BaseException)]
    return None
