"""``read``: any supported file -> the normalized records table (:data:`finesift.records.SCHEMA`).

The pipeline is: :mod:`.formats` streams records, :mod:`.shapes` detects the shape on
the first :data:`~.shapes.SAMPLE_SIZE` records and normalizes each record, and
:class:`TableBuilder` collects the columns in plain lists and turns every chunk into
an Arrow record batch at once (no per-row dicts, bounded Python memory).
"""

from __future__ import annotations

import gc
from itertools import chain
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import xxhash

from ..engine.memory import release_memory
from ..errors import ConfigError, InputError
from ..records import SCHEMA, TURN, Dataset
from .formats import Bad, Source, attach_options, open_source
from .jsonutil import DUMP_OPTIONS, dumps, encode_raw, json_default
from .shapes import (SAMPLE_SIZE, USER_ASSISTANT, Normalized, RecordError, detect_shape, make_normalizer,
                     record_text, split_role_map)

#: rows per Arrow chunk (small enough that a chunk's Python objects stay in cache), and the raw
#: bytes after which a chunk is cut earlier (huge records)
CHUNK_ROWS = 8_192
CHUNK_BYTES = 256 << 20

_TURN_FIELDS = [TURN.field(i) for i in range(TURN.num_fields)]
_TURNS_TYPE = SCHEMA.field("turns").type


class TableBuilder:
    """Accumulates normalized rows column by column; ids are made unique as rows arrive.

    Every record the reader yields (well-formed or not) takes the next input position, and
    a row's ``row`` is its position: records skipped with ``--on-error skip`` leave gaps
    rather than renumbering the rows after them.

    A row without an input id gets the xxhash64 of its JSON. A repeated id (given or
    hashed) gets ``-2``, ``-3`` … appended, so ``id`` is unique within the file.
    """

    def __init__(self) -> None:
        self.rows = 0
        #: input positions taken, skipped records included
        self.positions = 0
        #: per chunk: (columns but turns, turns or None when they are the prompt/answer pairs)
        self._chunks: list[tuple[list[pa.Array], pa.Array | None]] = []
        self._seen: dict[str, int] = {}
        self._reset()

    def _reset(self) -> None:
        self._start = self.rows
        self._ids: list[str] = []
        self._norms: list[Normalized] = []
        self._rows: list[int] = []
        # raw records go into one buffer + offsets: keeping a million small bytes objects
        # alive costs ~10x more (each holds an oversized allocation)
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

    def consume(self, items, normalize, bad, *, exact_json: bool = True) -> None:
        """Add every record of ``items`` ((location, record) pairs); a record that is not a dict
        or does not fit the shape goes to ``bad(location, Bad, position)``. The hot loop of
        :func:`read`. ``exact_json``: the records' values all have an exact JSON form, so
        ``raw`` is their JSON (else it is :func:`~.jsonutil.encode_raw`'s pickle)."""
        dumps_, default, option = orjson.dumps, json_default, DUMP_OPTIONS
        hexdigest = xxhash.xxh64_hexdigest
        seen, unique = self._seen, self._unique
        ids, norms, rows, buf, offsets = self._ids, self._norms, self._rows, self._raw, self._raw_offsets
        chunk_rows, chunk_bytes = CHUNK_ROWS, CHUNK_BYTES
        pos = self.positions
        for loc, item in items:
            pos += 1
            if type(item) is not dict:
                bad(loc, item, pos - 1)
                continue
            try:
                norm = normalize(item)
            except RecordError as exc:
                bad(loc, Bad(exc.reason, exc.expected, record_text(item)), pos - 1)
                continue
            try:
                text = dumps_(item, default=default, option=option)
            except TypeError:  # an integer beyond 64 bits: written with its exact digits
                text = dumps(item)
            rid = norm[0]
            if rid is None:
                rid = hexdigest(text)  # of the JSON, whatever ``raw`` holds: ids do not depend on the format
            k = seen.get(rid)
            if k is None:
                seen[rid] = 1
            else:  # a repeated id: the next free "-k" suffix
                cand = f"{rid}-{k + 1}"
                if cand in seen:
                    cand = unique(rid)
                else:
                    seen[rid] = k + 1
                    seen[cand] = 1
                rid = cand
            ids.append(rid)
            norms.append(norm)
            rows.append(pos - 1)
            buf += text if exact_json else encode_raw(item, exact_json=False)
            offsets.append(len(buf))
            if len(ids) >= chunk_rows or len(buf) >= chunk_bytes:
                self.rows += len(ids)
                self.flush()
                ids, norms, rows, buf, offsets = self._ids, self._norms, self._rows, self._raw, self._raw_offsets
        self.rows += len(ids)
        self.positions = pos

    def flush(self) -> None:
        n = self.rows - self._start
        if not n:
            return
        # columns are built per chunk with C-level zip/chain rather than per-row appends
        _, systems, roles, texts, prompts, outputs, metas = zip(*self._norms)
        self._norms = []
        prompt_arr = pa.array(prompts, pa.string())
        output_arr = pa.array(outputs, pa.string())
        if all(r is USER_ASSISTANT for r in roles) and all(
                t[0] is p and t[1] is o for t, p, o in zip(texts, prompts, outputs)):
            turns = None  # prompt/answer rows (alpaca, prompt-completion): built from the columns at the end
        else:
            offsets = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(np.fromiter(map(len, roles), dtype=np.int32, count=n), out=offsets[1:])
            turns = pa.ListArray.from_arrays(
                pa.array(offsets),
                pa.StructArray.from_arrays([pa.array(list(chain.from_iterable(roles)), pa.string()),
                                            pa.array(list(chain.from_iterable(texts)), pa.string())],
                                           fields=_TURN_FIELDS),
                type=_TURNS_TYPE,
            )
        if all(m is None for m in metas):
            meta_buf = b"{}" * n
            meta_offsets = np.arange(0, 2 * n + 1, 2, dtype=np.int32)
        else:
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
        self._chunks.append(([
            pa.array(np.asarray(self._rows, dtype=np.int64)),
            pa.array(self._ids, pa.string()),
            pa.array(systems, pa.string()),
            prompt_arr,
            output_arr,
            metadata,
            raw,
        ], turns))
        self._reset()

    def table(self) -> pa.Table:
        self.flush()
        chunks, self._chunks, self._seen = self._chunks, [], {}  # free what is no longer needed
        if not chunks:
            return pa.Table.from_batches([], schema=SCHEMA)

        def with_turns(cols: list[pa.Array], turns: pa.Array | None) -> list[pa.Array]:
            if turns is None:  # one-exchange rows store no turns (records.conversation makes them)
                turns = pa.nulls(len(cols[0]), _TURNS_TYPE)
            return cols[:3] + [turns] + cols[3:]

        try:
            # one chunk is what downstream code (and tests built with from_pylist) expects
            cols = [pa.concat_arrays([c[0][k] for c in chunks]) for k in range(7)]
            if all(c[1] is None for c in chunks):
                turns = None
            else:
                turns = pa.concat_arrays([c[1] if c[1] is not None else pa.nulls(len(c[0][0]), _TURNS_TYPE)
                                          for c in chunks])
            return pa.Table.from_arrays(with_turns(cols, turns), schema=SCHEMA)
        except pa.ArrowInvalid:  # > 2 GiB of text in a column: keep the chunks
            return pa.Table.from_batches([pa.RecordBatch.from_arrays(with_turns(*c), schema=SCHEMA) for c in chunks],
                                         schema=SCHEMA)


