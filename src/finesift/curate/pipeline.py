"""``finesift curate``: from a large noisy set to a small, diverse, high-quality one, every removal explained.

Stages (each timed in ``summary.json``):

1. **read** the data once (``finesift.io.read``).
2. **audit**: reuse ``--audit DIR/audit.parquet`` (verified against the data by the content
   fingerprint its summary.json records; checks it lacks are scored now; thresholds re-decided
   from the recipe) or run the audit with the recipe's checks, model checks included. The scored
   audit is checkpointed in the output folder under the same fingerprint, so re-running an
   interrupted curate on the same content skips it.
3. **quality**: one score per row in [0, 1] (``finesift.curate.quality.quality_score``).
4. **grouping**: duplicate and conflict groups keep their best member (:mod:`.grouping`).
5. **filter**: rows with a code the recipe drops are rejected with those codes as reasons.
   **lm_quality** then scores the local LM (IFD, perplexity) on the candidate pool only, not on
   every row: ``models.lm`` auto (the default) scores the best ``lm_quality.curate_rows`` (512) pool
   rows by every other signal, so it stays affordable on a CPU (1.5-12 rows/s there); true scores
   the whole pool; false or ``--no-models`` none. Rows left unscored keep a neutral LM share of the
   quality score; ``lm_quality`` flags lower quality (or reject, when the recipe drops the code).
   ``summary.json`` ``lm`` says what was scored, where and how fast.
6. **selection** down to ``--target``/``--keep-fraction``, quality first and diversity-aware
   (:mod:`.select`); rows cut here get the reason ``not_selected``.
7. **write**: ``kept.<ext>`` and ``rejected.<ext>`` in the input's own format and shape,
   ``audit.parquet`` (with ``decision`` and ``reasons``), ``recipe.yaml`` and, last,
   ``summary.json``. Every file is written to a temporary name and renamed, and
   ``summary.json`` is removed when a run starts and written when it ends: a folder
   without it is unfinished, and re-running finishes it.
"""

from __future__ import annotations

import inspect
import os
import shutil
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

from .. import __version__
from ..checks.base import registry
from ..config import AuditConfig
from ..engine.progress import NullProgress
from ..errors import ConfigError, InputError
from ..io.atomic import atomic_open, atomic_path
from ..io.remote import is_uri, join, local_copy, output_folder
from ..pipeline import (AUDIT_FEATURES, AUDIT_STALE, REPORT_FILE, SUMMARY, _temp_pattern, audit_dataset, build_checks, check_reusable,
                        content_fingerprint, decide_all, prepare_output_dir, resolved_config, run_all,
                        validate_current, writing)
from ..records import Dataset
from .grouping import partner_column, regroup, resolve_kept_instead
from .recipe import DEFAULT_DROP, NOT_SELECTED, Recipe, load_recipe, parse_recipe, recipe_yaml
from .select import candidates, cluster_labels, cover_clusters, coverage, lexical_embeddings, select

#: columns curate adds to audit.parquet (stripped again when such a file is reused with --audit)
#: prefix of the audit's own values that curate replaced (flags, partner columns), kept beside them
AUDIT_PREFIX = "audit_"
CURATE_COLUMNS = ("audit_flags", "quality", "signals", "decision", "reasons", "kept_instead", "cluster", "map_x",
                  "map_y")
CHECKPOINT_DIR = ".finesift-checkpoint"
_OUTPUT_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
#: files curate writes into its output folder (summary.json, the completion marker, last)
CURATE_FILES = (*(f"{name}{suffix}" for name in ("kept", "rejected") for suffix in _OUTPUT_SUFFIXES),
                "audit.parquet", "skipped.jsonl", "recipe.yaml", SUMMARY)


@dataclass
class CurateResult:
    """What a curate run decided; the same facts as the files in ``outdir``."""

    #: the output folder: a Path, or the URI string it was uploaded to
    outdir: Path | str
    kept_rows: np.ndarray
    rejected_rows: np.ndarray
    reasons: dict[int, list[str]]
    audit: pa.Table
    summary: dict[str, Any]
    recipe: Recipe
    dataset: Dataset
    files: dict[str, Path | str] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return len(self.kept_rows)

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)


class _Stages:
    """Seconds per stage, and the progress sink."""

    def __init__(self, progress):
        self.progress = progress or NullProgress()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str, total: int | None = None) -> Iterator[Any]:
        t0 = time.perf_counter()
        with self.progress.stage(name, total) as advance:
            yield advance
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 4)


