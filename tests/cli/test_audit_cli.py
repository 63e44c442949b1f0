"""``finesift audit`` from the command line: outputs, --json, quality gates, clean errors."""

import subprocess
import sys

import orjson
import pytest
from typer.testing import CliRunner

from finesift.cli import app

runner = CliRunner()
ROWS = [{"instruction": "Translate to French: Hello", "output": "Bonjour"},
        {"instruction": "Translate to French: Yes", "output": "  "}]


def test_json_summary_and_outputs(write_jsonl, tmp_path):
    path = write_jsonl(ROWS)
    res = runner.invoke(app, ["audit", str(path), "-o", str(tmp_path / "o"), "--checks", "empty_output", "--json"])
    assert res.exit_code == 0, res.output
    summary = orjson.loads(res.stdout)
    assert summary["counts"]["empty_output"] == 1
    assert (tmp_path / "o" / "audit.parquet").exists()


def test_readable_summary_names_codes_and_rows(write_jsonl, tmp_path):
    path = write_jsonl(ROWS)
    res = runner.invoke(app, ["audit", str(path), "-o", str(tmp_path / "o"), "--checks", "empty_output"])
    assert res.exit_code == 0, res.output
    assert "empty_output" in res.stdout and "row 1" in res.stdout


@pytest.mark.parametrize("args,code", [
    (["--fail-on", "empty_output"], 1),
    (["--fail-on", "pii"], 0),
    (["--max-flag-rate", "0.4"], 1),
    (["--max-flag-rate", "0.5"], 0),
])
def test_quality_gates(write_jsonl, tmp_path, args, code):
    path = write_jsonl(ROWS)
    res = runner.invoke(app, ["audit", str(path), "-o", str(tmp_path / "o"), "--checks", "empty_output", "--json", *args])
    assert res.exit_code == code, res.output


def test_bad_input_is_one_clean_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": \n')
    proc = subprocess.run([sys.executable, "-m", "finesift", "audit", str(bad), "-o", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.jsonl:2" in proc.stderr
    assert not (tmp_path / "o" / "audit.parquet").exists()


@pytest.mark.parametrize("args,message", [
    (["--max-flag-rate", "3"], "--max-flag-rate must be between 0 and 1"),
    (["--checks", "nope"], "unknown check 'nope'"),
    (["--map", "instruction"], "is not NAME=FIELD"),
])
def test_bad_option_is_one_clean_line(write_jsonl, tmp_path, args, message):
    path = write_jsonl(ROWS)
    proc = subprocess.run([sys.executable, "-m", "finesift", "audit", str(path), "-o", str(tmp_path / "o"), *args],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr
