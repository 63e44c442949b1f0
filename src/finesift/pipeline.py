"""The audit pipeline: records table -> score columns -> decisions -> audit table + summary.

Data flows one way. The input is parsed once (``finesift.io.read``); each check
adds score columns; ``decide`` turns stored scores into flags; writers produce
``audit.parquet`` and ``summary.json``. :func:`redecide` re-applies thresholds to
a stored audit table without re-scoring.
"""

from __future__ import annotations

import errno
import os
import platform
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from . import __version__
from .checks.base import (DECISION, TRIGGERS, Check, check_info, get_check, param_role,
                          partner_precedence, relation_codes, rescores_below)
from .config import AuditConfig
from .errors import ConfigError, OutputError
from .io.atomic import atomic_open, atomic_path
from .engine.memory import release_memory
from .records import Dataset, has_flag


def __getattr__(name: str) -> Any:
    if name == "DEDUP_CODES":  # codes not counted in the "effective size after dedup": the checks' metadata
        return relation_codes("duplicate")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: the audit folder's completion marker: removed when a run starts, written last
SUMMARY = "summary.json"
#: files ``finesift audit`` writes into its output folder
AUDIT_FILES = ("audit.parquet", "skipped.jsonl", SUMMARY)
#: the HTML report the CLI writes beside them (``finesift.report.REPORT``)
REPORT_FILE = "report.html"
#: a previous run's files removed before a run starts, so a stale one is never taken for this run's
AUDIT_STALE = (SUMMARY, "skipped.jsonl", REPORT_FILE)
#: the records-table columns the content fingerprint covers: the original record (``raw``), its
#: position and id, and what was read from it (``--map`` changes these without changing ``raw``)
FINGERPRINT_COLUMNS = ("row", "id", "system", "prompt", "output", "metadata", "raw")


# --- content fingerprint --------------------------------------------------------------------------

def content_fingerprint(table: pa.Table) -> str:
    """A hash of the records' content, independent of the path they came from and of Arrow chunking.

    Streams the columns' Arrow buffers through xxh3-128 (no copy of the data, no second parse):
    gigabytes per second. Checkpoints and reused audits are keyed on it, so the same ids over
    other content (stdin, an edited file) never pass for the same data.
    """
    h = xxhash.xxh3_128()
    h.update(f"finesift-records-v1:{table.num_rows}".encode())
    for name in FINGERPRINT_COLUMNS:
        if name not in table.column_names:
            continue
        lengths, data = xxhash.xxh3_128(), xxhash.xxh3_128()
        for chunk in table[name].chunks:
            _feed(chunk, lengths, data)
        h.update(b"\0" + name.encode() + b"\0" + lengths.digest() + data.digest())
    return "xxh3_128:" + h.hexdigest()


def _feed(arr: pa.Array, lengths, data) -> None:
    """Feed one chunk: value lengths (-1 = null) to ``lengths``, value bytes to ``data``."""
    t = arr.type
    if len(arr) == 0:
        return
    valid = None if arr.null_count == 0 else pc.is_valid(arr).to_numpy(zero_copy_only=False)
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        width = np.int64 if (pa.types.is_large_string(t) or pa.types.is_large_binary(t)) else np.int32
        bufs = arr.buffers()
        offsets = np.frombuffer(bufs[1], dtype=width, count=len(arr) + 1, offset=arr.offset * np.dtype(width).itemsize)
        lens = np.diff(offsets).astype(np.int64)
        if valid is not None:
            lens[~valid] = -1
        lengths.update(lens.tobytes())
        if bufs[2] is not None and offsets[-1] > offsets[0]:
            data.update(memoryview(bufs[2])[int(offsets[0]):int(offsets[-1])])
    elif pa.types.is_integer(t):
        vals = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        lens = np.zeros(len(arr), dtype=np.int64) if valid is None else np.where(valid, 0, -1).astype(np.int64)
        lengths.update(lens.tobytes())
        data.update(np.ascontiguousarray(vals).tobytes())
    else:  # not in the records schema today: hash a canonical serialization
        data.update(orjson.dumps(arr.to_pylist(), default=str))