def curate(data: str | Path, out: str | Path, recipe: Recipe | dict | str | Path | None = None, *,
           target: int | None = None, keep_fraction: float | None = None, seed: int | None = None,
           audit_dir: str | Path | None = None, current: str | None = None, reference: str | Path | None = None,
           eval_data: str | Path | None = None, model: str | None = None, device: str | None = None,
           no_models: bool = False, batch_size: int | None = None, threads: int | None = None, field_map: dict[str, str] | None = None,
           fmt: str | None = None, on_error: str = "raise", progress=None, report: bool = False) -> CurateResult:
    """Curate ``data`` into ``out``; return what was kept and rejected, and why.

    ``recipe``: a :class:`Recipe`, a dict of its fields, a YAML path, or None (defaults).
    ``target``/``keep_fraction`` replace the recipe's size; ``seed``, ``model`` and ``device``
    replace its fields. ``audit_dir``: a folder with an ``audit.parquet`` of this same data
    to reuse. ``current``/``reference`` turn on ``stale``, ``eval_data`` turns on ``leakage``.
    ``no_models``: no embedding or LM checks (lexical features drive the selection).
    ``threads``: audit checks scored at once (:attr:`AuditConfig.threads`; the kept set does not depend on it).
    ``report``: also write ``report.html`` (before the folder is uploaded, for a URI ``out``).
    ``data``, ``out`` and ``audit_dir`` may be URIs of any filesystem pyarrow supports: a URI
    ``out`` is written to a local temporary folder and uploaded when complete, ``summary.json`` last.
    """
    from ..api import require_device

    t_start = time.perf_counter()
    stages = _Stages(progress)
    rec = _resolve_recipe(recipe, target, keep_fraction, seed, model, device)
    rec.validate_codes(set(registry()) | set(DEFAULT_DROP))
    # every option is checked before the output folder is touched or any data read
    config = rec.audit_config(current=current, reference=_str(reference), eval_data=_str(eval_data),
                              batch_size=batch_size, no_models=no_models, threads=threads)
    lm_check, lm_budget = _lm_plan(rec, config, no_models)
    if lm_check is not None and "lm" in config.with_models:
        # the LM scores the candidate pool below, not every row in the audit
        config = config.model_copy(update={"with_models": [g for g in config.with_models if g != "lm"]})
    build_checks(config)
    require_device(config.device)
    if is_uri(out):
        # staged: this same function writes a local folder, uploaded (summary.json last) once complete
        with output_folder(out, (*CURATE_FILES, REPORT_FILE), AUDIT_STALE) as local:
            result = curate(data, local, rec, audit_dir=audit_dir, current=current, reference=reference,
                            eval_data=eval_data, no_models=no_models, batch_size=batch_size, threads=threads, field_map=field_map,
                            fmt=fmt, on_error=on_error, progress=progress, report=report)
        result.outdir = out
        result.files = {k: join(out, Path(v).name) for k, v in result.files.items()}
        return result
    # from here on the folder reads as unfinished: summary.json and skipped.jsonl are gone
    outdir = prepare_output_dir(out, CURATE_FILES)
    _clean_checkpoint_temps(outdir)

    with stages("read"):
        from ..io import read

        dataset = read(str(data), fmt=fmt, field_map=field_map, on_error=on_error)
    n = len(dataset)
    # `row` is the input position; records skipped with --on-error skip leave gaps. Curate works on
    # table positions 0..n-1 inside and speaks `row` values in everything it writes or returns.
    rowvals = np.asarray(dataset.table["row"].to_numpy(zero_copy_only=False), dtype=np.int64)
    gapped = not np.array_equal(rowvals, np.arange(n))
    validate_current(dataset, config)
    fingerprint = content_fingerprint(dataset.table)

    with stages("audit", n):
        # the selection's embeddings come out of the audit's batches (one embedding pass for checks and curate)
        extra = ("embedding",) if rec.embedding_backend(no_models) is not None else ()
        audit, audit_info, keys = _audit_stage(dataset, config, outdir, audit_dir, fingerprint, fmt, field_map,
                                               on_error, stages.progress, extra)
    positional = _relations(audit, lambda v: np.searchsorted(rowvals, v)) if gapped else audit
    with stages("quality", n):
        quality = _quality(audit, rec)
    with stages("grouping", n):
        # the audit's own per-row keys (hashes of the normalized text), not a second normalization
        groups = regroup(positional, quality, rec.drop, rec.conflict_policy,
                         answer_key=keys["answer_hash"].to_numpy(), content_key=keys["content_hash"].to_numpy(),
                         faults=keys["format_faults"].to_numpy())
    drop = set(rec.drop)
    reasons = [[c for c in f if c in drop] for f in groups.flags]
    pool_mask = np.array([not r for r in reasons], dtype=bool)
    pool = np.flatnonzero(pool_mask)
    k = rec.target_rows(n)
    with stages("signals", len(pool)):
        # evidence short of a dropping flag ranks a row below spotless ones (only worth it when rows are cut)
        signals = _signals(positional, groups.flags, pool, dataset, config, rec, keys["answer_hash"].to_numpy()) \
            if k is not None and k < len(pool) else [[] for _ in range(n)]
    lm_info: dict[str, Any] | None = None
    if lm_check is not None:
        audit, quality, lm_info = _lm_stage(dataset, audit, quality, pool, lm_check, lm_budget, config, rec, stages,
                                            np.array([len(s) for s in signals], dtype=np.int64))
        if gapped:
            positional = _relations(audit, lambda v: np.searchsorted(rowvals, v))
        else:
            positional = audit
        flagged = np.asarray(lm_check.decide(audit.select(list(lm_check.score_columns))), dtype=bool)
        for r in np.flatnonzero(flagged):
            if lm_check.name not in groups.flags[r]:
                groups.flags[r] = [*groups.flags[r], lm_check.name]
                if lm_check.name in drop:
                    reasons[r] = [*reasons[r], lm_check.name]
                elif lm_check.name not in signals[r]:
                    signals[r] = [*signals[r], lm_check.name]
        pool_mask = np.array([not r for r in reasons], dtype=bool)
        pool = np.flatnonzero(pool_mask)

    with stages("embeddings", n):
        emb = _embeddings(dataset, config, keys)
    with stages("clusters", len(pool)):
        labels = _cluster(emb, pool, rec)
    kept_mask = pool_mask.copy()
    sel_seconds = 0.0
    floor_swaps = 0
    n_candidates = int(len(pool))
    if k is not None and k < len(pool):
        with stages("selection", len(pool)):
            t0 = time.perf_counter()
            # a much larger pool than the target: pick among the rows nothing was found against, best first
            cand = (candidates(np.array([len(signals[r]) for r in pool], dtype=np.int64), quality[pool], k,
                               rec.selection.headroom) if rec.selection.headroom > 0 else np.arange(len(pool)))
            n_candidates = int(len(cand))
            sub = pool[cand]
            picked = select(emb[sub], quality[sub], k, method=rec.selection.method, seed=rec.seed,
                            quality_exponent=rec.selection.quality_exponent,
                            demand_sample=rec.selection.demand_sample, neighbors=rec.selection.neighbors,
                            min_distance=rec.selection.min_distance)
            if rec.selection.cover_clusters:
                # clusters are filled from the candidates only: an empty cluster is no reason to take an outlier
                picked, floor_swaps = cover_clusters(picked, labels[sub], quality[sub])
            picked = cand[picked]
            sel_seconds = time.perf_counter() - t0
        kept_mask[:] = False
        kept_mask[pool[picked]] = True
        for r in pool[~kept_mask[pool]]:
            reasons[r] = [NOT_SELECTED]
    with stages("diversity", n):
        cover, diversity = _diversity(emb, pool, kept_mask, labels, dataset)

    duplicate_of = groups.duplicate_of()
    kept_instead = resolve_kept_instead(duplicate_of, kept_mask)
    kept_pos = np.flatnonzero(kept_mask)
    rejected_pos = np.flatnonzero(~kept_mask)
    out_audit = _final_audit(positional, groups, quality, kept_mask, reasons, duplicate_of, kept_instead, labels,
                             signals)
    # a 2-D map of the embeddings for the report (cheap: a PCA fitted on a sample)
    from ..report import project_2d

    xy = project_2d(emb, seed=rec.seed)
    out_audit = _set(_set(out_audit, "map_x", pa.array(xy[:, 0], pa.float32())), "map_y", pa.array(xy[:, 1], pa.float32()))
    if gapped:  # back to `row` values for everything written or returned
        out_audit = _relations(out_audit, lambda p: rowvals[p])
        duplicate_of = np.where(duplicate_of >= 0, rowvals[np.maximum(duplicate_of, 0)], -1)
        kept_instead = np.where(kept_instead >= 0, rowvals[np.maximum(kept_instead, 0)], -1)
    kept_rows, rejected_rows = rowvals[kept_pos], rowvals[rejected_pos]

    with stages("write", n):
        files = _write_outputs(dataset, outdir, out_audit, kept_pos, rejected_pos, rowvals, reasons, quality,
                               duplicate_of, kept_instead, rec, signals)
    summary = _summary(dataset, rec, config, audit_info, groups, reasons, kept_mask, pool, k, quality,
                       cover, diversity, stages.seconds, sel_seconds, files, t_start)
    summary["selection"]["cluster_floor_swaps"] = floor_swaps
    summary["selection"]["candidates"] = n_candidates
    summary["selection"]["signals"] = _signal_counts(signals, pool, kept_mask)
    summary["lm"] = lm_info
    summary["dataset"]["fingerprint"] = fingerprint
    # last: its presence marks the folder complete
    with writing(outdir / SUMMARY), atomic_open(outdir / SUMMARY, "wb") as fh:
        fh.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    shutil.rmtree(outdir / CHECKPOINT_DIR, ignore_errors=True)
    if report:
        from ..report import write_report

        write_report(outdir, dataset=dataset)
    return CurateResult(outdir=outdir, kept_rows=kept_rows, rejected_rows=rejected_rows,
                        reasons={int(rowvals[p]): reasons[p] for p in rejected_pos}, audit=out_audit, summary=summary,
                        recipe=rec, dataset=dataset, files=files)


