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
import pyarrow.compute as pc
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
#: the columns a chunk holds, in order (turns and raw are kept apart)
_CHUNK_COLUMNS = ("row", "id", "system", "prompt", "output", "metadata")


class TableBuilder:
    """Accumulates normalized rows column by column; ids are made unique once all rows are in.

    Every record the reader yields (well-formed or not) takes the next input position, and
    a row's ``row`` is its position: records skipped with ``--on-error skip`` leave gaps
    rather than renumbering the rows after them.

    A row without an input id gets the xxhash64 of its JSON. A repeated id (given or
    hashed) gets ``-2``, ``-3`` … appended, so ``id`` is unique within the file
    (:func:`unique_ids`).
    """

    def __init__(self) -> None:
        self.rows = 0
        #: input positions taken, skipped records included
        self.positions = 0
        #: per chunk: (columns but turns and raw, turns or None when they are the prompt/answer pairs,
        #: raw end offsets)
        self._chunks: list[tuple[list[pa.Array], pa.Array | None, np.ndarray]] = []
        # the raw records of the whole file go into one buffer: per-chunk buffers had to be concatenated
        # at the end, holding the file's bytes twice (600 MB more at 5M rows)
        self._raw = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._start = self.rows
        self._raw_start = len(self._raw)
        self._ids: list[str] = []
        self._norms: list[Normalized] = []
        self._rows: list[int] = []
        # each raw record's end in ``_raw``: one buffer + offsets, as keeping a million small bytes
        # objects alive costs ~10x more (each holds an oversized allocation)
        self._raw_offsets: list[int] = []

    def consume(self, items, normalize, bad, *, exact_json: bool = True) -> None:
        """Add every record of ``items`` ((location, record) pairs); a record that is not a dict
        or does not fit the shape goes to ``bad(location, Bad, position)``. The hot loop of
        :func:`read`. ``exact_json``: the records' values all have an exact JSON form, so
        ``raw`` is their JSON (else it is :func:`~.jsonutil.encode_raw`'s pickle)."""
        dumps_, default, option = orjson.dumps, json_default, DUMP_OPTIONS
        hexdigest = xxhash.xxh64_hexdigest
        ids, norms, rows, buf, offsets = self._ids, self._norms, self._rows, self._raw, self._raw_offsets
        chunk_rows, chunk_bytes = CHUNK_ROWS, CHUNK_BYTES
        chunk_end = self._raw_start + chunk_bytes
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
            ids.append(rid)
            norms.append(norm)
            rows.append(pos - 1)
            buf += text if exact_json else encode_raw(item, exact_json=False)
            offsets.append(len(buf))
            if len(ids) >= chunk_rows or len(buf) >= chunk_end:
                self.rows += len(ids)
                self.flush()
                ids, norms, rows, offsets = self._ids, self._norms, self._rows, self._raw_offsets
                chunk_end = self._raw_start + chunk_bytes
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
        self._chunks.append(([
            pa.array(np.asarray(self._rows, dtype=np.int64)),
            pa.array(self._ids, pa.string()),
            pa.array(systems, pa.string()),
            prompt_arr,
            output_arr,
            metadata,
        ], turns, np.asarray(self._raw_offsets, dtype=np.int64)))
        self._reset()

    def table(self) -> pa.Table:
        self.flush()
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return pa.Table.from_batches([], schema=SCHEMA)
        lengths = [len(c[2]) for c in chunks]
        raw_offsets = np.concatenate([np.zeros(1, dtype=np.int64)] + [c[2] for c in chunks])
        raw = pa.LargeBinaryArray.from_buffers(pa.large_binary(), int(sum(lengths)),
                                               [None, pa.py_buffer(raw_offsets), pa.py_buffer(self._raw)])
        self._raw = bytearray()  # the table owns the buffer now
        # one chunk per column is what downstream code (and tests built with from_pylist) expects: each
        # column is concatenated and its chunks dropped before the next, so the chunks and the table are
        # never both held whole (that doubled the reader's peak)
        cols: list[pa.Array | pa.ChunkedArray] = []
        for k, name in enumerate(_CHUNK_COLUMNS):
            parts = [c[0][k] for c in chunks]
            for c in chunks:
                c[0][k] = None
            try:
                col = pa.concat_arrays(parts)
            except pa.ArrowInvalid:  # > 2 GiB of text in a column: kept as chunks
                col = pa.chunked_array(parts, SCHEMA.field(name).type)
            del parts
            if name == "id":
                col = unique_ids(col)
            cols.append(col)
            release_memory()  # the chunks' pages go back before the next column is built
        if all(c[1] is None for c in chunks):
            turns = pa.nulls(len(raw), _TURNS_TYPE)  # one-exchange rows store no turns (records.conversation makes them)
        else:
            parts = [c[1] if c[1] is not None else pa.nulls(n, _TURNS_TYPE) for c, n in zip(chunks, lengths)]
            try:
                turns = pa.concat_arrays(parts)
            except pa.ArrowInvalid:
                turns = pa.chunked_array(parts, _TURNS_TYPE)
        del chunks
        table = pa.Table.from_arrays(cols[:3] + [turns] + cols[3:] + [raw], schema=SCHEMA)
        if any(isinstance(c, pa.ChunkedArray) for c in table.columns):
            table = pa.Table.from_batches(table.to_batches(), schema=SCHEMA)  # the same chunks in every column
        return table


