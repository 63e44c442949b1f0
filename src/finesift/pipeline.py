"""The audit pipeline: records table -> score columns -> decisions -> audit table + summary.

Data flows one way. The input is parsed once (``finesift.io.read``); each check
adds score columns; ``decide`` turns stored scores into flags; writers produce
``audit.parquet`` and ``summary.json``. :func:`redecide` re-applies thresholds to
a stored audit table without re-scoring.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__
from .checks.base import Check, Context, get_check, normalized
from .config import PARTNER_PRECEDENCE, AuditConfig
from .engine.batches import iter_batches
from .engine.progress import NullProgress
from .io.atomic import atomic_open, atomic_path
from .records import Dataset, has_flag

#: codes whose flagged rows are not counted in the "effective size after dedup"
DEDUP_CODES = ("exact_duplicate", "near_duplicate", "semantic_duplicate")


@dataclass
class AuditResult:
    """The audit table (one row per input record, input order) and its summary."""

    table: pa.Table
    summary: dict[str, Any]
    dataset: Dataset
    config: AuditConfig
    checks: list[Check] = field(default_factory=list)

    def flagged(self, code: str) -> pa.Table:
        """Rows flagged with ``code``."""
        return self.table.filter(pa.array(has_flag(self.table["flags"], code)))

    def to_pandas(self):
        return self.table.to_pandas()

    def write(self, outdir: str | Path) -> Path:
        return write_audit(self, outdir)


def build_checks(config: AuditConfig) -> list[Check]:
    """Instantiate the configured checks with their typed parameters."""
    for name in config.params:
        get_check(name)  # a typo in a params key is an error, not a silent no-op
    checks = []
    for name in config.effective_checks():
        cls = get_check(name)
        params = dict(config.params.get(name) or {})
        for param, field_name in cls.config_defaults.items():
            if params.get(param) is None:
                params[param] = getattr(config, field_name)
        checks.append(cls(params))
    return checks


def score_all(dataset: Dataset, checks: list[Check], config: AuditConfig, ctx: Context | None = None,
              progress=None) -> tuple[pa.Table, dict[str, float]]:
    """Run every check's ``score``; return the concatenated score columns and seconds per check."""
    progress = progress or NullProgress()
    ctx = ctx or Context(config=config)
    table = dataset.table
    n = table.num_rows
    columns: dict[str, pa.Array] = {}
    seconds: dict[str, float] = {}
    for check in checks:
        t0 = time.perf_counter()
        with progress.stage(check.name, n) as advance:
            if check.scope == "row":
                parts = []
                size = min(config.batch_size, check.batch_rows or config.batch_size)
                for batch in iter_batches(table, size):
                    parts.append(check.score(batch, ctx))
                    advance(batch.num_rows)
                scores = pa.concat_tables(parts) if parts else check.score(table, ctx)
            else:
                scores = check.score(table, ctx)
                advance(n)
        seconds[check.name] = round(time.perf_counter() - t0, 4)
        if scores.num_rows != n:
            raise RuntimeError(f"check {check.name} returned {scores.num_rows} rows for {n}")
        for col in scores.column_names:
            columns[col] = scores[col].combine_chunks() if isinstance(scores[col], pa.ChunkedArray) else scores[col]
    return pa.table(columns) if columns else pa.table({"_": pa.nulls(n)}).drop(["_"]), seconds


def decide_all(scores: pa.Table, checks: list[Check], row_ids: pa.Array | None = None) -> tuple[pa.Array, pa.Array, dict[str, int]]:
    """Apply each check's threshold; return (flags list column, duplicate_of column, counts per code)."""
    n = scores.num_rows
    names = [c.name for c in checks]
    masks = np.zeros((len(checks), n), dtype=bool)
    for i, check in enumerate(checks):
        m = np.asarray(check.decide(scores), dtype=bool)
        if m.shape != (n,):
            raise RuntimeError(f"check {check.name} decided {m.shape} for {n} rows")
        masks[i] = m
    counts = {name: int(masks[i].sum()) for i, name in enumerate(names)}
    # flags: per row, the codes in check order (vectorized: one pass over the nonzero entries)
    rows_idx, check_idx = np.nonzero(masks.T)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows_idx, minlength=n), out=offsets[1:])
    values = pa.array(np.asarray(names, dtype=object)[check_idx] if len(check_idx) else [], type=pa.string())
    flags = pa.ListArray.from_arrays(pa.array(offsets), values)
    # duplicate_of: partner of the highest-precedence flagged relation
    dup = np.full(n, -1, dtype=np.int64)
    by_name = {c.name: (i, c) for i, c in enumerate(checks)}
    for code in reversed(PARTNER_PRECEDENCE):
        if code in by_name:
            i, check = by_name[code]
            col = check.partner_column
            if col and col in scores.column_names:
                partner = scores[col].to_numpy(zero_copy_only=False)
                partner = np.where(np.isnan(partner.astype(float)), -1, partner).astype(np.int64) \
                    if partner.dtype.kind == "f" or partner.dtype == object else partner.astype(np.int64)
                use = masks[i] & (partner >= 0)
                dup[use] = partner[use]
    duplicate_of = pa.array(dup, mask=dup < 0, type=pa.int64())
    return flags, duplicate_of, counts