# --- recipe ---------------------------------------------------------------------------------------

def _resolve_recipe(recipe, target, keep_fraction, seed, model, device) -> Recipe:
    if recipe is None or isinstance(recipe, (str, Path)):
        rec = load_recipe(recipe)
    elif isinstance(recipe, dict):
        rec = parse_recipe(recipe)
    elif isinstance(recipe, Recipe):
        rec = recipe
    else:
        raise ConfigError(f"recipe must be a Recipe, a dict or a YAML path, not {type(recipe).__name__}")
    rec = rec.with_size(target, keep_fraction)
    models = {k: v for k, v in (("model", model), ("device", device)) if v is not None}
    update: dict[str, Any] = {}
    if models:
        update["models"] = rec.models.model_copy(update=models)
    if seed is not None:
        update["seed"] = int(seed)
    return rec.model_copy(update=update) if update else rec


def _str(v) -> str | None:
    return None if v is None else str(v)


# --- audit stage ----------------------------------------------------------------------------------

def _audit_stage(dataset: Dataset, config: AuditConfig, outdir: Path, audit_dir, fingerprint: str,
                 fmt, field_map, on_error, progress, extra: tuple[str, ...]) -> tuple[pa.Table, dict[str, Any], pa.Table]:
    """The audit table, what curate's summary says of it, and the per-row features curate reads
    (:data:`~finesift.pipeline.AUDIT_FEATURES` and ``extra``): from the audit run, else computed once here."""
    if audit_dir is not None and is_uri(audit_dir):
        folder = str(audit_dir).rstrip("/")
        if folder.endswith("/audit.parquet"):
            folder = folder[: -len("/audit.parquet")]
        with local_copy(folder, ("audit.parquet", SUMMARY)) as local:
            table, info = _reuse_audit(local, dataset, config, progress, fingerprint, shown=folder)
        return table, info, _keys(dataset, config, extra)
    if audit_dir is not None:
        table, info = _reuse_audit(Path(audit_dir), dataset, config, progress, fingerprint)
        return table, info, _keys(dataset, config, extra)
    key = _checkpoint_key(fingerprint, fmt, field_map, on_error, config)
    cached = _load_checkpoint(outdir, key, dataset)
    if cached is not None:
        table = _strip(cached)
        flags, duplicate_of, counts = decide_all(table, build_checks(config))
        table = _set(_set(table, "flags", flags), "duplicate_of", duplicate_of)
        return table, {"source": "checkpoint", "counts": counts}, _keys(dataset, config, extra)
    result = audit_dataset(dataset, config, progress=progress, fingerprint=fingerprint, keep_features=extra)
    _save_checkpoint(outdir, key, result.table)
    return result.table, {"source": "run", "counts": result.summary["counts"], "facts": result.summary["facts"],
                          "seconds": result.summary["seconds"], "stats": result.summary["stats"]}, result.features