@dataclass
class AuditResult:
    """The audit table (one row per input record, input order) and its summary."""

    table: pa.Table
    summary: dict[str, Any]
    dataset: Dataset
    config: AuditConfig
    checks: list[Check] = field(default_factory=list)
    #: per-row keys computed while scoring (``answer_hash``, ``pair_hash``, ``content_hash``): what curate
    #: groups by instead of normalizing the text again; not written
    features: pa.Table | None = None

    def flagged(self, code: str) -> pa.Table:
        """Rows flagged with ``code``."""
        return self.table.filter(pa.array(has_flag(self.table["flags"], code)))

    def to_pandas(self):
        return self.table.to_pandas()

    def write(self, outdir: str | Path) -> Path | str:
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


#: per-row keys every audit keeps from its batches (the summary counts distinct rows; curate groups)
AUDIT_FEATURES = ("answer_hash", "pair_hash", "content_hash", "words_prompt", "words_output", "format_faults")


def run_all(dataset: Dataset, checks: list[Check], config: AuditConfig, progress=None,
            existing: pa.Table | None = None, keep_features: tuple[str, ...] = ()):
    """Run every check through the local engine: a :class:`~finesift.engine.local.RunResult` (score
    columns, seconds and dataset facts per check, and the ``keep_features`` columns).

    ``existing``: score columns already known (a reused audit) that checks reading them can see.
    """
    from .engine import run_checks

    return run_checks(dataset.table, checks, config, inputs=load_inputs(checks, config), progress=progress,
                      existing=existing, keep_features=keep_features)


def score_all(dataset: Dataset, checks: list[Check], config: AuditConfig, progress=None,
              existing: pa.Table | None = None) -> tuple[pa.Table, dict[str, float]]:
    """The score columns and seconds per check of :func:`run_all`."""
    res = run_all(dataset, checks, config, progress=progress, existing=existing)
    return res.scores, res.seconds


def load_inputs(checks: list[Check], config: AuditConfig) -> dict[str, Any]:
    """The external datasets the checks compare against (``Check.inputs``), each read once."""
    from .io import read

    out: dict[str, Any] = {}
    for check in checks:
        for fld in check.inputs:
            path = getattr(config, fld, None)
            if path is not None and fld not in out:
                out[fld] = read(str(path))
    return out


def decide_all(scores: pa.Table, checks: list[Check], row_ids: pa.Array | None = None) -> tuple[pa.Array, pa.Array, dict[str, int]]:
    """Apply each check's threshold; return (flags list column, duplicate_of column, counts per code)."""
    n = scores.num_rows
    names = [c.name for c in checks]
    # one row of masks per input row: nonzero() then walks it in row order without a transposed copy
    masks = np.zeros((n, len(checks)), dtype=bool)
    for i, check in enumerate(checks):
        m = np.asarray(check.decide(scores), dtype=bool)
        if m.shape != (n,):
            raise RuntimeError(f"check {check.name} decided {m.shape} for {n} rows")
        masks[:, i] = m
    counts = {name: int(masks[:, i].sum()) for i, name in enumerate(names)}
    # flags: per row, the codes in check order (vectorized: one pass over the nonzero entries)
    check_idx = np.nonzero(masks)[1]  # row by row; the offsets come from the per-row counts
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(masks.sum(axis=1, dtype=np.int32), out=offsets[1:])
    # the codes taken from the list of names, not a Python object per flag (7M flags at 5M rows)
    values = pa.array(names, type=pa.string()).take(pa.array(check_idx))
    del check_idx
    flags = pa.ListArray.from_arrays(pa.array(offsets), values)
    # duplicate_of: partner of the highest-precedence flagged relation
    dup = np.full(n, -1, dtype=np.int64)
    by_name = {c.name: (i, c) for i, c in enumerate(checks)}
    for code in reversed(partner_precedence()):
        if code in by_name:
            i, check = by_name[code]
            col = check.partner_column
            if col and col in scores.column_names:
                if pa.types.is_integer(scores[col].type):  # nulls straight to -1: no float copy and its casts
                    partner = pc.fill_null(scores[col].cast(pa.int64()), -1).to_numpy()
                else:
                    partner = scores[col].to_numpy(zero_copy_only=False)
                    partner = np.where(np.isnan(partner.astype(float)), -1, partner).astype(np.int64) \
                        if partner.dtype.kind == "f" or partner.dtype == object else partner.astype(np.int64)
                use = masks[:, i] & (partner >= 0)
                dup[use] = partner[use]
    duplicate_of = pa.array(dup, mask=dup < 0, type=pa.int64())
    return flags, duplicate_of, counts


