"""``read``: any supported file -> the normalized records table (:data:`finesift.records.SCHEMA`).

The pipeline is: :mod:`.formats` streams records, :mod:`.shapes` detects the shape on
the first :data:`~.shapes.SAMPLE_SIZE` records and normalizes each record, and
:class:`TableBuilder` collects the columns in plain lists and turns every chunk into
an Arrow record batch at once (no per-row dicts, bounded Python memory).
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from ..errors import ConfigError, InputError
from ..records import SCHEMA, TURN, Dataset
from .formats import Bad, Source, attach_options, open_source
from .jsonutil import dumps
from .shapes import SAMPLE_SIZE, Normalized, RecordError, detect_shape, make_normalizer, record_text

#: rows per Arrow chunk (small enough that a chunk's Python objects stay in cache), and the raw
#: bytes after which a chunk is cut earlier (huge records)
CHUNK_ROWS = 8_192
CHUNK_BYTES = 256 << 20

_TURN_FIELDS = [TURN.field(i) for i in range(TURN.num_fields)]
_TURNS_TYPE = SCHEMA.field("turns").type


class TableBuilder:
    """Accumulates normalized rows column by column; ids are made unique as rows arrive.

    A row without an input id gets the xxhash64 of its raw JSON. A repeated id (given
    or hashed) gets ``-2``, ``-3`` … appended, so ``id`` is unique within the file.
    """

    def __init__(self) -> None:
        self.rows = 0
        self._batches: list[pa.RecordBatch] = []
        self._seen: dict[str, int] = {}
        self._reset()

    def _reset(self) -> None:
        self._start = self.rows
        self._ids: list[str] = []
        self._norms: list[Normalized] = []
        # raw JSON goes into one buffer + offsets: keeping a million small orjson bytes
        # objects alive costs ~10x more (each holds an oversized allocation)
        self._raw = bytearray()
        self._raw_offsets: list[int] = [0]

    def _unique(self, rid: str) -> str:
        seen = self._seen
        k = seen.get(rid)
        if k is None:
            seen[rid] = 1
            return rid
        while True:
            k += 1
            cand = f"{rid}-{k}"
            if cand not in seen:
                break
        seen[rid] = k
        seen[cand] = 1
        return cand

    def add(self, norm: Normalized, raw: bytes) -> None:
        rid = norm[0]
        if rid is None:
            rid = xxhash.xxh64_hexdigest(raw)
        seen = self._seen
        if rid in seen:
            rid = self._unique(rid)
        else:  # the common case, inlined (hot loop)
            seen[rid] = 1
        self._ids.append(rid)
        self._norms.append(norm)
        buf = self._raw
        buf += raw
        self._raw_offsets.append(len(buf))
        self.rows += 1
        if self.rows - self._start >= CHUNK_ROWS or len(buf) >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        n = self.rows - self._start
        if not n:
            return
        # columns are built per chunk with C-level zip/chain rather than per-row appends
        _, systems, roles, texts, prompts, outputs, metas = zip(*self._norms)
        self._norms = []
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.fromiter(map(len, roles), dtype=np.int32, count=n), out=offsets[1:])
        turns = pa.ListArray.from_arrays(
            pa.array(offsets),
            pa.StructArray.from_arrays([pa.array(list(chain.from_iterable(roles)), pa.string()),
                                        pa.array(list(chain.from_iterable(texts)), pa.string())],
                                       fields=_TURN_FIELDS),
            type=_TURNS_TYPE,
        )
        meta_buf = bytearray()
        meta_offsets = [0]
        for m in metas:
            meta_buf += dumps(m) if m else b"{}"
            meta_offsets.append(len(meta_buf))
        metadata = pa.StringArray.from_buffers(  # orjson output is valid UTF-8
            n, pa.py_buffer(np.asarray(meta_offsets, dtype=np.int32)), pa.py_buffer(meta_buf))
        raw = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), n, [None, pa.py_buffer(np.asarray(self._raw_offsets, dtype=np.int64)),
                                   pa.py_buffer(self._raw)])
        self._batches.append(pa.RecordBatch.from_arrays([
            pa.array(np.arange(self._start, self.rows, dtype=np.int64)),
            pa.array(self._ids, pa.string()),
            pa.array(systems, pa.string()),
            turns,
            pa.array(prompts, pa.string()),
            pa.array(outputs, pa.string()),
            metadata,
            raw,
        ], schema=SCHEMA))
        self._reset()

    def table(self) -> pa.Table:
        self.flush()
        table = pa.Table.from_batches(self._batches, schema=SCHEMA)
        self._batches, self._seen = [], {}  # free what is no longer needed before the copy below
        try:
            # one chunk is what downstream code (and tests built with from_pylist) expects
            return table.combine_chunks()
        except pa.ArrowInvalid:  # > 2 GiB of text in a column: keep the chunks
            return table


def read(path: str, *, fmt: str | None = None, field_map: dict[str, str] | None = None,
         on_error: str = "raise") -> Dataset:
    """Read a dataset file (or folder, or ``-`` for JSONL on stdin) into the normalized table.

    ``fmt`` forces the format (jsonl, json, csv, tsv, parquet, hf); ``field_map`` maps
    normalized names (instruction, input, output, prompt, completion, messages,
    conversations, system, id) to the input's fields and overrides shape detection.
    With ``on_error="raise"`` the first malformed record raises
    :class:`~finesift.errors.InputError` naming the file and line (or record index);
    with ``"skip"`` malformed records are left out and listed in ``Dataset.errors``.
    Encoding fallbacks are listed in ``Dataset.warnings``.
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    src = open_source(path, fmt)
    errors: list[dict[str, Any]] = []
    skip = on_error == "skip"

    def bad(loc: int, b: Bad) -> None:
        if not skip:
            raise InputError(src.name, b.reason, expected=b.expected,
                             **({"line": loc} if src.unit == "line" else {"row": loc}))
        err: dict[str, Any] = {src.unit: loc, "reason": b.reason}
        if b.text is not None:
            err["text"] = b.text
        errors.append(err)

    items = iter(src.items)
    buffered: list[tuple[int, Any]] = []
    sample: list[dict[str, Any]] = []
    for loc, item in items:
        buffered.append((loc, item))
        if type(item) is dict:
            sample.append(item)
        elif not skip:
            break  # raised below, after any earlier record that does not fit the shape
        if len(sample) >= SAMPLE_SIZE:
            break
    if not sample:
        if buffered and not skip:
            bad(*buffered[0])
        _no_records(src, buffered)
    spec = detect_shape(sample, field_map, src.name)
    normalize = make_normalizer(spec)
    builder = TableBuilder()
    add = builder.add
    for loc, item in chain(buffered, items):
        if type(item) is not dict:
            bad(loc, item)
            continue
        try:
            norm = normalize(item)
        except RecordError as exc:
            bad(loc, Bad(exc.reason, exc.expected, record_text(item)))
            continue
        add(norm, dumps(item))
    if builder.rows == 0:
        _no_records(src, [(e[src.unit], e) for e in errors])
    table = attach_options(builder.table(), src.options)
    dataset = Dataset(table=table, source=src.name, format=src.format, shape=spec.shape,
                      field_map=dict(spec.reported), errors=errors, input_rows=builder.rows + len(errors),
                      warnings=list(src.warnings))
    return dataset


def _no_records(src: Source, bad_items: list[tuple[int, Any]]) -> None:
    if not bad_items:
        raise InputError(src.name, "no records: the file holds none", expected="at least one record")
    loc, first = bad_items[0]
    reason = first.reason if isinstance(first, Bad) else first["reason"]
    raise InputError(src.name, f"no valid records: all {len(bad_items)} are malformed "
                               f"(first, at {src.unit} {loc}: {reason})", expected="at least one well-formed record")