def _keys(dataset: Dataset, config: AuditConfig, extra: tuple[str, ...]) -> pa.Table:
    """The features of an audit that did not run here (a checkpoint, ``--audit DIR``), batch by batch."""
    from ..engine import run_checks

    return run_checks(dataset.table, [], config, keep_features=AUDIT_FEATURES + extra).features


def _reuse_audit(audit_dir: Path, dataset: Dataset, config: AuditConfig,
                 progress, fingerprint: str, shown: str | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """Load an audit of this same data, score the checks it lacks, re-decide with this config.

    "This same data" is the content fingerprint its summary.json records, not the path, the
    row count or the ids (rows 0..n-1 of other content would have the same ids). ``shown``: the
    URI a local copy in ``audit_dir`` was fetched from, named in messages and the summary instead.
    """
    path = audit_dir / "audit.parquet" if audit_dir.is_dir() else audit_dir
    name = str(path) if shown is None else join(shown, "audit.parquet")
    if not path.exists():
        raise ConfigError(f"--audit {shown or audit_dir}: no audit.parquet there "
                          "(run 'finesift audit DATA -o DIR' first)")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(name, f"cannot read the audit table: {exc}") from exc
    n = len(dataset)
    if table.num_rows != n:
        raise InputError(name, f"the audit has {table.num_rows} rows but {dataset.source} has {n}: "
                         "it was made from different data (re-run the audit, or drop --audit)")
    for col in ("row", "id", "flags"):
        if col not in table.column_names:
            raise InputError(name, f"not an audit table: no '{col}' column")
    if not table["row"].equals(dataset.table["row"]) or not table["id"].equals(dataset.table["id"]):
        ids = table["id"].to_pylist()
        mine = dataset.table["id"].to_pylist()
        first = next((i for i, (a, b) in enumerate(zip(ids, mine)) if a != b), 0)
        raise InputError(name, f"row {first} has id {ids[first]!r} in the audit but {mine[first]!r} in "
                         f"{dataset.source}: the audit was made from different data", row=first)
    folder = audit_dir if audit_dir.is_dir() else audit_dir.parent
    summary = _check_fingerprint(folder, path, dataset, fingerprint, shown)
    table = _strip(table)
    checks = build_checks(config)
    previous = _previous_config(summary)
    facts = dict(summary.get("facts") or {})
    check_reusable(previous, config, checks)  # a changed scoring knob needs re-scoring: refuse, never ignore
    missing = []
    for check in checks:
        cols = list(check.score_columns) + ([check.partner_column] if check.partner_column else [])
        stale_inputs = (check.name == "stale" and (previous.get("current"), previous.get("reference"))
                        != (config.current, config.reference)) or \
                       (check.name == "leakage" and previous.get("eval_data") != config.eval_data)
        if stale_inputs or not all(c in table.column_names for c in cols):
            missing.append(check)
            table = table.drop([c for c in cols if c in table.column_names])
    if missing:
        res = run_all(dataset, missing, config, progress=progress)
        for col in res.scores.column_names:
            table = table.append_column(col, res.scores[col])
        facts.update({k: v for k, v in res.facts.items() if v})
    flags, duplicate_of, counts = decide_all(table, checks)
    table = _set(_set(table, "flags", flags), "duplicate_of", duplicate_of)
    return table, {"source": name, "scored_now": [c.name for c in missing], "counts": counts, "facts": facts}


def _check_fingerprint(folder: Path, path: Path, dataset: Dataset, fingerprint: str,
                       shown: str | None = None) -> dict[str, Any]:
    """The reused audit's summary.json (read once), after checking it was made from this very content."""
    name = str(path) if shown is None else join(shown, "audit.parquet")
    marker = str(folder / SUMMARY) if shown is None else join(shown, SUMMARY)
    try:
        summary = orjson.loads((folder / SUMMARY).read_bytes())
    except FileNotFoundError:
        raise InputError(name, f"no {SUMMARY} beside it: that audit is unfinished or was interrupted "
                         "(re-run 'finesift audit DATA -o DIR', or drop --audit)") from None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(marker, f"cannot read the audit's summary: {exc}") from None
    recorded = (summary.get("dataset") or {}).get("fingerprint") if isinstance(summary, dict) else None
    if recorded is None:
        raise InputError(name, "the audit records no content fingerprint (made by an older finesift), so it "
                         "cannot be matched to this data: re-run 'finesift audit', or drop --audit")
    if recorded != fingerprint:
        raise InputError(name, f"the audit was made from different content than {dataset.source} "
                         f"(fingerprint {recorded} vs {fingerprint}), though rows and ids match: re-run the audit "
                         "on this data, or drop --audit")
    return summary


def _previous_config(summary: dict[str, Any]) -> dict[str, Any]:
    cfg = summary.get("config", {})
    return cfg.get("audit", cfg) if isinstance(cfg, dict) else {}


def _strip(table: pa.Table) -> pa.Table:
    """The plain audit inside a curate folder's audit.parquet: curate's columns dropped, and the flags and
    partner columns the checks gave (kept as ``audit_<column>`` where curate regrouped them) put back, so
    re-deciding from a curate folder gives what re-deciding from the audit would."""
    for col in [c for c in table.column_names if c.startswith(AUDIT_PREFIX)]:
        table = _set(table.drop([col]), col[len(AUDIT_PREFIX):], table[col])
    return table.drop([c for c in CURATE_COLUMNS if c in table.column_names])


def _set(table: pa.Table, name: str, col) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.schema.get_field_index(name), name, col)
    return table.append_column(name, col)


