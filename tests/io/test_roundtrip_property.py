"""Property: arbitrary records, in every format, come back from read -> write exactly, at their input row.

Records hold arbitrary unicode (control characters, markup-like text, huge words), odd types
(nested objects and lists, integers beyond 64 bits, bools, nulls; bytes, NaN and decimals in
Arrow formats) and odd roles; malformed ones (skipped with ``on_error="skip"``) keep their
input position. Rows are written back the way curate writes ``kept`` (no annotations) and
``rejected`` (annotations under a key no input field has).
"""

from __future__ import annotations

import csv
import decimal
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finesift.io import read, write_records
from finesift.io.shapes import ROLE_ALIASES

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])

HOSTILE = ["[/]", "[link=file:///etc/passwd]x[/link]", "\x1b[2J", "\u202eevil", "<script>x</script>", "\x00\x07",
           "{{template}}", "N/A", "\r", "\u2028", "$(rm -rf)"]
text = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE),
                 st.integers(2_000, 20_000).map(lambda n: "w" * n))  # a huge "word"
big_int = st.one_of(st.integers(-2**63, 2**64 - 1), st.integers(-2**100, 2**100))
json_scalar = st.one_of(st.none(), st.booleans(), big_int, text, st.floats(allow_nan=False, allow_infinity=False))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                               st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                          max_leaves=8)
SHAPE_KEYS = {"instruction", "input", "output", "response", "prompt", "completion", "messages", "conversations",
              "system", "id"}
meta = st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in SHAPE_KEYS), json_value, max_size=3)
alpaca = st.builds(lambda ins, out, extra: {"instruction": ins, "output": out, **extra},
                   text, st.one_of(text, st.none(), big_int), meta)
# known role names as datasets spell them: any case, stray spaces
role = st.tuples(st.sampled_from(sorted(ROLE_ALIASES)), st.sampled_from(["", " "]), st.booleans()).map(
    lambda t: (t[0].upper() if t[2] else t[0]) + t[1])
chat = st.builds(lambda turns, extra: {"messages": [{"role": r, "content": c} for r, c in turns], **extra},
                 st.lists(st.tuples(role, text), max_size=4), meta)
not_an_object = st.sampled_from([5, ["a list"], None, "text"])
#: per shape: (good records, malformed records of the same shape, so detection is never in doubt)
SHAPES = {
    "alpaca": (alpaca, st.one_of(not_an_object, st.builds(lambda v: {"instruction": "q", "output": v},
                                                          st.one_of(st.booleans(), st.lists(st.integers())))),
               ),
    "messages": (chat, st.one_of(not_an_object, st.just({"messages": "not a list"}), st.builds(
        lambda r: {"messages": [{"role": "user", "content": "q"}, {"role": r, "content": "x"}]},
        st.text(min_size=1, max_size=8).filter(lambda r: r.strip().lower() not in ROLE_ALIASES)))),
}