def audit_dataset(dataset: Dataset, config: AuditConfig | None = None, progress=None,
                  ctx: Context | None = None) -> AuditResult:
    """Audit an already-read dataset. See :func:`finesift.api.audit` for the file-level entry point."""
    config = config or AuditConfig()
    t0 = time.perf_counter()
    checks = build_checks(config)
    ctx = ctx or Context(config=config)
    scores, seconds = score_all(dataset, checks, config, ctx=ctx, progress=progress)
    flags, duplicate_of, counts = decide_all(scores, checks)
    t = dataset.table
    base = pa.table({"row": t["row"], "id": t["id"], "flags": flags, "duplicate_of": duplicate_of})
    for col in scores.column_names:
        base = base.append_column(col, scores[col])
    summary = build_summary(dataset, base, checks, config, counts, seconds, time.perf_counter() - t0, ctx)
    return AuditResult(table=base, summary=summary, dataset=dataset, config=config, checks=checks)


def redecide(audit_table: pa.Table, config: AuditConfig) -> pa.Table:
    """Re-apply thresholds from ``config`` to stored scores (no re-scoring)."""
    checks = build_checks(config)
    flags, duplicate_of, _ = decide_all(audit_table, checks)
    out = audit_table.set_column(audit_table.schema.get_field_index("flags"), "flags", flags)
    return out.set_column(out.schema.get_field_index("duplicate_of"), "duplicate_of", duplicate_of)


def _length_stats(lengths: np.ndarray) -> dict[str, float]:
    if len(lengths) == 0:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "mean": round(float(lengths.mean()), 2),
        "p50": float(np.percentile(lengths, 50)),
        "p95": float(np.percentile(lengths, 95)),
        "max": float(lengths.max()),
    }


def build_summary(dataset: Dataset, audit_table: pa.Table, checks: list[Check], config: AuditConfig,
                  counts: dict[str, int], seconds: dict[str, float], total_seconds: float,
                  ctx: Context | None = None) -> dict[str, Any]:
    ctx = ctx or Context(config=config)
    t = dataset.table
    n = t.num_rows
    flags = audit_table["flags"]
    flagged_any = int(pc.sum(pc.greater(pc.list_value_length(flags), 0)).as_py() or 0) if n else 0
    dedup_mask = np.zeros(n, dtype=bool)
    for code in DEDUP_CODES:
        if code in counts:
            dedup_mask |= has_flag(flags, code)
    if n:
        key = pc.binary_join_element_wise(normalized(t, "prompt", ctx), normalized(t, "output", ctx), "\x00")
        unique_rows = int(pc.count_distinct(key).as_py())
    else:
        unique_rows = 0
    lengths: dict[str, Any] = {}
    for fld in ("prompt", "output"):
        words = pc.count_substring_regex(pc.fill_null(t[fld], ""), pattern=r"\S+").to_numpy(zero_copy_only=False)
        lengths[fld] = {"words": _length_stats(np.asarray(words, dtype=float))}
        tok_col = f"too_long_{fld}_tokens"
        if tok_col in audit_table.column_names:
            lengths[fld]["tokens"] = _length_stats(audit_table[tok_col].to_numpy(zero_copy_only=False).astype(float))
    examples: dict[str, list[dict[str, Any]]] = {}
    if config.examples_per_code and n:
        for check in checks:
            idx = np.flatnonzero(has_flag(flags, check.name))[: config.examples_per_code]
            ex = []
            for i in idx:
                i = int(i)
                item = {
                    "row": i,
                    "prompt": _clip(t["prompt"][i].as_py()),
                    "output": _clip(t["output"][i].as_py()),
                    "scores": {c: _py(audit_table[c][i].as_py()) for c in check.score_columns if c in audit_table.column_names},
                }
                dup = audit_table["duplicate_of"][i].as_py()
                if check.partner_column and check.partner_column in audit_table.column_names:
                    item["partner"] = audit_table[check.partner_column][i].as_py()
                elif dup is not None:
                    item["partner"] = dup
                ex.append(item)
            examples[check.name] = ex
    return {
        "finesift_version": __version__,
        "python": platform.python_version(),
        "dataset": dataset.describe(),
        "stats": {
            "rows": n,
            "unique_rows": unique_rows,
            "effective_rows": int(n - dedup_mask.sum()),
            "flagged_rows": flagged_any,
            "flag_rate": round(flagged_any / n, 6) if n else 0.0,
            "lengths": lengths,
        },
        "counts": counts,
        "checks": {c.name: {"description": c.description, "cost": c.cost, "scope": c.scope,
                            "score_columns": c.score_columns} for c in checks},
        "seconds": {"checks": seconds, "total": round(total_seconds, 4)},
        "config": resolved_config(config, checks),
        "examples": examples,
    }


def resolved_config(config: AuditConfig, checks: list[Check]) -> dict[str, Any]:
    """The config with every check's parameters spelled out (defaults included)."""
    out = config.model_dump()
    out["params"] = {c.name: c.params.model_dump() for c in checks}
    return out


def _clip(s: str | None, n: int = 160) -> str | None:
    if s is None:
        return None
    return s if len(s) <= n else s[: n - 1] + "…"


def _py(v):
    return round(v, 6) if isinstance(v, float) else v


def write_audit(result: AuditResult, outdir: str | Path) -> Path:
    """Write ``audit.parquet``, ``summary.json`` and (if any) ``skipped.jsonl``, each atomically."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with atomic_path(outdir / "audit.parquet") as tmp:
        pq.write_table(result.table, tmp)
    if result.dataset.errors:
        with atomic_open(outdir / "skipped.jsonl", "wb") as fh:
            for err in result.dataset.errors:
                fh.write(orjson.dumps(err) + b"\n")
    with atomic_open(outdir / "summary.json", "wb") as fh:
        fh.write(orjson.dumps(result.summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return outdir