def _file_stamp(path: str | Path | None) -> list[Any] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return [str(path)]
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def _checkpoint_key(fingerprint: str, fmt, field_map, on_error, config: AuditConfig) -> dict[str, Any]:
    # the input's content, not its path: stdin ("-") or an edited file with the same ids is other data
    return {"finesift": __version__, "content": fingerprint, "fmt": fmt, "field_map": field_map,
            "on_error": on_error, "config": config.model_dump(), "reference": _file_stamp(config.reference),
            "eval": _file_stamp(config.eval_data)}


def _load_checkpoint(outdir: Path, key: dict[str, Any], dataset: Dataset) -> pa.Table | None:
    folder = outdir / CHECKPOINT_DIR
    try:
        if orjson.loads((folder / "key.json").read_bytes()) != orjson.loads(orjson.dumps(key)):
            return None
        table = pq.read_table(folder / "audit.parquet")
    except Exception:  # missing, partial or from another version: just re-run the audit
        return None
    if table.num_rows != len(dataset) or not table["id"].equals(dataset.table["id"]):
        return None
    return table


def _save_checkpoint(outdir: Path, key: dict[str, Any], table: pa.Table) -> None:
    folder = outdir / CHECKPOINT_DIR
    with writing(folder / "audit.parquet"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "key.json").unlink(missing_ok=True)  # the key goes last: it vouches for the table
        with atomic_path(folder / "audit.parquet") as tmp:
            pq.write_table(table, tmp)
        with atomic_open(folder / "key.json", "wb") as fh:
            fh.write(orjson.dumps(key))


def _clean_checkpoint_temps(outdir: Path) -> None:
    """Delete the temporary files a run killed while checkpointing left (finesift's own names only)."""
    folder = outdir / CHECKPOINT_DIR
    if not folder.is_dir():
        return
    pattern = _temp_pattern(("audit.parquet", "key.json"))
    for entry in folder.iterdir():
        if entry.is_file() and pattern.fullmatch(entry.name):
            entry.unlink(missing_ok=True)


# --- scores ---------------------------------------------------------------------------------------

def _lm_plan(rec: Recipe, config: AuditConfig, no_models: bool):
    """``(the lm_quality check, row budget or None)`` when curate scores the LM on its pool, else ``(None, None)``.

    ``models.lm`` auto (the default) scores at most ``lm_quality.curate_rows`` pool rows on any device
    (affordable on a CPU); true scores the whole pool; false, ``--no-models`` or a recipe that lists
    ``lm_quality`` in ``checks`` (the audit then scores every row itself) leave this stage out.
    """
    if no_models or rec.models.lm is False or "lm_quality" in config.checks:
        return None, None
    check = registry()["lm_quality"](config.params.get("lm_quality"))
    if rec.models.lm == "auto":
        budget = check.params.curate_rows
        if budget == 0:
            return None, None
        return check, budget
    return check, None


