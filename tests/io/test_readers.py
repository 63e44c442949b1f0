"""Every input format reads to the same normalized table."""

from __future__ import annotations

import io
import sys

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finesift.io import read
from finesift.records import SCHEMA

ROWS = [
    {"instruction": "Translate to French: cat", "input": "", "output": "chat", "source": "a"},
    {"instruction": "Add the numbers", "input": "2 3", "output": "5", "source": "b"},
]
EXPECTED_PROMPTS = ["Translate to French: cat", "Add the numbers\n\n2 3"]


def _check(ds, fmt):
    assert ds.format == fmt
    assert ds.shape == "alpaca"
    assert ds.table.schema.equals(SCHEMA)
    ds.table.validate(full=True)  # columns are assembled from raw buffers
    assert ds.table["row"].to_pylist() == [0, 1]
    assert ds.table["prompt"].to_pylist() == EXPECTED_PROMPTS
    assert ds.table["output"].to_pylist() == ["chat", "5"]
    assert [orjson.loads(m) for m in ds.table["metadata"].to_pylist()] == [{"source": "a"}, {"source": "b"}]
    assert ds.input_rows == 2 and ds.errors == []


def test_jsonl(write_jsonl):
    _check(read(str(write_jsonl(ROWS))), "jsonl")


def test_json_array(tmp_path):
    p = tmp_path / "d.json"
    p.write_bytes(orjson.dumps(ROWS, option=orjson.OPT_INDENT_2))
    _check(read(str(p)), "json")


def test_json_object_holding_one_list(tmp_path):
    p = tmp_path / "d.json"
    p.write_bytes(orjson.dumps({"version": 2, "data": ROWS}))
    _check(read(str(p)), "json")


def test_json_extension_holding_jsonl_is_read_as_jsonl(tmp_path):
    p = tmp_path / "d.json"
    p.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    _check(read(str(p)), "jsonl")


def test_csv_with_quoted_newlines_and_commas(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text('instruction,input,output,source\n"Translate to French: cat",,chat,a\n'
                 'Add the numbers,2 3,5,b\n"multi\nline, quoted",,"x ""y""",c\n', encoding="utf-8")
    ds = read(str(p))
    assert ds.table["prompt"][2].as_py() == "multi\nline, quoted"
    assert ds.table["output"][2].as_py() == 'x "y"'
    _check(_Sliced(ds, 2), "csv")


class _Sliced:
    """The first ``n`` rows of a Dataset, for reusing :func:`_check`."""

    def __init__(self, ds, n):
        self.format, self.shape, self.errors = ds.format, ds.shape, ds.errors
        self.table, self.input_rows = ds.table.slice(0, n), n


def test_tsv_has_no_quoting(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text('prompt\tcompletion\n"Hi," he said.\t« Salut », dit-il.\n', encoding="utf-8")
    ds = read(str(p))
    assert ds.format == "tsv" and ds.shape == "prompt_completion"
    assert ds.table["prompt"][0].as_py() == '"Hi," he said.'


def test_parquet(tmp_path):
    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), p)
    _check(read(str(p)), "parquet")


def test_hf_save_to_disk_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "hf"))
    _check(read(str(tmp_path / "hf")), "hf")


def test_stdin(monkeypatch):
    data = b"".join(orjson.dumps(r) + b"\n" for r in ROWS)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    ds = read("-")
    _check(ds, "jsonl")
    assert ds.source == "<stdin>"


def test_format_override_and_content_sniffing(tmp_path):
    p = tmp_path / "data.txt"
    p.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    _check(read(str(p)), "jsonl")  # sniffed from the first byte
    _check(read(str(p), fmt="jsonl"), "jsonl")
    q = tmp_path / "data.bin"
    pq.write_table(pa.Table.from_pylist(ROWS), q)
    _check(read(str(q)), "parquet")  # PAR1 magic


def test_utf8_bom_just_works(tmp_path):
    for name, body in [("d.jsonl", b"".join(orjson.dumps(r) + b"\n" for r in ROWS)),
                       ("d.json", orjson.dumps(ROWS)),
                       ("d.csv", "instruction,input,output,source\nTranslate to French: cat,,chat,a\n"
                                 "Add the numbers,2 3,5,b\n".encode())]:
        p = tmp_path / name
        p.write_bytes(b"\xef\xbb\xbf" + body)
        ds = read(str(p))
        _check(ds, ds.format)
        assert ds.warnings == []


def test_cp1252_file_is_decoded_with_a_warning(tmp_path):
    text = "instruction,output\nTraduis « café »,“café” — naïve\n"
    p = tmp_path / "d.csv"
    p.write_bytes(text.encode("cp1252"))
    ds = read(str(p))
    assert ds.table["prompt"][0].as_py() == "Traduis « café »"
    assert ds.table["output"][0].as_py() == "“café” — naïve"
    assert len(ds.warnings) == 1 and "cp1252" in ds.warnings[0] and "line 2" in ds.warnings[0]

    q = tmp_path / "d.jsonl"
    q.write_bytes('{"instruction": "a", "output": "b"}\n{"instruction": "é", "output": "€"}\n'.encode("cp1252"))
    ds = read(str(q))
    assert ds.table["output"].to_pylist() == ["b", "€"]
    assert "line 2" in ds.warnings[0] and "cp1252" in ds.warnings[0]