#: what :func:`unique_ids` appends to a repeated id: "-" and a number, so an id of this shape may be one
#: that the renaming of its stem reaches
_SUFFIXED = r"(?s)^(?P<stem>.*)-[0-9]+$"


def unique_ids(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``ids`` (strings, input order) made unique: a repeated id gets the next free ``-k`` suffix.

    The k-th occurrence of an id becomes ``id-k`` (k from 2), skipping suffixed ids taken earlier
    in the file (an input id ``a-2`` or one generated before); an input id that an earlier row was
    renamed to is renamed in turn. Computed on the whole column with Arrow: only the ids of a
    "family" (an id whose ``stem-number`` form is also an id) are renamed one by one; they are
    rare, and the rows outside them cannot meet any generated name (``tests/io/test_unique_ids.py``
    checks this against the row-by-row rule).
    """
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    n = len(ids)
    if n < 2:
        return ids
    encoded = pc.dictionary_encode(ids)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    values = encoded.dictionary
    m = len(values)
    if m == n:
        return ids  # no id repeats, so nothing is renamed
    involved = np.bincount(codes, minlength=m) > 1
    # the ids whose stem is an id: "a-2" when "a" is one
    stems = pc.struct_field(pc.extract_regex(values, _SUFFIXED), [0])
    parent = np.asarray(pc.fill_null(pc.index_in(stems, value_set=values), -1).to_numpy(zero_copy_only=False),
                        dtype=np.int64)
    has_parent = parent >= 0
    safe_parent = np.where(has_parent, parent, 0)
    while True:  # a renamed stem reaches its suffixed ids, and theirs in turn ("a" -> "a-2" -> "a-2-2")
        reached = has_parent & ~involved & involved[safe_parent]
        if not reached.any():
            break
        involved |= reached
    child = has_parent & involved & involved[safe_parent]
    family = np.zeros(m, dtype=bool)
    family[child] = True
    family[parent[child]] = True
    simple = involved & ~family
    del stems, parent, has_parent, safe_parent, reached, child, involved

    # the occurrence number of every row's id (1 for its first row), from a stable sort of the codes;
    # the k-th row of an id outside every family becomes "id-k": nothing else can take that name
    small = np.int32 if n < 2**31 else np.int64
    order = np.argsort(codes, kind="stable")
    group = codes[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(group[1:], group[:-1], out=first[1:])
    occurrence = np.arange(1, n + 1, dtype=small)
    occurrence -= np.flatnonzero(first).astype(small)[np.cumsum(first, dtype=small) - 1]
    del first
    occurrence[~simple[group]] = 0
    del group
    suffix = np.zeros(n, dtype=small)
    suffix[order] = occurrence
    del order, occurrence
    suffix[suffix == 1] = 0
    text = pc.cast(pa.array(suffix, mask=suffix == 0), pa.string())
    del suffix
    out = pc.binary_join_element_wise(ids, text, "-", null_handling="skip")  # no suffix: the id as it is
    del text
    fam = np.flatnonzero(family[codes])
    if len(fam):  # a family's ids, one by one with the row-by-row rule (their names can meet)
        seen: dict[str, int] = {}
        renamed = [_next_free(seen, rid) for rid in ids.take(pa.array(fam)).to_pylist()]
        mask = np.zeros(n, dtype=bool)
        mask[fam] = True
        out = pc.replace_with_mask(out, pa.array(mask), pa.array(renamed, pa.string()))
    return out


def _next_free(seen: dict[str, int], rid: str) -> str:
    """The row-by-row renaming rule, for the ids of one family: ``rid`` or its next free ``rid-k``."""
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

