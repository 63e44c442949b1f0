"""Inputs and outputs as URIs of pyarrow filesystems (``file://`` on tmp_path: a real filesystem, no mocks)."""

from __future__ import annotations

import csv
import gzip
import tempfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import finesift
from finesift.cli import app
from finesift.errors import ConfigError, InputError, OutputError
from finesift.io import read, remote
from finesift.io.remote import is_uri, output_folder

runner = CliRunner()
ROWS = [{"instruction": f"Question {i} about topic {i % 7}?", "output": f"Answer {i % 5} is complete here."}
        for i in range(30)] + [{"instruction": "Question 1 about topic 1?", "output": "Answer 1 is complete here."}]
CHECKS = ["empty_output", "exact_duplicate", "near_duplicate", "pii"]


def uri(path: Path) -> str:
    return path.as_uri()


@pytest.fixture
def staging(tmp_path, monkeypatch):
    """tempfile's folder, so a test sees every staging folder a run leaves behind."""
    folder = tmp_path / "staging"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _write_formats(folder: Path) -> dict[str, Path]:
    files = {}
    files["jsonl"] = folder / "d.jsonl"
    files["jsonl"].write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    files["json"] = folder / "d.json"
    files["json"].write_bytes(orjson.dumps(ROWS))
    for fmt, delim in (("csv", ","), ("tsv", "\t")):
        files[fmt] = folder / f"d.{fmt}"
        with open(files[fmt], "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, ["instruction", "output"], delimiter=delim,
                               **({"quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}))
            w.writeheader()
            w.writerows(ROWS)
    files["parquet"] = folder / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), files["parquet"])
    return files


# --------------------------------------------------------------------------- is_uri / resolve


@pytest.mark.parametrize("path,expected", [
    ("s3://bucket/data.jsonl", True), ("gs://b/x", True), ("file:///tmp/x", True), ("abfs://c@a/x", True),
    ("hdfs://namenode:8020/x", True), ("data.jsonl", False), ("/tmp/data.jsonl", False), ("-", False),
    ("C:\\data\\x.jsonl", False), ("C://data/x.jsonl", False), ("./s3://x", False), (Path("/tmp/x"), False),
])
def test_is_uri(path, expected):
    assert is_uri(path) is expected


def test_an_unknown_scheme_is_one_clear_line():
    with pytest.raises(InputError) as info:
        read("nosuchfs://bucket/data.jsonl")
    assert str(info.value).startswith("nosuchfs://bucket/data.jsonl: unknown filesystem scheme 'nosuchfs://'")
    assert "s3://" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="--out nosuchfs://b/o: unknown filesystem scheme"):
        finesift.audit("unused.jsonl", out="nosuchfs://b/o", checks=["empty_output"])


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "tsv", "parquet"])
def test_every_format_reads_the_same_through_a_uri(tmp_path, fmt):
    path = _write_formats(tmp_path)[fmt]
    local, via_uri = read(str(path)), read(uri(path))
    assert via_uri.format == local.format == fmt
    assert via_uri.shape == local.shape
    assert via_uri.source == uri(path)
    assert via_uri.table.equals(local.table)
    assert via_uri.table.schema.metadata == local.table.schema.metadata


def test_format_is_detected_from_the_first_bytes(tmp_path):
    files = _write_formats(tmp_path)
    plain = tmp_path / "noext"
    plain.write_bytes(files["jsonl"].read_bytes())
    array_in_jsonl = tmp_path / "array.jsonl"
    array_in_jsonl.write_bytes(files["json"].read_bytes())
    pq_noext = tmp_path / "table"
    pq_noext.write_bytes(files["parquet"].read_bytes())
    assert read(uri(plain)).format == "jsonl"
    assert read(uri(array_in_jsonl)).format == "json"
    assert read(uri(pq_noext)).format == "parquet"


def test_jsonl_errors_keep_their_line_numbers(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(orjson.dumps(ROWS[0]) + b"\n\n" + b'{"instruction": "a", "output": \n')
    with pytest.raises(InputError) as info:
        read(uri(path))
    assert info.value.source == uri(path) and info.value.line == 3
    skipped = read(uri(path), on_error="skip")
    assert skipped.errors[0]["line"] == 3 and len(skipped) == 1


def test_missing_files_and_folders_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        read(uri(tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match="no such file or folder"):
        read(uri(tmp_path / "nope"))


def test_a_hugging_face_folder_uri_says_local_only(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "state.json").write_text("{}")
    with pytest.raises(InputError, match="save_to_disk folder is read from a local path only"):
        read(uri(folder))


def test_compressed_input_behaves_as_it_does_locally(tmp_path):
    # pyarrow would decompress by extension; the local reader does not, so neither does the URI one
    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in ROWS)))
    with pytest.raises(InputError) as local:
        read(str(path))
    with pytest.raises(InputError) as via_uri:
        read(uri(path))
    assert via_uri.value.reason == local.value.reason