def test_ten_megabyte_line(tmp_path):
    big = "x" * (10 << 20)
    for name in ("d.jsonl", "d.csv"):
        p = tmp_path / name
        if name.endswith(".jsonl"):
            p.write_bytes(orjson.dumps({"instruction": "long", "output": big}) + b"\n")
        else:
            p.write_text(f"instruction,output\nlong,{big}\n", encoding="utf-8")
        assert read(str(p)).table["output"][0].as_py() == big


def test_blank_lines_are_ignored_but_counted(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'\n{"instruction": "a", "output": "b"}\n\n  \n{"instruction": "c", "output": 1}\n')
    ds = read(str(p))
    assert ds.table["output"].to_pylist() == ["b", "1"]


def test_real_files(shared_data):
    dolly = read(str(shared_data / "dolly-3k-chatgpt-filtered.json"))
    assert (len(dolly), dolly.format, dolly.shape) == (2996, "json", "alpaca")
    assert orjson.loads(dolly.table["metadata"][0].as_py()) == {"category": "general_qa"}
    bitext = read(str(shared_data / "bitext-customer-support-2023-08-07.csv"))
    assert (len(bitext), bitext.shape) == (6480, "alpaca")
    assert bitext.field_map["output"] == "response"  # Dolly/Bitext name for the answer
    assert "intent" in orjson.loads(bitext.table["metadata"][0].as_py())


def test_crlf_line_ends(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"".join(orjson.dumps(r) + b"\r\n" for r in ROWS))
    _check(read(str(p)), "jsonl")
    q = tmp_path / "d.csv"
    q.write_bytes(b"instruction,input,output,source\r\nTranslate to French: cat,,chat,a\r\nAdd the numbers,2 3,5,b\r\n")
    _check(read(str(q)), "csv")


def test_jsonl_name_holding_a_json_array(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(orjson.dumps(ROWS, option=orjson.OPT_INDENT_2))
    _check(read(str(p)), "json")


def test_many_chunks_give_the_same_table(tmp_path, monkeypatch):
    import finesift.io.readers as readers

    rows = [{"instruction": f"q{i % 13}", "output": f"a{i % 13}", "n": i} for i in range(50)]
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"".join(orjson.dumps({k: v for k, v in r.items() if k != "n"}) + b"\n" for r in rows))
    one = read(str(p))
    monkeypatch.setattr(readers, "CHUNK_ROWS", 7)
    many = read(str(p))
    many.table.validate(full=True)
    assert many.table.equals(one.table)
    ids = many.table["id"].to_pylist()
    assert len(set(ids)) == 50 and ids[13].endswith("-2") and ids[26].endswith("-3")


def test_integers_beyond_64_bits_keep_their_value(tmp_path):
    from finesift.io import write_records

    big = 123456789012345678901234567890
    line = b'{"id": %d, "instruction": "q", "output": %d, "n": -%d}\n'
    p = tmp_path / "d.jsonl"
    p.write_bytes(line % (big, big, big) + line % (big + 1, 2**64, 2**63 + 1))
    ds = read(str(p))
    # read as floats, both ids were 1.2345678901234568e+29 (the second renamed "-2")
    assert ds.table["id"].to_pylist() == [str(big), str(big + 1)]
    assert ds.table["output"].to_pylist() == [str(big), str(2**64)]
    assert orjson.loads(ds.table["metadata"][1].as_py().replace(str(2**63 + 1), "0")) == {"n": 0}
    out = write_records(ds, [1, 0], tmp_path / "o.jsonl")
    assert out.read_bytes().splitlines() == [(line % (big + 1, 2**64, 2**63 + 1)).replace(b" ", b"").strip(),
                                             (line % (big, big, big)).replace(b" ", b"").strip()]
    with_extra = write_records(ds, [0], tmp_path / "e.jsonl", extra={"n": [1]})
    assert str(big).encode() in with_extra.read_bytes() and b"e+29" not in with_extra.read_bytes()

    q = tmp_path / "d.json"
    q.write_bytes(b'[{"id": %d, "prompt": "p", "completion": "c"}, {"id": %d, "prompt": "p", "completion": "c"}]'
                  % (big, big + 1))
    js = read(str(q))
    assert js.table["id"].to_pylist() == [str(big), str(big + 1)]
    assert b'"id": %d' % (big + 1) in write_records(js, [1], tmp_path / "o.json", extra={"x": [None]}).read_bytes()
    assert write_records(js, [0], tmp_path / "o.csv", fmt="csv").read_text().splitlines()[1] == f"{big},p,c"


def test_skipped_records_keep_every_row_at_its_input_position(tmp_path):
    from finesift.io import write_records

    p = tmp_path / "d.csv"
    p.write_text('instruction,output\na,1\nb,2,extra\n\n"c\nc",3\nd\n"e",5\n', encoding="utf-8")
    ds = read(str(p), on_error="skip")
    assert ds.table["row"].to_pylist() == [0, 2, 4]  # records b and d (lines 3 and 7) were skipped
    assert [(e["line"], e["row"]) for e in ds.errors] == [(3, 1), (7, 3)]
    assert ds.input_rows == 5
    out = write_records(ds, [4, 2], tmp_path / "o.csv")
    assert out.read_text(encoding="utf-8").splitlines()[1:] == ["e,5", '"c', 'c",3']

    q = tmp_path / "d.json"
    q.write_bytes(b'[{"instruction": "a", "output": "b"}, 5, {"instruction": "c", "output": "d"}]')
    js = read(str(q), on_error="skip")
    assert js.table["row"].to_pylist() == [0, 2] and js.table["output"].to_pylist() == ["b", "d"]