def _lm_stage(dataset: Dataset, audit: pa.Table, quality: np.ndarray, pool: np.ndarray, check, budget: int | None,
              config: AuditConfig, rec: Recipe, stages: "_Stages",
              n_signals: np.ndarray | None = None) -> tuple[pa.Table, np.ndarray, dict[str, Any]]:
    """Score the LM on the pool rows curate selects from (the best ``budget`` by the other signals), add its
    columns to the audit table and recompute the quality score; rows left out keep a neutral LM share."""
    cols = list(check.score_columns)
    have = all(c in audit.column_names for c in cols)
    if have:  # a reused audit (--audit DIR) scored every row already: the quality stage ranked them all
        scored = int((~np.isnan(_float_col(audit[cols[-1]]))).sum())
        return audit, quality, {"source": "audit", "scored_rows": scored, "budget": budget, "pool": int(len(pool))}
    # best first by the other signals (fewest soft signals, then quality), ties by position: the rows the
    # selection is likeliest to keep
    n_sig = np.zeros(len(quality), dtype=np.int64) if n_signals is None else n_signals
    order = pool[np.lexsort((pool, -quality[pool], n_sig[pool]))]
    picked = np.sort(order if budget is None else order[:budget])
    n = audit.num_rows
    values = {c: np.full(n, np.nan, dtype=np.float32) for c in cols}
    t0 = time.perf_counter()
    sub = dataset.table.take(pa.array(picked, pa.int64()))
    check.bind(config)
    step = check.batch_rows or len(picked) or 1
    with stages(check.name, len(picked)) as advance:
        for s in range(0, len(picked), step):
            part = check.score(sub.slice(s, step))
            for c in cols:
                values[c][picked[s:s + step]] = _float_col(part[c])
            advance(min(step, len(picked) - s))
    seconds = time.perf_counter() - t0
    for c in cols:
        audit = _set(audit, c, pa.array(values[c], mask=np.isnan(values[c]), type=pa.float32()))
    lm_rows = np.zeros(n, dtype=bool)
    lm_rows[picked] = True
    from ..models.loading import resolve_device

    info = {"source": "pool", "scored_rows": int(len(picked)), "budget": budget, "pool": int(len(pool)),
            "device": resolve_device(config.device), "seconds": round(seconds, 3),
            "rows_per_s": round(len(picked) / seconds, 2) if seconds > 0 and len(picked) else None}
    return audit, _quality(audit, rec, lm_rows), info


def _signals(audit: pa.Table, flags: list[list[str]], pool: np.ndarray, dataset: Dataset, config: AuditConfig,
             rec: Recipe, answer_key: np.ndarray | None = None) -> list[list[str]]:
    """Per row, the soft signals against it (:func:`~finesift.curate.quality.soft_signals`); pool rows only
    (the others are rejected already), with the regrouped flags and the audit's thresholds."""
    from .quality import soft_signals
    from .recipe import CONFLICT_CODE, DEDUP_CODES

    n = audit.num_rows
    out: list[list[str]] = [[] for _ in range(n)]
    if not len(pool):
        return out
    reg = registry()
    thresholds = {}
    for code, cls in reg.items():
        if cls.threshold is not None:
            try:
                thresholds[code] = getattr(cls(config.params.get(code)).params, cls.threshold.param)
            except Exception:  # a check whose params cannot be built here simply gives no near-threshold signal
                continue
    idx = pa.array(pool, pa.int64())
    sub = _set(audit.take(idx), "flags", pa.array([flags[r] for r in pool], type=pa.list_(pa.string())))
    prompts = dataset.table["prompt"].take(idx).to_pylist()
    answers = dataset.table["output"].take(idx).to_pylist()
    skip = set(rec.drop) | set(DEDUP_CODES) | {CONFLICT_CODE}
    keys = None if answer_key is None else np.asarray(answer_key)[pool]
    for r, sig in zip(pool.tolist(), soft_signals(sub, thresholds, prompts, answers, skip, seed=rec.seed,
                                                  answer_key=keys)):
        out[r] = sig
    return out


def _signal_counts(signals: list[list[str]], pool: np.ndarray, kept_mask: np.ndarray) -> dict[str, Any]:
    """Pool and kept rows per soft signal, and how many had none."""
    by: dict[str, list[int]] = {}
    clean = [0, 0]
    for r in pool.tolist():
        if not signals[r]:
            clean[0] += 1
            clean[1] += int(kept_mask[r])
        for s in signals[r]:
            by.setdefault(s, [0, 0])
            by[s][0] += 1
            by[s][1] += int(kept_mask[r])
    return {"none": {"pool": clean[0], "kept": clean[1]},
            **{s: {"pool": v[0], "kept": v[1]} for s, v in sorted(by.items())}}