def audit_dataset(dataset: Dataset, config: AuditConfig | None = None, progress=None,
                  fingerprint: str | None = None, keep_features: tuple[str, ...] = ()) -> AuditResult:
    """Audit an already-read dataset. See :func:`finesift.api.audit` for the file-level entry point.

    ``fingerprint``: the :func:`content_fingerprint` of ``dataset.table`` when the caller has it.
    ``keep_features``: features to keep in :attr:`AuditResult.features` besides :data:`AUDIT_FEATURES`
    (curate keeps the ``embedding`` its selection clusters, computed once for the checks and for it).
    """
    config = config or AuditConfig()
    t0 = time.perf_counter()
    checks = build_checks(config)
    validate_current(dataset, config)
    res = run_all(dataset, checks, config, progress=progress, keep_features=AUDIT_FEATURES + tuple(keep_features))
    scores, seconds = res.scores, res.seconds
    flags, duplicate_of, counts = decide_all(scores, checks)
    release_memory()  # the decisions' masks and indexes: the summary and the writers come on top of what is left
    t = dataset.table
    base = pa.table({"row": t["row"], "id": t["id"], "flags": flags, "duplicate_of": duplicate_of})
    for col in scores.column_names:
        base = base.append_column(col, scores[col])
    base = with_scoring_record(base, config, checks)
    summary = build_summary(dataset, base, checks, config, counts, seconds, time.perf_counter() - t0,
                            features=res.features, facts=res.facts)
    summary["dataset"]["fingerprint"] = fingerprint or content_fingerprint(t)
    return AuditResult(table=base, summary=summary, dataset=dataset, config=config, checks=checks,
                       features=res.features)


def validate_current(dataset: Dataset, config: AuditConfig) -> None:
    """Refuse a ``--current`` condition whose value cannot compare with the field's values.

    ``date>=notadate`` would otherwise compare dates as strings, and ``date>=2024-01-01`` on a
    field holding no dates would leave every row's era unknown: both flag nothing, silently.
    """
    if not config.current:
        return
    from .checks.stale import Condition, _to_date, _to_number, metadata_values

    cond = Condition.parse(config.current)
    present = [v for v in metadata_values(dataset.table["metadata"], cond.field) if v is not None and v != ""]
    if not present:
        return  # the stale check names the missing field and the fields there are
    kinds = {"number": _to_number, "date": _to_date}
    share = {kind: sum(conv(v) is not None for v in present) / len(present) for kind, conv in kinds.items()}
    literal = next((kind for kind, conv in kinds.items() if conv(cond.value) is not None), None)
    example = next((v for v in present if v is not None), None)
    where = f"--current {config.current!r}"
    if literal is None:
        for kind in ("date", "number"):
            if share[kind] >= 0.5 and cond.op not in ("==", "!="):
                hint = " (write dates as YYYY-MM-DD)" if kind == "date" else ""
                raise ConfigError(f"{where}: {cond.value!r} is not a {kind}, but the values of '{cond.field}' are "
                                  f"{kind}s (e.g. {example!r}){hint}")
    elif share[literal] == 0:
        hint = "; the values are dates: write the date in full, e.g. 2024-01-01" if share["date"] >= 0.5 else ""
        raise ConfigError(f"{where}: no value of '{cond.field}' is a {literal} (e.g. {example!r}), so none can "
                          f"be compared with {cond.value!r}{hint}")


