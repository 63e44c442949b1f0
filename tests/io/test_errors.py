"""Bad input: one clear InputError naming the file and line (or record); skip mode lists what it skipped."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import orjson
import pytest

from finesift.errors import ConfigError, InputError
from finesift.io import read

GOOD = b'{"instruction": "a", "output": "b"}\n'


def _raises(path, match, *, line=None, row=None, **kw) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        read(str(path), **kw)
    err = info.value
    assert err.source == str(path)
    assert str(path) in str(err)
    assert (err.line, err.row) == (line, row)
    return err


def test_broken_json_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(GOOD + b'{"instruction": "a", output: "b"}\n' + GOOD)
    err = _raises(p, "invalid JSON", line=2)
    assert f"{p}:2:" in str(err) and "one JSON object per line" in str(err)


def test_truncated_last_jsonl_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(GOOD * 3 + b'{"instruction": "a", "output": "cut mid-sent')
    _raises(p, "truncated", line=4)


def test_line_that_is_not_an_object(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(GOOD + b'["a", "b"]\n')
    _raises(p, "JSON list, not an object", line=2)


@pytest.mark.parametrize("value, ok", [(None, ""), (3, "3"), (2.5, "2.5"), (True, None), ([1], None), ({"a": 1}, None)])
def test_output_types(tmp_path, value, ok):
    p = tmp_path / "d.jsonl"
    p.write_bytes(GOOD + orjson.dumps({"instruction": "q", "output": value}) + b"\n")
    if ok is None:
        err = _raises(p, "'output' is ", line=2)
        assert "expected a string" in str(err)
    else:
        assert read(str(p)).table["output"][1].as_py() == ok


def test_missing_required_field(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(GOOD + b'{"instruction": "a", "answer": "b"}\n')
    err = _raises(p, "no field 'output'", line=2)
    assert "--map" in str(err)


def test_bad_messages(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"messages": [{"role": "user", "content": "q"}]}\n{"messages": "hello"}\n')
    _raises(p, "'messages' is a str|'messages' is a ", line=2)
    p.write_bytes(b'{"messages": [{"role": "user", "content": "q"}]}\n{"messages": [{"content": "x"}]}\n')
    _raises(p, "message 0 of 'messages' has no role", line=2)


def test_json_array_errors_name_the_record_or_line(tmp_path):
    p = tmp_path / "d.json"
    p.write_bytes(b'[\n {"instruction": "a", "output": "b"},\n {"instruction": "a" "output": "b"}\n]')
    _raises(p, "invalid JSON", line=3)
    p.write_bytes(b'[{"instruction": "a", "output": "b"}, {"instruction": "a", "output": [1]}]')
    _raises(p, "'output' is a list", row=1)
    p.write_bytes(b'[{"instruction": "a", "output": "b"}, 7]')
    _raises(p, "record 1 is a JSON int", row=1)
    p.write_bytes(b'[{"instruction": "a", "output": "b"},\n {"instruction": "a", "out')
    _raises(p, "truncated", line=2)
    p.write_bytes(b'{"train": [], "test": []}')
    _raises(p, "2 list field")


def test_csv_errors(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("instruction,output\na,b\nc,d,e\n", encoding="utf-8")
    _raises(p, "3 field\\(s\\) where the header has 2", line=3)
    p.write_text('instruction,output\na,b\nc,"unclosed', encoding="utf-8")
    _raises(p, "truncated", line=3)
    p.write_text("instruction,instruction\na,b\n", encoding="utf-8")
    _raises(p, "repeats column name", line=1)
    p.write_text('instruction,output\n"multi\nline",x\nshort\n', encoding="utf-8")
    _raises(p, "1 field", line=4)  # the line number counts the physical lines of the quoted field


def test_empty_files(tmp_path):
    for name, body in [("e.jsonl", b""), ("w.jsonl", b"\n  \n"), ("e.csv", b""), ("e.json", b"[]"),
                       ("h.csv", b"instruction,output\n")]:
        p = tmp_path / name
        p.write_bytes(body)
        _raises(p, "no records")


def test_unknown_shape_lists_fields_shapes_and_map(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"question": "q", "answer": "a"}\n')
    err = _raises(p, "cannot tell the dataset's shape")
    msg = str(err)
    assert "'question', 'answer'" in msg
    for shape in ("alpaca", "prompt_completion", "messages", "sharegpt"):
        assert shape in msg
    assert "--map instruction=question,output=answer" in msg


def test_missing_file_folder_and_unreadable(tmp_path, monkeypatch):
    _raises(tmp_path / "nope.jsonl", "no such file")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("x")
    err = _raises(tmp_path / "folder", "not a Hugging Face dataset")
    assert "notes.txt" in str(err)
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "dataset_dict.json").write_text('{"splits": ["train"]}')
    (tmp_path / "dd" / "train").mkdir()
    _raises(tmp_path / "dd", "DatasetDict with splits train")

    p = tmp_path / "locked.jsonl"
    p.write_bytes(GOOD)
    real_open = builtins.open

    def deny(file, *a, **kw):  # tests run as root, where chmod 000 does not stop reading
        if Path(str(file)) == p:
            raise PermissionError(13, "Permission denied")
        return real_open(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", deny)
    _raises(p, "permission denied")


def test_not_parquet(tmp_path):
    p = tmp_path / "d.parquet"
    p.write_bytes(b"this is not parquet")
    _raises(p, "not a valid Parquet file")


def test_bad_options(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(GOOD)
    with pytest.raises(ConfigError, match="unknown format 'xml'"):
        read(str(p), fmt="xml")
    with pytest.raises(ConfigError, match="on_error"):
        read(str(p), on_error="ignore")
    q = tmp_path / "data.dat"
    q.write_bytes(b"hello")
    _raises(q, "cannot tell the format")


def test_skip_mode_lists_every_skipped_line(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(GOOD + b"{broken\n" + GOOD + b'{"instruction": "a", "output": [1]}\n' + b"\n" + GOOD
                  + b'{"instruction": "cut')
    ds = read(str(p), on_error="skip")
    assert len(ds) == 3 and ds.input_rows == 6
    assert [e["line"] for e in ds.errors] == [2, 4, 7]
    assert "invalid JSON" in ds.errors[0]["reason"] and ds.errors[0]["text"] == "{broken"
    assert "'output' is a list" in ds.errors[1]["reason"]
    assert "truncated" in ds.errors[2]["reason"]
    # row is the input position, skipped records counted (blank lines are not records)
    assert ds.table["row"].to_pylist() == [0, 2, 4]
    assert [e["row"] for e in ds.errors] == [1, 3, 5]


def test_skip_mode_json_array_lists_record_indexes(tmp_path):
    p = tmp_path / "d.json"
    p.write_bytes(b'[7, {"instruction": "a", "output": "b"}, {"instruction": "a"}]')
    ds = read(str(p), on_error="skip")
    assert [e["record"] for e in ds.errors] == [0, 2] and len(ds) == 1 and ds.input_rows == 3


def test_skip_mode_with_nothing_valid_still_errors(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"{x\n{y\n")
    with pytest.raises(InputError, match="no valid records: all 2 are malformed \\(first, at line 1"):
        read(str(p), on_error="skip")


def test_cli_prints_one_clean_error_line(tmp_path, capsys):
    from finesift.cli import main

    p = tmp_path / "broken.jsonl"
    p.write_bytes(GOOD + b'{"instruction": "a", "output": "b"\n')
    with pytest.raises(SystemExit) as info:
        main(["audit", str(p), "-o", str(tmp_path / "out"), "--checks", "empty_output"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert err.startswith("error:") and f"{p}:2:" in err.replace("\n", "")


def test_raise_mode_reports_the_first_bad_record_in_file_order(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_bytes(GOOD + b'{"instruction": "a", "output": [1]}\n' + b"{broken\n")
    _raises(p, "'output' is a list", line=2)
    p.write_bytes(b"{broken\n" + GOOD)
    _raises(p, "invalid JSON", line=1)


@pytest.mark.parametrize("codec, says", [("utf-16", "UTF-16 (little-endian, with a byte-order mark)"),
                                         ("utf-16-le", "UTF-16 (little-endian, no byte-order mark)"),
                                         ("utf-16-be", "UTF-16 (big-endian, no byte-order mark)"),
                                         ("utf-32", "UTF-32 (little-endian, with a byte-order mark)")])
@pytest.mark.parametrize("name", ["d.jsonl", "d.json", "d.csv", "d"])
def test_utf16_input_says_so(tmp_path, codec, says, name):
    body = ('[{"instruction": "é", "output": "b"}]' if name == "d.json" else
            "instruction,output\né,b\n" if name == "d.csv" else '{"instruction": "é", "output": "b"}\n')
    p = tmp_path / name
    p.write_bytes(body.encode(codec))
    err = _raises(p, re.escape(f"the text is {says}, not UTF-8"))  # was "invalid JSON" or an unknown shape
    assert "expected UTF-8" in str(err) and "iconv" in str(err)
    with pytest.raises(InputError, match="UTF-16|UTF-32"):
        read(str(p), on_error="skip")  # a whole-file problem: nothing to skip


def test_damaged_parquet_names_the_row_group_and_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"instruction": [f"q{i}" for i in range(30)], "output": [f"a{i}" for i in range(30)]}),
                   p, row_group_size=10)
    page = pq.ParquetFile(p).metadata.row_group(1).column(1).data_page_offset
    data = bytearray(p.read_bytes())
    data[page:page + 16] = bytes(b ^ 0x5A for b in data[page:page + 16])  # the page header
    p.write_bytes(bytes(data))
    err = _raises(p, r"the Parquet data is damaged: cannot read row group 1 of 3 \(numbered from 0; records 10-19\), "
                     r"column 'output': ")
    assert "record -1" not in str(err) and "\n" not in str(err)
