"""Write chosen rows back in the input's own format and shape, from the ``raw`` column.

Records come back exactly as they were read (every field, metadata and unknown ones
included); only annotation columns are added: under a ``_finesift`` key for JSON/JSONL,
as ``finesift_<name>`` columns for CSV/TSV/Parquet (JSON-encoded when not scalar).

Stdin input and Hugging Face folders are written as JSONL. A JSON input that held its
records under a key (``{"data": [...]}``) is written with that key; its other top-level
fields are not kept. CSV/TSV are written as UTF-8 whatever the input's encoding: CSV with
RFC 4180 quoting and CRLF line ends, TSV unquoted with ``\\n``. Parquet columns get their
input types back where the JSON values convert (timestamps, dates, integers …).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError
from ..records import Dataset
from .atomic import atomic_open, atomic_path
from .formats import options_of
from .jsonutil import DUMP_OPTIONS, dumps, json_default

#: Formats ``write_records`` writes, and their extensions.
EXTENSIONS = {"jsonl": ".jsonl", "json": ".json", "csv": ".csv", "tsv": ".tsv", "parquet": ".parquet"}
#: Key (JSON) and column prefix (tables) of annotation columns.
EXTRA_KEY = "_finesift"
EXTRA_PREFIX = "finesift_"


def output_format(dataset: Dataset, fmt: str | None = None) -> str:
    """The format rows of ``dataset`` are written in: ``fmt``, else the input's (HF folders, stdin: JSONL)."""
    f = (fmt or dataset.format or "jsonl").lower().lstrip(".")
    f = {"ndjson": "jsonl", "pq": "parquet", "hf": "jsonl"}.get(f, f)
    if f not in EXTENSIONS:
        raise ConfigError(f"cannot write format '{f}'; formats are: {', '.join(EXTENSIONS)}")
    return f


def default_extension(dataset: Dataset) -> str:
    """Extension for files of rows from ``dataset`` (``kept.<ext>``): ".jsonl", ".json", ".csv", ".tsv", ".parquet"."""
    return EXTENSIONS[output_format(dataset)]


def write_records(dataset: Dataset, rows: Sequence[int] | np.ndarray, path: str | Path, *,
                  extra: dict[str, Sequence[Any]] | None = None, fmt: str | None = None) -> Path:
    """Write the records whose ``row`` is in ``rows`` (in that order) to ``path``, atomically.

    ``extra`` maps annotation names to one value per written row (``{"flags": [...]}``).
    Returns ``path``.
    """
    path = Path(path)
    f = output_format(dataset, fmt)
    idx = _positions(dataset, rows)
    extras = _extras(extra, len(idx))
    raws = dataset.table["raw"].take(pa.array(idx, pa.int64())).to_pylist() if len(idx) else []
    options = options_of(dataset.table)
    if f == "jsonl":
        _write_jsonl(path, raws, extras)
    elif f == "json":
        _write_json(path, raws, extras, options.get("json_key") if dataset.format == "json" else None)
    elif f in ("csv", "tsv"):
        _write_csv(path, raws, extras, f, options.get("columns") if dataset.format == f else None)
    else:
        _write_parquet(path, raws, extras, options.get("arrow_schema"))
    return path


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


def _records(raws: list[bytes], extras: dict[str, list[Any]], *, nested: bool) -> list[dict[str, Any]]:
    recs = [orjson.loads(r) for r in raws]
    for name, vals in extras.items():
        for rec, v in zip(recs, vals):
            if nested:
                rec.setdefault(EXTRA_KEY, {})
                if not isinstance(rec[EXTRA_KEY], dict):
                    rec[EXTRA_KEY] = {}
                rec[EXTRA_KEY][name] = v
            else:
                rec[EXTRA_PREFIX + name] = v
    return recs


def _write_jsonl(path: Path, raws: list[bytes], extras: dict[str, list[Any]]) -> None:
    with atomic_open(path, "wb") as fh:
        if not extras:  # the raw JSON is already one line per record
            fh.writelines(r + b"\n" for r in raws)
            return
        for rec in _records(raws, extras, nested=True):
            fh.write(dumps(rec) + b"\n")


def _write_json(path: Path, raws: list[bytes], extras: dict[str, list[Any]], key: str | None) -> None:
    recs = _records(raws, extras, nested=True)
    doc: Any = {key: recs} if key else recs
    with atomic_open(path, "wb") as fh:
        fh.write(orjson.dumps(doc, default=json_default, option=DUMP_OPTIONS | orjson.OPT_INDENT_2))
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


def _write_csv(path: Path, raws: list[bytes], extras: dict[str, list[Any]], fmt: str,
               header: list[str] | None) -> None:
    recs = _records(raws, extras, nested=False)
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


def _write_parquet(path: Path, raws: list[bytes], extras: dict[str, list[Any]],
                   schema: pa.Schema | None) -> None:
    recs = [orjson.loads(r) for r in raws]
    cols = _columns(recs, schema.names if schema is not None else None)
    arrays: dict[str, pa.Array] = {}
    for c in cols:
        want = schema.field(c).type if schema is not None and c in schema.names else None
        arrays[c] = _arrow_column([rec.get(c) for rec in recs], want)
    for name, vals in extras.items():
        scalar = all(v is None or isinstance(v, (str, int, float, bool)) for v in vals)
        arrays[EXTRA_PREFIX + name] = _arrow_column(vals if scalar else [None if v is None else dumps(v).decode()
                                                                          for v in vals], None)
    table = pa.table(arrays) if arrays else pa.table({})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _arrow_column(values: list[Any], want: pa.DataType | None) -> pa.Array:
    """Values as an Arrow array: the input's type where they convert, else inferred, else JSON text."""
    if want is not None:
        try:
            return pa.array(values, type=want)
        except (pa.ArrowException, TypeError, ValueError):
            try:  # e.g. ISO timestamp strings -> timestamp
                return pa.array(values).cast(want)
            except (pa.ArrowException, TypeError, ValueError):
                pass
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError):  # mixed types (from a JSON input): keep them as JSON
        return pa.array([None if v is None else dumps(v).decode() for v in values], pa.string())