def redecide(audit_table: pa.Table, config: AuditConfig) -> pa.Table:
    """Re-apply the decision thresholds in ``config`` to stored scores (no re-scoring).

    Refused (:class:`ConfigError` naming the parameter) when ``config`` changes what the scores
    were computed with: a scoring knob, or an input such as the eval file. The table records
    the resolved config it was scored with (:func:`with_scoring_record`); a table without that
    record is taken to have been scored with the defaults.
    """
    checks = build_checks(config)
    check_reusable(scoring_record(audit_table), config, checks, inputs=True)
    flags, duplicate_of, _ = decide_all(audit_table, checks)
    out = audit_table.set_column(audit_table.schema.get_field_index("flags"), "flags", flags)
    return out.set_column(out.schema.get_field_index("duplicate_of"), "duplicate_of", duplicate_of)


#: schema metadata key of an audit table: the resolved config its scores were computed with
SCORING_KEY = b"finesift.scored_with"


def with_scoring_record(table: pa.Table, config: AuditConfig, checks: list[Check]) -> pa.Table:
    """``table`` with the resolved config of ``checks`` in its schema metadata (kept in audit.parquet)."""
    meta = dict(table.schema.metadata or {})
    meta[SCORING_KEY] = orjson.dumps(resolved_config(config, checks), default=str)
    return table.replace_schema_metadata(meta)


def scoring_record(table: pa.Table) -> dict[str, Any] | None:
    """The resolved config recorded by :func:`with_scoring_record`, or None."""
    raw = (table.schema.metadata or {}).get(SCORING_KEY)
    if raw is None:
        return None
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def scoring_changes(previous: dict[str, Any] | None, config: AuditConfig, checks: list[Check] | None = None, *,
                    inputs: bool = False) -> list[str]:
    """What ``config`` changes, relative to the resolved config ``previous``, that stored scores depend on.

    One line per change: a check's scoring knob (a parameter not declared with ``decision``, or a
    ``rescore_below`` decision lowered), or an AuditConfig field in the check's ``config_inputs``;
    with ``inputs``, also the trigger fields (``eval_data`` for leakage, ``current``/``reference``
    for stale). Checks ``previous`` did not run are not compared (they have no scores to reuse).
    ``previous`` None (no record): compared with the defaults.
    """
    checks = checks if checks is not None else build_checks(config)
    if previous is None:
        previous = {**AuditConfig(checks=[]).model_dump(), "params": {c.name: {} for c in checks}}
        inputs = False  # which eval file or era was used is unknown: not compared
    before_params = previous.get("params") or {}
    out: list[str] = []
    for check in checks:
        if check.name not in before_params:
            continue
        old = dict(before_params[check.name] or {})
        cls = type(check)
        defaults = cls.Params().model_dump()
        now = check.params.model_dump()
        for name, value in now.items():
            was = old.get(name, defaults.get(name))
            if _same(was, value):
                continue
            if param_role(cls.Params, name) == DECISION:
                if not (rescores_below(cls.Params, name) and _lower(value, was)):
                    continue
                out.append(f"{check.name}.{name} {value!r} is below the {was!r} it was scored with (scoring "
                           "only recorded matches at or above it)")
            else:
                out.append(f"{check.name}.{name} is a scoring knob: {was!r} when scored, {value!r} now")
        fields = list(cls.config_inputs)
        if inputs and cls.group in TRIGGERS:
            fields += TRIGGERS[cls.group]
        for name in fields:
            was, value = previous.get(name), getattr(config, name)
            if not _same(was, value):
                out.append(f"{check.name} scores depend on {name}: {was!r} when scored, {value!r} now")
    return out