# --------------------------------------------------------------------------- outputs


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


#: what differs between two runs of the same data: timings, and the input's name as given
_VARYING = {"seconds", "rows_per_s", "source"}


def _summary(raw: bytes | dict) -> dict:
    s = orjson.loads(raw) if isinstance(raw, bytes) else raw
    return {k: _summary(v) if isinstance(v, dict) else v for k, v in s.items() if k not in _VARYING}


def test_audit_to_a_uri_writes_what_a_local_run_writes(tmp_path, staging):
    data = _write_formats(tmp_path)["jsonl"]
    finesift.audit(str(data), out=tmp_path / "local", checks=CHECKS)
    result = finesift.audit(uri(data), out=uri(tmp_path / "remote"), checks=CHECKS)
    local, remote_files = _files(tmp_path / "local"), _files(tmp_path / "remote")
    assert set(remote_files) == set(local) == {"audit.parquet", "summary.json"}
    assert remote_files["audit.parquet"] == local["audit.parquet"]
    assert _summary(remote_files["summary.json"]) == _summary(local["summary.json"])
    assert result.summary["counts"]["exact_duplicate"] == 1
    assert list(staging.iterdir()) == []  # the staging folder is gone


def test_curate_to_a_uri_writes_what_a_local_run_writes(tmp_path, staging):
    data = _write_formats(tmp_path)["csv"]
    finesift.curate(str(data), tmp_path / "local", target=10, no_models=True)
    result = finesift.curate(uri(data), uri(tmp_path / "remote"), target=10, no_models=True)
    local, remote_files = _files(tmp_path / "local"), _files(tmp_path / "remote")
    assert set(remote_files) == set(local)
    for name in ("kept.csv", "rejected.csv", "audit.parquet", "recipe.yaml"):
        assert remote_files[name] == local[name], name
    assert _summary(remote_files["summary.json"]) == _summary(local["summary.json"])
    assert result.outdir == uri(tmp_path / "remote") and result.kept == 10
    assert result.files["kept"] == uri(tmp_path / "remote") + "/kept.csv"
    assert list(staging.iterdir()) == []


def test_curate_reuses_an_audit_folder_given_as_a_uri(tmp_path):
    data = _write_formats(tmp_path)["jsonl"]
    finesift.audit(str(data), out=tmp_path / "audit", checks=CHECKS)
    result = finesift.curate(str(data), tmp_path / "c", target=10, no_models=True, audit_dir=uri(tmp_path / "audit"))
    assert result.summary["audit"]["source"] == uri(tmp_path / "audit") + "/audit.parquet"
    (tmp_path / "audit" / "summary.json").unlink()
    with pytest.raises(InputError) as info:
        finesift.curate(str(data), tmp_path / "c2", target=10, no_models=True, audit_dir=uri(tmp_path / "audit"))
    assert info.value.source == uri(tmp_path / "audit") + "/audit.parquet" and "no summary.json" in info.value.reason


def test_stale_destination_files_are_removed(tmp_path):
    data = _write_formats(tmp_path)["jsonl"]
    out = tmp_path / "remote"
    out.mkdir()
    for name in ("summary.json", "skipped.jsonl", "kept.csv", "rejected.csv", "notes.txt"):
        (out / name).write_text("old")
    finesift.curate(uri(data), uri(out), target=10, no_models=True)
    names = set(_files(out))
    assert {"kept.jsonl", "rejected.jsonl", "summary.json", "notes.txt"} <= names
    assert not names & {"skipped.jsonl", "kept.csv", "rejected.csv"}
    assert (out / "notes.txt").read_text() == "old"  # not finesift's: left alone


def test_a_failed_run_uploads_nothing_and_leaves_no_staging_folder(tmp_path, staging):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(orjson.dumps(ROWS[0]) + b"\nnot json\n")
    out = tmp_path / "remote"
    out.mkdir()
    (out / "summary.json").write_text("{}")  # a previous, finished run
    (out / "audit.parquet").write_text("old")
    with pytest.raises(InputError):
        finesift.audit(uri(bad), out=uri(out), checks=CHECKS)
    assert _files(out) == {"audit.parquet": b"old"}  # no longer reads as complete; nothing half-new
    assert list(staging.iterdir()) == []


