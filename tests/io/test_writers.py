"""Writing rows back in the input's own format and shape; read -> write -> read is the identity."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.errors import ConfigError
from finesift.io import default_extension, read, write_records

ALPACA = [
    {"instruction": "Sum", "input": "1 2", "output": "3", "date": "2024-01-01", "tags": ["math"]},
    {"instruction": "Say hi", "input": "", "output": "hi", "date": "2024-02-01", "tags": []},
    {"instruction": "Échos « ça »", "input": "", "output": "multi\nline, \"quoted\"", "date": None, "tags": ["x"]},
]
CHAT = [
    {"id": "c1", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "q"},
                              {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"},
                              {"role": "assistant", "content": "a2"}], "source": "web"},
    {"id": "c2", "messages": [{"role": "user", "content": "only a question"}], "source": "web"},
]
SHAREGPT = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}], "lang": "en"}]


def _write_input(tmp_path, fmt, rows):
    p = tmp_path / f"in.{fmt}"
    if fmt == "jsonl":
        p.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    elif fmt == "json":
        p.write_bytes(orjson.dumps({"data": rows}, option=orjson.OPT_INDENT_2))
    elif fmt in ("csv", "tsv"):
        flat = [{k: (v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in r.items()} for r in rows]
        with open(p, "w", newline="", encoding="utf-8") as fh:
            kw = {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "quotechar": None, "lineterminator": "\n"} \
                if fmt == "tsv" else {}
            w = csv.DictWriter(fh, fieldnames=list(flat[0]), **kw)
            w.writeheader()
            w.writerows(flat)
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), p)
    return p


def _same(a, b):
    for col in ("prompt", "output", "metadata", "system", "turns", "id"):
        assert a.table[col].to_pylist() == b.table[col].to_pylist(), col
    assert (a.shape, a.format, a.field_map) == (b.shape, b.format, b.field_map)


@pytest.mark.parametrize("fmt, rows", [
    ("jsonl", ALPACA), ("json", ALPACA), ("csv", ALPACA), ("parquet", ALPACA),
    ("jsonl", CHAT), ("json", CHAT), ("csv", CHAT), ("parquet", CHAT),
    ("jsonl", SHAREGPT), ("parquet", SHAREGPT),
    ("tsv", [{"prompt": '"Hi," he said.', "completion": "« Salut »", "n": "1"}]),
])
def test_round_trip_every_format_and_shape(tmp_path, fmt, rows):
    ds = read(str(_write_input(tmp_path, fmt, rows)))
    out = write_records(ds, range(len(ds)), tmp_path / f"out{default_extension(ds)}")
    assert out.suffix == f".{fmt}"
    _same(ds, read(str(out)))


def test_rows_in_given_order_and_raw_untouched(tmp_path, write_jsonl):
    ds = read(str(write_jsonl(ALPACA)))
    out = write_records(ds, np.array([2, 0]), tmp_path / "sel.jsonl")
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == [ALPACA[2], ALPACA[0]]
    assert write_records(ds, [], tmp_path / "none.jsonl").read_bytes() == b""
    with pytest.raises(ValueError, match="row 3 is not in the dataset"):
        write_records(ds, [3], tmp_path / "bad.jsonl")


def test_json_keeps_its_wrapper_key(tmp_path):
    ds = read(str(_write_input(tmp_path, "json", ALPACA)))
    out = write_records(ds, [1], tmp_path / "o.json")
    assert orjson.loads(out.read_bytes()) == {"data": [ALPACA[1]]}


def test_extra_annotations(tmp_path, write_jsonl):
    ds = read(str(write_jsonl(ALPACA)))
    extra = {"flags": [["too_short"], []], "score": np.array([0.5, 1.0]), "kept_instead": [None, 2]}
    out = write_records(ds, [0, 1], tmp_path / "o.jsonl", extra=extra)
    recs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert recs[0]["_finesift"] == {"flags": ["too_short"], "score": 0.5, "kept_instead": None}
    assert {k: v for k, v in recs[1].items() if k != "_finesift"} == ALPACA[1]

    csv_ds = read(str(_write_input(tmp_path, "csv", ALPACA)))
    out = write_records(csv_ds, [0, 1], tmp_path / "o.csv", extra=extra)
    with open(out, newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert list(got[0])[-3:] == ["finesift_flags", "finesift_score", "finesift_kept_instead"]
    assert (got[0]["finesift_flags"], got[0]["finesift_score"], got[0]["finesift_kept_instead"]) == \
        ('["too_short"]', "0.5", "")
    assert got[1]["date"] == "2024-02-01"

    pq_ds = read(str(_write_input(tmp_path, "parquet", ALPACA)))
    t = pq.read_table(write_records(pq_ds, [0, 1], tmp_path / "o.parquet", extra=extra))
    assert t["finesift_flags"].to_pylist() == ['["too_short"]', "[]"]
    assert t["finesift_score"].to_pylist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="3 values for 2 rows"):
        write_records(ds, [0, 1], tmp_path / "x.jsonl", extra={"flags": [1, 2, 3]})


def test_parquet_types_come_back(tmp_path):
    t = pa.table({"prompt": ["a", "b"], "completion": ["x", "y"],
                  "when": pa.array([dt.datetime(2024, 1, 1, 12), None], pa.timestamp("us")),
                  "n": pa.array([1, 2], pa.int32())})
    pq.write_table(t, tmp_path / "in.parquet")
    ds = read(str(tmp_path / "in.parquet"))
    back = pq.read_table(write_records(ds, [1, 0], tmp_path / "o.parquet"))
    assert back.schema.equals(t.schema)
    assert back.to_pylist() == t.take([1, 0]).to_pylist()


def test_stdin_and_hf_are_written_as_jsonl(tmp_path, monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(orjson.dumps(ALPACA[0]) + b"\n")))
    ds = read("-")
    assert default_extension(ds) == ".jsonl"
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(SHAREGPT).save_to_disk(str(tmp_path / "hf"))
    hf = read(str(tmp_path / "hf"))
    assert default_extension(hf) == ".jsonl"
    out = write_records(hf, [0], tmp_path / "o.jsonl")
    assert orjson.loads(out.read_bytes()) == SHAREGPT[0]


def test_format_override_and_tsv_limits(tmp_path, write_jsonl):
    ds = read(str(write_jsonl(ALPACA)))
    out = write_records(ds, [0, 1], tmp_path / "o.csv", fmt="csv")
    again = read(str(out))
    assert again.table["prompt"].to_pylist() == ds.table["prompt"].to_pylist()[:2]
    with pytest.raises(ConfigError, match="TSV"):
        write_records(ds, [2], tmp_path / "o.tsv", fmt="tsv")  # a line break in the output
    with pytest.raises(ConfigError, match="cannot write format 'xml'"):
        write_records(ds, [0], tmp_path / "o.xml", fmt="xml")


def test_writes_are_atomic(tmp_path, write_jsonl, monkeypatch):
    import finesift.io.writers as writers

    ds = read(str(write_jsonl(ALPACA)))
    target = tmp_path / "kept.jsonl"
    target.write_bytes(b"previous\n")
    calls = []

    def failing_dumps(obj):
        calls.append(obj)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return orjson.dumps(obj)

    monkeypatch.setattr(writers, "dumps", failing_dumps)
    with pytest.raises(RuntimeError, match="disk full"):
        write_records(ds, [0, 1, 2], target, extra={"flags": [[], [], []]})
    assert len(calls) == 2  # it failed after writing one record
    assert target.read_bytes() == b"previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl", "kept.jsonl"]


# --------------------------------------------------------------------------- property test

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53), st.text(max_size=20),
                        st.floats(allow_nan=False, allow_infinity=False))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                               st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                          max_leaves=6)
meta_key = st.text(min_size=1, max_size=8).filter(lambda k: k not in ("instruction", "input", "output", "system", "id"))
alpaca_record = st.fixed_dictionaries(
    {"instruction": st.text(), "output": st.one_of(st.text(), st.none(), st.integers(-2**63, 2**63 - 1))},
    optional={"input": st.one_of(st.text(), st.none()), "system": st.text(max_size=10)},
).flatmap(lambda base: st.dictionaries(meta_key, json_value, max_size=3).map(lambda meta: {**base, **meta}))


@settings(max_examples=40, deadline=None)
@given(st.lists(alpaca_record, min_size=1, max_size=8), st.data())
def test_jsonl_round_trip_property(tmp_path_factory, records, data):
    d = tmp_path_factory.mktemp("rt")
    path = d / "in.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    ds = read(str(path))
    rows = data.draw(st.permutations(range(len(ds))))
    again = read(str(write_records(ds, rows, d / "out.jsonl")))
    for col in ("prompt", "output", "metadata", "system", "raw"):
        assert again.table[col].to_pylist() == ds.table[col].take(list(rows)).to_pylist(), col
    assert [orjson.loads(r) for r in again.table["raw"].to_pylist()] == [records[i] for i in rows]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries({"instruction": st.text(), "output": st.text(), "note": st.text()}),
                min_size=1, max_size=6))
def test_csv_round_trip_property(tmp_path_factory, records):
    d = tmp_path_factory.mktemp("rtcsv")
    ds = read(str(_write_input(d, "csv", records)))
    _same(ds, read(str(write_records(ds, range(len(ds)), d / "out.csv"))))


def test_rows_are_row_values_not_positions(tmp_path, write_jsonl):
    import pyarrow.compute as pc

    ds = read(str(write_jsonl(ALPACA)))
    ds.table = ds.table.filter(pc.not_equal(ds.table["row"], 1))  # e.g. a stage dropped row 1
    out = write_records(ds, [2, 0], tmp_path / "o.jsonl")
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == [ALPACA[2], ALPACA[0]]
    with pytest.raises(ValueError, match="row 1 is not in the dataset"):
        write_records(ds, [1], tmp_path / "x.jsonl")
