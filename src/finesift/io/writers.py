"""Write chosen rows back in the input's own format and shape, from the ``raw`` column.

Records come back exactly as they were read, every field (metadata and unknown ones
included) with its value: integers beyond 64 bits keep their digits; a Parquet or Hugging
Face row keeps its Arrow types and values (bytes, NaN, decimals, timestamps, the schema and
its metadata). Only annotations are added, and never over a field of the input:

* JSON/JSONL: under one key, ``_finesift``; when an input record already has that key (a
  ``rejected.jsonl`` curated again, say), under ``_finesift_1`` (then ``_finesift_2`` …): the
  first such key no input record has.
* CSV/TSV/Parquet: as ``finesift_<name>`` columns (JSON-encoded when not scalar); when an
  input column already starts with ``finesift_``, as ``finesift_1_<name>`` (then
  ``finesift_2_`` …): the first prefix no input column starts with.

:func:`annotation_key` says which key or prefix a dataset's annotations get.

Stdin input is written as JSONL; a Hugging Face folder as Parquet (its Arrow types and
``datasets`` features kept: ``datasets.Dataset.from_parquet`` reads it back), since JSON
cannot hold bytes, NaN or timestamps. A JSON input that held its records under a key
(``{"data": [...]}``) is written with that key; its other top-level fields are not kept.
CSV/TSV are written as UTF-8 whatever the input's encoding: CSV with RFC 4180 quoting and
CRLF line ends, TSV unquoted with ``\\n``. Rows written in another format than the input's
(``fmt``) keep what that format can hold: a Parquet row written as JSON has its bytes as text
(base64 when not UTF-8), NaN as null, decimals and timestamps as text.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..records import Dataset
from .atomic import atomic_open, atomic_path
from .formats import options_of
from .jsonutil import decode_raw, dumps

#: Formats ``write_records`` writes, and their extensions.
EXTENSIONS = {"jsonl": ".jsonl", "json": ".json", "csv": ".csv", "tsv": ".tsv", "parquet": ".parquet"}
#: Key (JSON) and column prefix (tables) of annotation columns.
EXTRA_KEY = "_finesift"
EXTRA_PREFIX = "finesift_"


def output_format(dataset: Dataset, fmt: str | None = None) -> str:
    """The format rows of ``dataset`` are written in: ``fmt``, else the input's (stdin: JSONL, HF folders: Parquet)."""
    f = (fmt or dataset.format or "jsonl").lower().lstrip(".")
    f = {"ndjson": "jsonl", "pq": "parquet", "hf": "parquet"}.get(f, f)
    if f not in EXTENSIONS:
        raise ConfigError(f"cannot write format '{f}'; formats are: {', '.join(EXTENSIONS)}")
    return f


def default_extension(dataset: Dataset) -> str:
    """Extension for files of rows from ``dataset`` (``kept.<ext>``): ".jsonl", ".json", ".csv", ".tsv", ".parquet"."""
    return EXTENSIONS[output_format(dataset)]


def write_records(dataset: Dataset, rows: Sequence[int] | np.ndarray, path: str | Path, *,
                  extra: dict[str, Sequence[Any]] | None = None, fmt: str | None = None) -> Path:
    """Write the records whose ``row`` is in ``rows`` (in that order) to ``path``, atomically.

    ``extra`` maps annotation names to one value per written row (``{"flags": [...]}``); they
    go under :func:`annotation_key` (see the module docstring). Returns ``path``.
    """
    path = Path(path)
    f = output_format(dataset, fmt)
    idx = _positions(dataset, rows)
    extras = _extras(extra, len(idx))
    raws = dataset.table["raw"].take(pa.array(idx, pa.int64())).to_pylist() if len(idx) else []
    options = options_of(dataset.table)
    key = annotation_key(dataset, f) if extras else ""
    if f == "jsonl":
        _write_jsonl(path, raws, extras, key)
    elif f == "json":
        _write_json(path, raws, extras, key, options.get("json_key") if dataset.format == "json" else None)
    elif f in ("csv", "tsv"):
        _write_csv(path, raws, extras, key, f, options.get("columns") if dataset.format == f else None)
    else:
        _write_parquet(path, raws, extras, key, options.get("arrow_schema"))
    return path


def annotation_key(dataset: Dataset, fmt: str | None = None) -> str:
    """Where annotations of rows of ``dataset`` written as ``fmt`` go: the JSON key (``_finesift``,
    else ``_finesift_1`` …) or the column prefix (``finesift_``, else ``finesift_1_`` …) that
    collides with no field of the input."""
    nested = output_format(dataset, fmt) in ("jsonl", "json")
    names = _input_fields(dataset, EXTRA_KEY if nested else EXTRA_PREFIX)
    k = 0
    while True:
        if nested:
            cand = EXTRA_KEY if k == 0 else f"{EXTRA_KEY}_{k}"
            if cand not in names:
                return cand
        else:
            cand = EXTRA_PREFIX if k == 0 else f"{EXTRA_PREFIX}{k}_"
            if not any(n.startswith(cand) for n in names):
                return cand
        k += 1


def _input_fields(dataset: Dataset, start: str) -> set[str]:
    """The input's top-level field names that start with ``start`` (all records looked at)."""
    options = options_of(dataset.table)
    if options.get("arrow_schema") is not None:
        return {n for n in options["arrow_schema"].names if n.startswith(start)}
    if options.get("columns") is not None and dataset.format in ("csv", "tsv"):
        return {n for n in options["columns"] if n.startswith(start)}
    # JSON records: the few whose text holds the name at all are decoded
    raw = dataset.table["raw"]
    hits = pc.match_substring(raw, '"' + start)
    names: set[str] = set()
    for data in pc.filter(raw, hits).to_pylist():
        names.update(k for k in decode_raw(data) if k.startswith(start))
    return names