def read(path: str, *, fmt: str | None = None, field_map: dict[str, str] | None = None,
         on_error: str = "raise", roles: dict[str, str] | None = None) -> Dataset:
    """Read a dataset file (or folder, or ``-`` for JSONL on stdin) into the normalized table.

    ``fmt`` forces the format (jsonl, json, csv, tsv, parquet, hf); ``field_map`` maps
    normalized names (instruction, input, output, prompt, completion, messages,
    conversations, system, id) to the input's fields and overrides shape detection; it may
    also hold ``role.ROLE=NAME`` entries, as ``--map`` gives them (see ``roles``).
    ``roles`` maps chat role names of the input to system, user, assistant or tool
    (``{"bot": "assistant"}``), on top of the known aliases
    (:data:`~finesift.io.shapes.ROLE_ALIASES`); any other role name is an error.
    With ``on_error="raise"`` the first malformed record raises
    :class:`~finesift.errors.InputError` naming the file and line (or record index);
    with ``"skip"`` malformed records are left out and listed in ``Dataset.errors``
    (``{"line" or "record": where, "row": its input position, "reason": ..., "text": ...}``).
    Either way ``row`` is a record's 0-based position in the input, skipped records counted.
    Encoding fallbacks are listed in ``Dataset.warnings``.
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    field_map, role_map = split_role_map(field_map, roles)
    src = open_source(path, fmt)
    errors: list[dict[str, Any]] = []
    skip = on_error == "skip"

    def bad(loc: int, b: Bad, pos: int) -> None:
        if not skip:
            raise InputError(src.name, b.reason, expected=b.expected,
                             **({"line": loc} if src.unit == "line" else {"row": loc}))
        err: dict[str, Any] = {src.unit: loc, "row": pos, "reason": b.reason}
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
            bad(*buffered[0], 0)
        _no_records(src, buffered)
    spec = detect_shape(sample, field_map, src.name, roles=role_map)
    normalize = make_normalizer(spec)
    builder = TableBuilder()
    # no cyclic garbage is made here, but a million live records make every automatic collection
    # rescan them all: collections are paused while reading (~25% of the time)
    collecting = gc.isenabled()
    gc.disable()
    try:
        builder.consume(chain(buffered, items), normalize, bad, exact_json=src.exact_json)
    finally:
        if collecting:
            gc.enable()
    if builder.rows == 0:
        _no_records(src, [(e[src.unit], e) for e in errors])
    table = attach_options(builder.table(), src.options)
    release_memory()  # the chunks were concatenated into one table: free their pages now
    dataset = Dataset(table=table, source=src.name, format=src.format, shape=spec.shape,
                      field_map=dict(spec.reported), errors=errors, input_rows=builder.positions,
                      warnings=list(src.warnings))
    return dataset


def _no_records(src: Source, bad_items: list[tuple[int, Any]]) -> None:
    if not bad_items:
        raise InputError(src.name, "no records: the file holds none", expected="at least one record")
    loc, first = bad_items[0]
    reason = first.reason if isinstance(first, Bad) else first["reason"]
    raise InputError(src.name, f"no valid records: all {len(bad_items)} are malformed "
                               f"(first, at {src.unit} {loc}: {reason})", expected="at least one well-formed record")