def check_reusable(previous: dict[str, Any] | None, config: AuditConfig, checks: list[Check] | None = None, *,
                   inputs: bool = False) -> None:
    """Raise :class:`ConfigError` when stored scores made with ``previous`` cannot be re-decided for ``config``.

    ``curate --audit DIR`` calls it with the audit's recorded config (its summary's
    ``config``); changed decision thresholds pass (they re-decide), changed scoring knobs are
    refused with the way out.
    """
    changes = scoring_changes(previous, config, checks, inputs=inputs)
    if changes:
        raise ConfigError("the stored scores cannot be re-decided with this config: " + "; ".join(changes)
                          + ". Re-run the audit with these settings (or leave them as they were).")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    if isinstance(a, tuple):
        a = list(a)
    if isinstance(b, tuple):
        b = list(b)
    return a == b


def _lower(value: Any, was: Any) -> bool:
    try:
        return float(value) < float(was)
    except (TypeError, ValueError):
        return True


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
                  counts: dict[str, int], seconds: dict[str, float], total_seconds: float, *,
                  features: pa.Table, facts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """summary.json: dataset, counts, lengths, examples, per-check metadata and the dataset facts checks
    report (``facts``: check -> facts, e.g. the dominant answer language).

    ``features``: the audit's :data:`AUDIT_FEATURES` columns: distinct rows are counted on ``pair_hash``
    and lengths on the word counts (the text is not normalized or split a second time here).
    """
    t = dataset.table
    n = t.num_rows
    flags = audit_table["flags"]
    flagged_any = int(pc.sum(pc.greater(pc.list_value_length(flags), 0)).as_py() or 0) if n else 0
    flagged_rows = _flagged_rows(flags)
    dedup_mask = np.zeros(n, dtype=bool)
    for code in relation_codes("duplicate"):
        if code in counts:
            dedup_mask[flagged_rows(code)] = True
    unique_rows = len(np.unique(features["pair_hash"].to_numpy())) if n else 0
    lengths: dict[str, Any] = {}
    for fld in ("prompt", "output"):
        words = features[f"words_{fld}"].to_numpy()
        lengths[fld] = {"words": _length_stats(np.asarray(words, dtype=float))}
        tok_col = f"too_long_{fld}_tokens"
        if tok_col in audit_table.column_names:
            lengths[fld]["tokens"] = _length_stats(audit_table[tok_col].to_numpy(zero_copy_only=False).astype(float))
    examples: dict[str, list[dict[str, Any]]] = {}
    if config.examples_per_code and n:
        for check in checks:
            idx = flagged_rows(check.name)[: config.examples_per_code]
            ex = []
            for i in idx:
                i = int(i)
                item = {
                    "row": int(t["row"][i].as_py()),  # the input position (skipped records leave gaps)
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
        "facts": {k: v for k, v in (facts or {}).items() if v is not None and v != {}},
        "checks": {c.name: check_info(type(c)) for c in checks},
        "seconds": {"checks": seconds, "total": round(total_seconds, 4)},
        "config": resolved_config(config, checks),
        "examples": examples,
    }


def _flagged_rows(flags: pa.ChunkedArray | pa.Array):
    """``code -> sorted positions of the rows flagged with it``, the lists flattened once for every code
    (``has_flag`` per code combined and flattened the whole flags column again for every code)."""
    if isinstance(flags, pa.ChunkedArray):
        flags = flags.chunk(0) if flags.num_chunks == 1 else flags.combine_chunks()
    values = pc.list_flatten(flags)
    parents = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False) if len(values) else np.zeros(0, np.int64)

    def rows(code: str) -> np.ndarray:
        if not len(values):
            return np.zeros(0, dtype=np.int64)
        # a row holds each code once and the lists flatten in row order: already sorted and distinct
        return parents[pc.equal(values, code).to_numpy(zero_copy_only=False)]

    return rows


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