# --------------------------------------------------------------------------- helpers


def _positions(dataset: Dataset, rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """Table positions of the given ``row`` values (they are positions when rows are 0..n-1)."""
    want = np.asarray(rows, dtype=np.int64).reshape(-1) if len(rows) else np.zeros(0, dtype=np.int64)
    have = dataset.table["row"].to_numpy()
    n = len(have)
    if n and have[0] == 0 and have[-1] == n - 1 and np.array_equal(have, np.arange(n)):
        bad = want[(want < 0) | (want >= n)]
        pos = want
    else:
        order = np.argsort(have, kind="stable")
        pos = order[np.clip(np.searchsorted(have[order], want), 0, max(n - 1, 0))] if n else want
        bad = want[have[pos] != want] if n else want
    if len(bad):
        raise ValueError(f"row {int(bad[0])} is not in the dataset ({n} rows)")
    return pos


def _extras(extra: dict[str, Sequence[Any]] | None, n: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, values in (extra or {}).items():
        vals = values.tolist() if isinstance(values, np.ndarray) else list(values)
        if len(vals) != n:
            raise ValueError(f"extra '{name}' has {len(vals)} values for {n} rows")
        out[name] = vals
    return out


def _records(raws: list[bytes], extras: dict[str, list[Any]], key: str, *, nested: bool) -> list[dict[str, Any]]:
    recs = [decode_raw(r) for r in raws]
    if not extras:
        return recs
    if nested:
        for i, rec in enumerate(recs):
            rec[key] = {name: vals[i] for name, vals in extras.items()}
    else:
        for name, vals in extras.items():
            col = key + name
            for rec, v in zip(recs, vals):
                rec[col] = v
    return recs


def _write_jsonl(path: Path, raws: list[bytes], extras: dict[str, list[Any]], key: str) -> None:
    with atomic_open(path, "wb") as fh:
        if not extras and all(r[:1] == b"{" for r in raws):  # JSON raw is already one line per record
            fh.writelines(r + b"\n" for r in raws)
            return
        for rec in _records(raws, extras, key, nested=True):
            fh.write(dumps(rec) + b"\n")


def _write_json(path: Path, raws: list[bytes], extras: dict[str, list[Any]], key: str, json_key: str | None) -> None:
    recs = _records(raws, extras, key, nested=True)
    doc: Any = {json_key: recs} if json_key else recs
    with atomic_open(path, "wb") as fh:
        fh.write(dumps(doc, indent=True))
        fh.write(b"\n")


def _cell(value: Any) -> str:
    """A table cell: text as is, null empty, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return dumps(value).decode()


def _columns(recs: list[dict[str, Any]], first: list[str] | None) -> list[str]:
    cols = dict.fromkeys(first or ())
    for rec in recs:
        for k in rec:
            if k not in cols:
                cols[k] = None
    return list(cols)


def _write_csv(path: Path, raws: list[bytes], extras: dict[str, list[Any]], key: str, fmt: str,
               header: list[str] | None) -> None:
    recs = _records(raws, extras, key, nested=False)
    cols = _columns(recs, header)
    if fmt == "tsv":
        for i, rec in enumerate(recs):
            for k, v in rec.items():
                text = _cell(v)
                if "\t" in text or "\n" in text or "\r" in text:
                    raise ConfigError(f"cannot write {path} as TSV: field '{k}' of written row {i} holds a tab or "
                                      f"line break, which TSV cannot represent; write CSV or JSONL instead")
        kwargs: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "quotechar": None,
                                  "escapechar": None, "lineterminator": "\n"}
    else:
        # RFC 4180 line ends: the csv module quotes a field only for the characters of the
        # line terminator, so with "\n" a bare "\r" in a value would split the record
        kwargs = {"delimiter": ",", "lineterminator": "\r\n"}
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, **kwargs)
        w.writerow(cols)
        w.writerows([_cell(rec.get(c)) for c in cols] for rec in recs)


def _write_parquet(path: Path, raws: list[bytes], extras: dict[str, list[Any]], key: str,
                   schema: pa.Schema | None) -> None:
    recs = [decode_raw(r) for r in raws]
    cols = _columns(recs, schema.names if schema is not None else None)
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    for c in cols:
        want = schema.field(c) if schema is not None and c in schema.names else None
        arr = _arrow_column([rec.get(c) for rec in recs], want.type if want is not None else None)
        # the input's field (type, nullability, field metadata) when the values kept its type
        fields.append(want if want is not None and arr.type == want.type and (want.nullable or not arr.null_count)
                      else pa.field(c, arr.type))
        arrays.append(arr)
    for name, vals in extras.items():
        scalar = all(v is None or isinstance(v, (str, int, float, bool)) for v in vals)
        arr = _arrow_column(vals if scalar else [None if v is None else dumps(v).decode() for v in vals], None)
        fields.append(pa.field(key + name, arr.type))
        arrays.append(arr)
    # the input schema's metadata (pandas index, datasets features) goes back with its columns
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=schema.metadata if schema else None))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _arrow_column(values: list[Any], want: pa.DataType | None) -> pa.Array:
    """Values as an Arrow array: the input's type where they convert, else inferred, else JSON text."""
    if want is not None:
        try:
            return pa.array(values, type=want)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            try:  # e.g. ISO timestamp strings -> timestamp (rows read from JSON, written as Parquet)
                return pa.array(values).cast(want)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                pass
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        # mixed types or integers beyond 64 bits (from a JSON input): kept as JSON text
        return pa.array([None if v is None else dumps(v).decode() for v in values], pa.string())
