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


def test_stdin_is_written_as_jsonl_and_hf_as_parquet(tmp_path, monkeypatch):
    import io
    import sys

    import datasets

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(orjson.dumps(ALPACA[0]) + b"\n")))
    ds = read("-")
    assert default_extension(ds) == ".jsonl"
    datasets.Dataset.from_list(SHAREGPT).save_to_disk(str(tmp_path / "hf"))
    hf = read(str(tmp_path / "hf"))
    assert default_extension(hf) == ".parquet"  # JSON cannot hold every Arrow value
    out = write_records(hf, [0], tmp_path / "o.parquet")
    back = datasets.Dataset.from_parquet(str(out))
    assert back.to_list() == SHAREGPT and back.features == datasets.load_from_disk(str(tmp_path / "hf")).features
    out = write_records(hf, [0], tmp_path / "o.jsonl", fmt="jsonl")
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


# --------------------------------------------------------------------------- exact values, own annotations


def _parquet_exotic():
    import decimal

    return pa.table({
        "prompt": ["a", "b", "c"],
        "completion": ["x", "y", "z"],
        "blob": pa.array([b"\xff\xfe\x00", None, b"plain"]),
        "score": [float("nan"), float("inf"), -0.0],
        "big": pa.array([decimal.Decimal("123456789012345678901234567890"), None, decimal.Decimal("-1")],
                        pa.decimal128(38, 0)),
        "when": pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc), None,
                          dt.datetime(1999, 12, 31, tzinfo=dt.timezone.utc)], pa.timestamp("us", tz="Europe/Paris")),
        "tags": pa.array([[1.5, float("nan")], [], None], pa.list_(pa.float32())),
        "attrs": pa.array([[("k", 1)], None, []], pa.map_(pa.string(), pa.int64())),
        "cat": pa.array(["p", "q", "p"]).dictionary_encode(),
        "uid": pa.array([2**64 - 1, 0, 7], pa.uint64()),
    }).replace_schema_metadata({b"origin": b"test"})


def test_parquet_values_and_types_come_back_exactly(tmp_path):
    t = _parquet_exotic()
    t = t.cast(t.schema.set(0, pa.field("prompt", pa.string(), nullable=False, metadata={b"doc": b"the prompt"})))
    pq.write_table(t, tmp_path / "in.parquet")
    ds = read(str(tmp_path / "in.parquet"))
    back = pq.read_table(write_records(ds, [2, 0, 1], tmp_path / "o.parquet"))
    want = pq.read_table(tmp_path / "in.parquet").take([2, 0, 1])  # as Parquet names list items
    assert back.schema.equals(want.schema, check_metadata=True)
    # repr: NaN equals NaN, and -0.0 differs from 0.0
    assert repr(back.to_pylist()) == repr(want.to_pylist())
    assert back["blob"][1].as_py() == b"\xff\xfe\x00"  # was base64 text b"//4A"


def test_hf_folder_values_come_back_exactly(tmp_path):
    import datasets

    t = _parquet_exotic().select(["prompt", "completion", "blob", "score", "uid"])
    datasets.Dataset(t).save_to_disk(str(tmp_path / "hf"))
    ds = read(str(tmp_path / "hf"))
    back = pq.read_table(write_records(ds, [0, 1, 2], tmp_path / "o.parquet"))
    assert repr(back.to_pylist()) == repr(t.to_pylist())
    assert datasets.Dataset.from_parquet(str(tmp_path / "o.parquet")).features == datasets.Dataset(t).features


def test_own_finesift_field_or_columns_are_never_overwritten(tmp_path, write_jsonl):
    user = {"instruction": "q", "output": "a", "_finesift": {"reasons": ["mine"], "note": "keep"}}
    ds = read(str(write_jsonl([user, {"instruction": "q2", "output": "a2"}])))
    out = write_records(ds, [0, 1], tmp_path / "rejected.jsonl", extra={"reasons": [["empty_output"], ["pii"]]})
    recs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert recs[0]["_finesift"] == user["_finesift"]  # was merged with (and overwritten by) the annotations
    assert [r["_finesift_1"] for r in recs] == [{"reasons": ["empty_output"]}, {"reasons": ["pii"]}]
    # curated once more: the earlier annotations stay as they were
    again = read(str(out))
    recs2 = [orjson.loads(line) for line in write_records(again, [1], tmp_path / "r2.jsonl",
                                                           extra={"reasons": [["typos"]]}).read_bytes().splitlines()]
    assert recs2 == [{**recs[1], "_finesift_2": {"reasons": ["typos"]}}]  # no input record has this key
    assert write_records(again, [0], tmp_path / "r3.jsonl", extra={"r": [1]}).read_bytes().count(b"_finesift_2") == 1

    csv_in = tmp_path / "in.csv"
    csv_in.write_text("instruction,output,finesift_reasons\nq,a,mine\n", encoding="utf-8")
    csv_ds = read(str(csv_in))
    with open(write_records(csv_ds, [0], tmp_path / "o.csv", extra={"reasons": [["x"]]}), newline="",
              encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == [{"instruction": "q", "output": "a", "finesift_reasons": "mine",
                                             "finesift_1_reasons": '["x"]'}]

    pq.write_table(pa.table({"prompt": ["p"], "completion": ["c"], "finesift_quality": [0.25]}),
                   tmp_path / "in.parquet")
    pq_ds = read(str(tmp_path / "in.parquet"))
    t = pq.read_table(write_records(pq_ds, [0], tmp_path / "o.parquet", extra={"quality": [0.5]}))
    assert t.to_pylist() == [{"prompt": "p", "completion": "c", "finesift_quality": 0.25, "finesift_1_quality": 0.5}]
