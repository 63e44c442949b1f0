"""``finesift report DIR`` from the command line: writes report.html, prints its path, clean errors."""

import subprocess
import sys

from typer.testing import CliRunner

import finesift
from finesift.cli import app

runner = CliRunner()
ROWS = [{"instruction": "Translate to French: Hello", "output": "Bonjour"},
        {"instruction": "Translate to French: Hello", "output": "Bonjour"}]


def test_report_command_writes_the_page_and_prints_its_path(write_jsonl, tmp_path):
    finesift.audit(write_jsonl(ROWS), out=tmp_path / "a", checks=["exact_duplicate"])
    res = runner.invoke(app, ["report", str(tmp_path / "a"), "--sample", "3"])
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "a" / "report.html") in res.stdout.replace("\n", "")
    assert "exact_duplicate" in (tmp_path / "a" / "report.html").read_text(encoding="utf-8")


def test_a_folder_without_output_is_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "finesift", "report", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "not a finesift output folder" in proc.stderr
    assert "Traceback" not in proc.stderr