# --- output folders -------------------------------------------------------------------------------

def _temp_pattern(names) -> re.Pattern:
    # the names io.atomic gives its temporary files: ".<name>.<random>.tmp"
    return re.compile(r"\.(?:%s)\.[A-Za-z0-9_]+\.tmp" % "|".join(re.escape(n) for n in names))


def prepare_output_dir(outdir: str | Path, names=AUDIT_FILES, *, stale=AUDIT_STALE) -> Path:
    """Make ``outdir`` ready for a run, before any scoring work: fail fast, and never look complete while stale.

    Creates the folder (one clear :class:`OutputError` when it cannot be: a file there or above,
    no permission, a read-only or virtual file system), checks that a file can be written in it,
    removes the completion marker and the files named in ``stale`` (a previous run's
    ``summary.json`` and ``skipped.jsonl``) so that an unfinished run never reads as finished,
    and deletes the temporary files a killed run left (only finesift's own ``.<name>.*.tmp``
    for the ``names`` it writes).
    """
    outdir = Path(outdir)
    shown = str(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"output folder {shown} is a file; give a folder (new or existing)")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        above = next((p for p in outdir.parents if p.exists() and not p.is_dir()), None)
        raise OutputError(f"cannot create output folder {shown}: {above or 'a part of the path'} is a file, "
                          "not a folder") from None
    except OSError as exc:
        raise OutputError(f"cannot create output folder {shown}: {_reason(exc)}") from None
    probe = None
    try:
        import tempfile

        fd, probe = tempfile.mkstemp(prefix=".finesift-probe.", suffix=".tmp", dir=outdir)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write into output folder {shown}: {_reason(exc)}") from None
    finally:
        if probe is not None:
            Path(probe).unlink(missing_ok=True)
    try:
        for name in stale:
            (outdir / name).unlink(missing_ok=True)
        pattern = _temp_pattern(names)
        for entry in os.scandir(outdir):
            if entry.is_file(follow_symlinks=False) and pattern.fullmatch(entry.name):
                os.unlink(entry.path)
    except OSError as exc:
        raise OutputError(f"cannot clean output folder {shown}: {_reason(exc)}") from None
    return outdir


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """An ``OSError`` while writing ``path`` (full disk, permissions changed mid-run) becomes one clear line."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from exc


def write_audit(result: AuditResult, outdir: str | Path, *, prepared: bool = False) -> Path | str:
    """Write ``audit.parquet``, ``skipped.jsonl`` (if any) and, last, ``summary.json``, each atomically.

    ``summary.json`` is the completion marker: it is removed first (:func:`prepare_output_dir`,
    which ``prepared=True`` says was already called for this run) and written last, so a folder
    without it is unfinished, whatever else it holds. ``outdir`` may be a URI: the files are
    written to a local staging folder and uploaded, ``summary.json`` last.
    """
    from .io.remote import is_uri, output_folder

    if is_uri(outdir):
        with output_folder(outdir, AUDIT_FILES, AUDIT_STALE) as local:
            write_audit(result, local)
        return outdir
    outdir = Path(outdir) if prepared else prepare_output_dir(outdir)
    with writing(outdir / "audit.parquet"), atomic_path(outdir / "audit.parquet") as tmp:
        pq.write_table(result.table, tmp)
    if result.dataset.errors:
        with writing(outdir / "skipped.jsonl"), atomic_open(outdir / "skipped.jsonl", "wb") as fh:
            for err in result.dataset.errors:
                fh.write(orjson.dumps(err, default=str) + b"\n")
    with writing(outdir / SUMMARY), atomic_open(outdir / SUMMARY, "wb") as fh:
        fh.write(orjson.dumps(result.summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return outdir