def same(a, b) -> bool:
    """Equal values of the same types (1 is not 1.0 nor True; NaN is NaN; -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _extras(n: int) -> dict[str, list]:
    """What curate annotates rejected rows with."""
    return {"reasons": [["empty_output", "pii"]] * n, "quality": [0.25] * n, "kept_instead": [None, 3] * (n // 2)
            + [None] * (n % 2)}


def _records_of(path, fmt: str) -> list:
    data = path.read_bytes()
    if fmt == "jsonl":
        return [json.loads(line) for line in data.splitlines()]  # the standard parser: exact big integers
    doc = json.loads(data)
    return doc["data"] if isinstance(doc, dict) else doc


@SETTINGS
@given(st.sampled_from(sorted(SHAPES)), st.sampled_from(["jsonl", "json"]), st.data())
def test_json_formats_round_trip_exactly(tmp_path_factory, shape, fmt, data):
    good_rec, bad_rec = SHAPES[shape]
    flagged = data.draw(st.lists(st.one_of(good_rec.map(lambda r: (True, r)), bad_rec.map(lambda r: (False, r))),
                                 min_size=1, max_size=8).filter(lambda fl: any(ok for ok, _ in fl)))
    records = [r for _, r in flagged]
    good = [i for i, (ok, _) in enumerate(flagged) if ok]
    d = tmp_path_factory.mktemp("json")
    path = d / f"in.{fmt}"
    if fmt == "jsonl":
        path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
    else:
        path.write_bytes(json.dumps({"data": records}, ensure_ascii=False, indent=1).encode())
    ds = read(str(path), on_error="skip")
    assert ds.table["row"].to_pylist() == good
    assert [e["row"] for e in ds.errors] == [i for i in range(len(records)) if i not in good]
    assert ds.input_rows == len(records)

    rows = data.draw(st.permutations(good))
    kept = _records_of(write_records(ds, rows, d / f"kept.{fmt}"), fmt)
    assert len(kept) == len(rows) and all(same(k, records[r]) for k, r in zip(kept, rows))
    rejected = _records_of(write_records(ds, rows, d / f"rejected.{fmt}", extra=_extras(len(rows))), fmt)
    key = next(k for k in ("_finesift", "_finesift_1", "_finesift_2")
               if not any(isinstance(r, dict) and k in r for r in records))
    for got, r, note in zip(rejected, rows, _extras(len(rows))["kept_instead"]):
        assert same({k: v for k, v in got.items() if k != key}, records[r])
        assert got[key] == {"reasons": ["empty_output", "pii"], "quality": 0.25, "kept_instead": note}
    again = read(str(d / f"kept.{fmt}"))  # and the written file reads as the same rows
    # (not ids: a repeated record's "-2" suffix goes to whichever copy comes first)
    for col in ("prompt", "output", "system", "turns", "metadata"):
        assert again.table[col].to_pylist() == ds.table[col].take(
            [ds.table["row"].to_pylist().index(r) for r in rows]).to_pylist(), col


cell = st.text(max_size=30) | st.sampled_from(HOSTILE) | st.integers(2_000, 20_000).map(lambda n: "w" * n)
tsv_cell = cell.filter(lambda s: not any(c in s for c in "\t\n\r"))


@SETTINGS
@given(st.sampled_from(["csv", "tsv"]), st.data())
def test_csv_and_tsv_round_trip_exactly(tmp_path_factory, fmt, data):
    c = cell if fmt == "csv" else tsv_cell
    header = ["instruction", "output"] + data.draw(st.lists(st.sampled_from(["note", "finesift_x", "date"]),
                                                            unique=True, max_size=2))
    records = data.draw(st.lists(st.fixed_dictionaries({h: c for h in header}), min_size=1, max_size=6))
    d = tmp_path_factory.mktemp("csv")
    path = d / f"in.{fmt}"
    kw = {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "quotechar": None, "lineterminator": "\n"} \
        if fmt == "tsv" else {}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, **kw)
        w.writeheader()
        w.writerows(records)
    ds = read(str(path))
    assert ds.table["row"].to_pylist() == list(range(len(records)))
    rows = data.draw(st.permutations(range(len(records))))
    rkw = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    with open(write_records(ds, rows, d / f"kept.{fmt}"), newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh, **rkw)) == [records[r] for r in rows]
    prefix = "finesift_1_" if "finesift_x" in header else "finesift_"
    with open(write_records(ds, rows, d / f"rejected.{fmt}", extra=_extras(len(rows))), newline="",
              encoding="utf-8") as fh:
        got = list(csv.DictReader(fh, **rkw))
    assert [{k: v for k, v in g.items() if not k.startswith(prefix)} for g in got] == [records[r] for r in rows]
    assert all(g[prefix + "reasons"] == '["empty_output","pii"]' for g in got)


def _arrow_rows(n: int):
    opt = lambda s: st.one_of(st.none(), s)  # noqa: E731
    return st.fixed_dictionaries({
        "prompt": text, "completion": opt(text),
        "blob": opt(st.binary(max_size=12)),
        "score": opt(st.floats(allow_nan=True, allow_infinity=True)),
        "n": opt(st.integers(-2**63, 2**63 - 1)),
        "big": opt(st.integers(-10**37, 10**37).map(decimal.Decimal)),
        "flag": opt(st.booleans()),
        "vec": opt(st.lists(st.floats(allow_nan=True, width=32), max_size=3)),
        "meta": opt(st.fixed_dictionaries({"k": opt(text), "v": opt(st.integers(0, 9))})),
    })


ARROW_SCHEMA = pa.schema([("prompt", pa.string()), ("completion", pa.string()), ("blob", pa.binary()),
                          ("score", pa.float64()), ("n", pa.int64()), ("big", pa.decimal128(38, 0)),
                          ("flag", pa.bool_()), ("vec", pa.list_(pa.float32())),
                          ("meta", pa.struct([("k", pa.string()), ("v", pa.int64())]))])


@SETTINGS
@given(st.lists(_arrow_rows(0), min_size=1, max_size=6), st.data())
def test_parquet_round_trips_exactly(tmp_path_factory, records, data):
    d = tmp_path_factory.mktemp("pq")
    table = pa.Table.from_pylist(records, schema=ARROW_SCHEMA)
    pq.write_table(table, d / "in.parquet")
    ds = read(str(d / "in.parquet"))
    assert ds.table["row"].to_pylist() == list(range(len(records)))
    rows = data.draw(st.permutations(range(len(records))))
    want = pq.read_table(d / "in.parquet").take(list(rows))
    kept = pq.read_table(write_records(ds, rows, d / "kept.parquet"))
    assert kept.schema.equals(want.schema) and repr(kept.to_pylist()) == repr(want.to_pylist())
    rejected = pq.read_table(write_records(ds, rows, d / "rejected.parquet", extra=_extras(len(rows))))
    assert repr(rejected.select(want.column_names).to_pylist()) == repr(want.to_pylist())
    assert rejected["finesift_quality"].to_pylist() == [0.25] * len(rows)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_arrow_rows(0), min_size=1, max_size=4))
def test_hf_folder_round_trips_exactly(tmp_path_factory, records):
    import datasets

    d = tmp_path_factory.mktemp("hf")
    table = pa.Table.from_pylist(records, schema=ARROW_SCHEMA)
    datasets.Dataset(table).save_to_disk(str(d / "hf"))
    ds = read(str(d / "hf"))
    assert ds.table["row"].to_pylist() == list(range(len(records)))
    back = pq.read_table(write_records(ds, range(len(records)), d / "kept.parquet"))
    assert repr(back.to_pylist()) == repr(table.to_pylist())
