"""``unique_ids`` (the column-wide renaming of repeated ids) gives exactly the row-by-row rule's ids."""

from __future__ import annotations

import tracemalloc

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.io import read
from finesift.io.readers import _next_free, unique_ids


def row_by_row(ids: list[str]) -> list[str]:
    """The reader's renaming as it was done while rows arrived (the oracle): a repeated id gets the
    next "-k" suffix that no earlier row holds, input or generated (``_next_free``, applied to every row
    in order; ``unique_ids`` applies it only to the rows of id families)."""
    seen: dict[str, int] = {}
    return [_next_free(seen, rid) for rid in ids]


# ids built from a few stems and "-number" parts, so that repeats, input ids shaped like generated ones
# ("a-2", "a-2-2"), near misses ("a-02", "a-") and stems with line breaks or no text all occur often
_stem = st.sampled_from(["a", "b", "", "a-", "x\ny", "日本", "7"])
_part = st.sampled_from(["-1", "-2", "-3", "-10", "-02", "-", "-x"])
_id = st.builds(lambda stem, parts: stem + "".join(parts), _stem, st.lists(_part, max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.lists(_id, max_size=60))
def test_same_ids_as_the_row_by_row_rule(ids):
    got = unique_ids(pa.array(ids, pa.string())).to_pylist()
    assert got == row_by_row(ids)
    assert len(set(got)) == len(got)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["p", "q", "p-2", "q-3"]), min_size=1, max_size=40), st.integers(1, 7))
def test_chunked_input_gives_the_same_ids(ids, size):
    chunks = [pa.array(ids[i:i + size], pa.string()) for i in range(0, len(ids), size)]
    assert unique_ids(pa.chunked_array(chunks, pa.string())).to_pylist() == row_by_row(ids)


def test_families_and_plain_repeats_in_one_column():
    ids = ["a", "a", "a-2", "b", "b", "b", "a-2", "c-2", "c", "c", "c-2-2", "a"]
    assert unique_ids(pa.array(ids)).to_pylist() == row_by_row(ids) == [
        "a", "a-2", "a-2-2", "b", "b-2", "b-3", "a-2-3", "c-2", "c", "c-3", "c-2-2", "a-3"]


def test_read_renames_repeated_and_hashed_ids_like_the_row_by_row_rule(tmp_path, monkeypatch):
    from finesift.io import readers

    rows = ([{"id": i, "instruction": "q", "output": "a"} for i in ("x", "x", "x-2", 5, "5", "x")]
            + [{"instruction": f"q{i % 3}", "output": "a"} for i in range(7)])
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    monkeypatch.setattr(readers, "CHUNK_ROWS", 4)  # repeats across chunks
    got = read(str(p)).table["id"].to_pylist()
    hashed = [readers.xxhash.xxh64_hexdigest(orjson.dumps(r)) for r in rows[6:]]
    assert got == row_by_row(["x", "x", "x-2", "5", "5", "x"] + hashed)
    assert got[:6] == ["x", "x-2", "x-2-2", "5", "5-2", "x-3"] and got[9] == hashed[0] + "-2"


def test_reading_keeps_no_python_object_per_row(tmp_path):
    # a dict of every id seen (one Python str each) held ~100 bytes per row until the end of the read:
    # 500 MB at 5M rows; what stays on the Python heap now is the raw records' one buffer
    n = 60_000
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"".join(b'{"instruction":"q%d","output":"a"}\n' % (i % 1000) for i in range(n)))
    builder = readers_builder(p)
    warm = readers_builder(p)  # modules imported on first use are not counted as the read's
    warm.consume(warm.args[0][:2000], *warm.args[1:])
    warm.table()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        builder.consume(*builder.args)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    raw = p.stat().st_size - n  # the records' JSON, which the one raw buffer holds
    assert held - raw < 60 * n, f"{(held - raw) / n:.0f} bytes of Python objects per row beyond the raw buffer"
    ids = builder.table()["id"].to_pylist()
    assert len(set(ids)) == n and ids[1000].endswith("-2")


def readers_builder(path):
    """A TableBuilder ready to consume ``path`` (the pieces of ``read`` before its hot loop)."""
    from finesift.io.formats import open_source
    from finesift.io.readers import TableBuilder
    from finesift.io.shapes import detect_shape, make_normalizer

    src = open_source(str(path), None)
    items = list(src.items)
    spec = detect_shape([r for _, r in items[:100]], None, src.name)

    def bad(*a):
        raise AssertionError(a)

    builder = TableBuilder()
    builder.args = (items, make_normalizer(spec), bad)
    return builder