def _float_col(col) -> np.ndarray:
    return np.asarray(pc.fill_null(col, np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


def _quality(audit: pa.Table, rec: Recipe, lm_rows: np.ndarray | None = None) -> np.ndarray:
    from .quality import quality_score

    kwargs: dict[str, Any] = {}
    if lm_rows is not None:
        kwargs["lm_rows"] = lm_rows
    if rec.quality_weights is not None:
        if "weights" not in inspect.signature(quality_score).parameters:
            raise ConfigError("recipe quality_weights: this finesift's quality score takes no weights")
        kwargs["weights"] = rec.quality_weights
    q = np.asarray(quality_score(audit, **kwargs), dtype=np.float64)
    if q.shape != (audit.num_rows,):
        raise RuntimeError(f"quality_score returned shape {q.shape} for {audit.num_rows} rows")
    return np.nan_to_num(q, nan=0.0)


def _embeddings(dataset: Dataset, config: AuditConfig, features: pa.Table) -> np.ndarray:
    if "embedding" in features.column_names:  # the recipe's backend (config.embeddings), from the audit
        from ..models.embeddings import embedding_matrix

        return np.asarray(embedding_matrix(features["embedding"]), dtype=np.float32)
    texts = pc.binary_join_element_wise(pc.fill_null(dataset.table["prompt"], ""),
                                        pc.fill_null(dataset.table["output"], ""), "\n").to_pylist()
    return lexical_embeddings(texts, seed=config.seed)


def _cluster(emb: np.ndarray, pool: np.ndarray, rec: Recipe) -> np.ndarray:
    """KMeans clusters of the candidate pool; every row (pool or not) labelled by its nearest centroid."""
    n = len(emb)
    if not len(pool):
        return np.full(n, -1, dtype=np.int64)
    _, centroids = cluster_labels(emb[pool], rec.selection.clusters, rec.seed)
    return np.argmax(emb @ centroids.T, axis=1).astype(np.int64)


def _diversity(emb: np.ndarray, pool: np.ndarray, kept_mask: np.ndarray, labels: np.ndarray, dataset: Dataset):
    """Per-cluster coverage of the pool, and diversity figures for raw, pool and kept rows."""
    if not len(pool):
        return [], {}
    prompts = dataset.table["prompt"].to_pylist()
    examples = [_clip(prompts[r]) for r in pool]
    cover = coverage(labels[pool], kept_mask[pool], examples)
    from .quality import diversity_figures

    kept = np.flatnonzero(kept_mask)
    diversity = {"raw": diversity_figures(emb, labels), "pool": diversity_figures(emb[pool], labels[pool]),
                 "kept": diversity_figures(emb[kept], labels[kept])}
    return cover, diversity


def _clip(s: str | None, n: int = 100) -> str:
    s = s or ""
    return s if len(s) <= n else s[: n - 1] + "…"


# --- outputs ------------------------------------------------------------------------------------

def _final_audit(audit: pa.Table, groups, quality, kept_mask, reasons, duplicate_of, kept_instead,
                 labels, signals) -> pa.Table:
    """The audit table curate decided from: regrouped flags and partners, plus its decision per row."""
    t = audit
    if "flags" in t.column_names:
        t = _set(t, "audit_flags", t["flags"])
    t = _set(t, "flags", pa.array(groups.flags, type=pa.list_(pa.string())))
    t = _set(t, "duplicate_of", pa.array(duplicate_of, mask=duplicate_of < 0, type=pa.int64()))
    for code, part in groups.partners.items():
        col = partner_column(code)
        if col in t.column_names or (part >= 0).any():
            if col in t.column_names:  # the check's own partner, which its decision reads: kept for --audit reuse
                t = _set(t, AUDIT_PREFIX + col, t[col])
            t = _set(t, col, pa.array(part, mask=part < 0, type=pa.int64()))
    t = _set(t, "quality", pa.array(quality, type=pa.float64()))
    t = _set(t, "signals", pa.array(signals, type=pa.list_(pa.string())))
    t = _set(t, "decision", pa.array(np.where(kept_mask, "kept", "rejected").tolist(), type=pa.string()))
    t = _set(t, "reasons", pa.array(reasons, type=pa.list_(pa.string())))
    t = _set(t, "kept_instead", pa.array(kept_instead, mask=kept_instead < 0, type=pa.int64()))
    t = _set(t, "cluster", pa.array(labels, mask=labels < 0, type=pa.int64()))
    return t


def _relations(table: pa.Table, convert) -> pa.Table:
    """``table`` with every column that names another row of this dataset passed through ``convert``.

    (``leakage_of`` names a row of the evaluation file, so it is left alone.)
    """
    cols = {"duplicate_of", "conflict_group", "kept_instead"}
    cols |= {cls.partner_column for name, cls in registry().items() if cls.partner_column and name != "leakage"}
    cols |= {AUDIT_PREFIX + c for c in cols}
    for col in sorted(cols & set(table.column_names)):
        arr = table[col].combine_chunks() if isinstance(table[col], pa.ChunkedArray) else table[col]
        vals = np.asarray(pc.fill_null(arr.cast(pa.int64()), -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        valid = vals >= 0
        out = np.full(len(vals), -1, dtype=np.int64)
        out[valid] = convert(vals[valid])
        table = _set(table, col, pa.array(out, mask=~valid, type=pa.int64()))
    return table


def _rejected_extra(out_audit: pa.Table, rows: np.ndarray, reasons, quality, duplicate_of,
                    kept_instead, signals=None) -> dict[str, list]:
    """Per rejected row (``rows``: table positions): reasons, quality, the row kept instead, the scores behind each reason."""
    idx = pa.array(rows, type=pa.int64())
    extra: dict[str, list] = {
        "reasons": [reasons[r] for r in rows],
        "quality": [round(float(quality[r]), 6) for r in rows],
        "duplicate_of": [int(duplicate_of[r]) if duplicate_of[r] >= 0 else None for r in rows],
        "kept_instead": [int(kept_instead[r]) if kept_instead[r] >= 0 else None for r in rows],
    }
    if signals is not None and any(signals[r] for r in rows):
        # why a row cut by the target size ranked below the kept ones
        extra["signals"] = [signals[r] or None for r in rows]
    reg = registry()
    codes = sorted({c for r in rows for c in reasons[r]})
    for code in codes:
        cls = reg.get(code)
        cols = list(cls.score_columns) if cls is not None else []
        if cls is not None and cls.partner_column and cls.partner_column not in extra:
            cols.append(cls.partner_column)
        for col in cols:
            if col not in out_audit.column_names or col in extra:
                continue
            vals = out_audit[col].take(idx).to_pylist() if len(rows) else []
            # only rows rejected for this code carry its scores: the rest would be noise
            extra[col] = [_round(v) if code in reasons[r] else None for v, r in zip(vals, rows)]
    return extra


def _round(v):
    return round(v, 6) if isinstance(v, float) else v


def _write_outputs(dataset: Dataset, outdir: Path, out_audit: pa.Table, kept_pos, rejected_pos, rowvals, reasons,
                   quality, duplicate_of, kept_instead, rec: Recipe, signals=None) -> dict[str, Path]:
    """Write the outputs; ``*_pos`` are table positions, ``rowvals`` their ``row`` values."""
    from ..io import default_extension, write_records

    ext = default_extension(dataset)
    with writing(outdir):
        for name in ("kept", "rejected"):  # an earlier run on another format left kept.<other ext>
            for suffix in _OUTPUT_SUFFIXES:
                if suffix != ext:
                    (outdir / f"{name}{suffix}").unlink(missing_ok=True)
    files: dict[str, Path] = {}
    with writing(outdir / f"kept{ext}"):
        files["kept"] = Path(write_records(dataset, rowvals[kept_pos].tolist(), outdir / f"kept{ext}"))
    extra = _rejected_extra(out_audit, rejected_pos, reasons, quality, duplicate_of, kept_instead, signals)
    with writing(outdir / f"rejected{ext}"):
        files["rejected"] = Path(write_records(dataset, rowvals[rejected_pos].tolist(), outdir / f"rejected{ext}",
                                               extra=extra))
    with writing(outdir / "audit.parquet"), atomic_path(outdir / "audit.parquet") as tmp:
        pq.write_table(out_audit, tmp)
    files["audit"] = outdir / "audit.parquet"
    skipped = outdir / "skipped.jsonl"
    if dataset.errors:  # malformed records (--on-error skip) cannot be written back in the input's shape
        with writing(skipped), atomic_open(skipped, "wb") as fh:
            for err in dataset.errors:
                fh.write(orjson.dumps(err, default=str) + b"\n")
        files["skipped"] = skipped
    with writing(outdir / "recipe.yaml"), atomic_open(outdir / "recipe.yaml", "w", encoding="utf-8") as fh:
        fh.write(recipe_yaml(rec, header=f"finesift {__version__} curate recipe, as resolved for this run.\n"
                                         "Re-run with: finesift curate DATA -o OUTDIR --recipe recipe.yaml"))
    files["recipe"] = outdir / "recipe.yaml"
    return files


def _summary(dataset, rec: Recipe, config: AuditConfig, audit_info, groups, reasons, kept_mask, pool, k,
             quality, cover, diversity, seconds, sel_seconds, files, t_start) -> dict[str, Any]:
    n = len(kept_mask)
    by_reason: dict[str, int] = {}
    for r in np.flatnonzero(~kept_mask):
        for c in reasons[r]:
            by_reason[c] = by_reason.get(c, 0) + 1
    first_reason: dict[str, int] = {}
    for r in np.flatnonzero(~kept_mask):
        first_reason[reasons[r][0]] = first_reason.get(reasons[r][0], 0) + 1
    kept = int(kept_mask.sum())
    empty_clusters = [c for c in cover if c["kept"] == 0 and c["pool"] > 0]
    try:
        checks = build_checks(config)
        audit_cfg = resolved_config(config, checks)
    except Exception:  # pragma: no cover - the config was already used to audit
        audit_cfg = config.model_dump()
    seconds = dict(seconds)
    seconds["total"] = round(time.perf_counter() - t_start, 4)
    return {
        "finesift_version": __version__,
        "dataset": dataset.describe(),
        "counts": {
            "input_rows": n,
            "skipped_records": len(dataset.errors),
            "kept": kept,
            "rejected": n - kept,
            "filtered": int(n - len(pool)),
            "not_selected": int(len(pool) - kept),
            "pool": int(len(pool)),
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "rejected_by_first_reason": dict(sorted(first_reason.items())),
        },
        "files": {k2: v.name for k2, v in files.items()},
        "groups": groups.stats,
        "selection": {
            "method": rec.selection.method if k is not None and k < len(pool) else None,
            "target": k,
            "pool": int(len(pool)),
            "selected": kept,
            "seconds": round(sel_seconds, 4),
            "rows_per_s": round(len(pool) / sel_seconds, 1) if sel_seconds > 0 else None,
        },
        "coverage": {
            "clusters": cover,
            "clusters_in_pool": len(cover),
            "clusters_kept": len(cover) - len(empty_clusters),
            "clusters_dropped": [c["cluster"] for c in empty_clusters],
        },
        "diversity": diversity,
        "quality": {
            "raw_mean": _mean(quality),
            "pool_mean": _mean(quality[pool]) if len(pool) else None,
            "kept_mean": _mean(quality[kept_mask]) if kept else None,
            "rejected_mean": _mean(quality[~kept_mask]) if kept < n else None,
        },
        "audit": {**audit_info, "facts": _jsonable(audit_info.get("facts") or {})},
        "seconds": seconds,
        "config": {"recipe": rec.model_dump(), "audit": audit_cfg},
    }


def _mean(x: np.ndarray) -> float | None:
    return round(float(np.mean(x)), 6) if len(x) else None


def _jsonable(obj):
    return orjson.loads(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY, default=str))