def test_an_output_uri_that_is_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    import finesift.io

    monkeypatch.setattr(finesift.io, "read", lambda *a, **k: pytest.fail("read before the check"))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="is a file; give a folder"):
        finesift.audit(str(a_file), out=uri(a_file), checks=CHECKS)
    assert a_file.read_text() == "x"


class _Recording(pafs.FileSystemHandler):
    """A local filesystem that records every write and delete, in order."""

    def __init__(self, root: Path):
        self.fs = pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem())
        self.events: list[tuple[str, str]] = []

    def get_type_name(self):
        return "recording"

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def normalize_path(self, path):
        return path

    def get_file_info(self, paths):
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.fs.get_file_info(selector)

    def create_dir(self, path, recursive):
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        self.fs.delete_dir_contents("", accept_root_dir=True)

    def delete_file(self, path):
        self.events.append(("delete", Path(path).name))
        self.fs.delete_file(path)

    def move(self, src, dest):
        self.events.append(("move", Path(dest).name))
        self.fs.move(src, dest)

    def copy_file(self, src, dest):
        self.events.append(("write", Path(dest).name))
        self.fs.copy_file(src, dest)

    def open_input_stream(self, path):
        return self.fs.open_input_stream(path)

    def open_input_file(self, path):
        return self.fs.open_input_file(path)

    def open_output_stream(self, path, metadata):
        self.events.append(("write", Path(path).name))
        return self.fs.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path, metadata):
        self.events.append(("write", Path(path).name))
        return self.fs.open_append_stream(path, metadata=metadata)


def test_summary_json_is_deleted_first_and_uploaded_last(tmp_path, monkeypatch):
    root = tmp_path / "bucket"
    (root / "out").mkdir(parents=True)
    (root / "out" / "summary.json").write_text("{}")  # stale
    (root / "out" / "kept.csv").write_text("old")
    handler = _Recording(root)
    fs = pafs.PyFileSystem(handler)
    monkeypatch.setattr(remote, "resolve", lambda u, role="input": (fs, "out"))
    data = _write_formats(tmp_path)["jsonl"]
    finesift.curate(str(data), "recording://bucket/out", target=10, no_models=True, report=True)
    events = [e for e in handler.events if not e[1].startswith(".finesift-probe.")]
    assert events[0] == ("delete", "summary.json")
    assert events[-1] == ("write", "summary.json")
    written = [name for kind, name in events if kind == "write"]
    assert written.count("summary.json") == 1
    assert {"kept.jsonl", "rejected.jsonl", "audit.parquet", "recipe.yaml", "report.html"} <= set(written)
    assert ("delete", "kept.csv") in events
    assert orjson.loads((root / "out" / "summary.json").read_bytes())["counts"]["kept"] == 10


def test_output_folder_is_a_no_op_for_local_paths(tmp_path):
    with output_folder(tmp_path / "x") as local:
        assert local == tmp_path / "x"
    with output_folder(None) as local:
        assert local is None
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- CLI


def test_cli_audit_and_curate_with_uris(tmp_path):
    data = _write_formats(tmp_path)["parquet"]
    res = runner.invoke(app, ["audit", uri(data), "-o", uri(tmp_path / "a"), "--checks", ",".join(CHECKS), "--json"])
    assert res.exit_code == 0, res.output
    assert orjson.loads(res.stdout)["dataset"]["source"] == uri(data)
    assert {"audit.parquet", "summary.json", "report.html"} <= set(_files(tmp_path / "a"))
    res = runner.invoke(app, ["curate", uri(data), "-o", uri(tmp_path / "c"), "--target", "10", "--no-models",
                              "--audit", uri(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert uri(tmp_path / "c") + "/kept.parquet" in res.stdout.replace("\n", "")
    assert {"kept.parquet", "rejected.parquet", "summary.json", "report.html"} <= set(_files(tmp_path / "c"))
    assert pq.read_table(tmp_path / "c" / "kept.parquet").num_rows == 10


@pytest.mark.parametrize("argv,message", [
    (["audit", "nosuchfs://b/d.jsonl", "-o", "OUT"], "nosuchfs://b/d.jsonl: unknown filesystem scheme 'nosuchfs://'"),
    (["curate", "DATA", "-o", "nosuchfs://b/o", "--no-models"], "--out nosuchfs://b/o: unknown filesystem scheme"),
])
def test_cli_uri_errors_are_one_line(tmp_path, capsys, argv, message):
    from finesift.cli import main

    data = _write_formats(tmp_path)["jsonl"]
    argv = [str(data) if a == "DATA" else str(tmp_path / "o") if a == "OUT" else a for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "error:" in err and message in " ".join(err.split()) and "Traceback" not in err
