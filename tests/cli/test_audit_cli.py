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
    (["--fail-on", "pii", "--checks", "empty_output,pii"], 0),
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


# --- the CLI's own entry point: one clear line, exit 2, never a traceback -------------------------


def _main(argv, capsys):
    """Run ``finesift.cli.main`` in-process; return (exit code, stdout, stderr)."""
    from finesift.cli import main

    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def _no_scoring(monkeypatch):
    """The scoring work must not start: output paths and options are checked first."""
    import finesift.api

    monkeypatch.setattr(finesift.api, "audit_dataset", lambda *a, **k: pytest.fail("scoring ran before the check"))


@pytest.mark.parametrize("args,message", [
    (["--fail-on", "empty_outputs"], "unknown issue code(s) empty_outputs; known codes:"),
    (["--checks", "pii", "--fail-on", "empty_output"], "empty_output not run by this audit"),
    (["--checks", "empty_outputs"], "unknown check 'empty_outputs'"),
])
def test_a_gate_that_could_never_fail_is_refused(write_jsonl, tmp_path, capsys, monkeypatch, args, message):
    _no_scoring(monkeypatch)
    code, _, err = _main(["audit", write_jsonl(ROWS), "-o", tmp_path / "o", *args], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    if "not run" in message:
        assert "running: pii" in err


def test_output_path_errors_are_one_line_and_come_before_scoring(write_jsonl, tmp_path, capsys, monkeypatch):
    _no_scoring(monkeypatch)
    data = write_jsonl(ROWS)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [(a_file, "is a file; give a folder"), (a_file / "sub", f"{a_file} is a file, not a folder"),
             ("/proc/finesift-x", "cannot create output folder /proc/finesift-x")]
    for out, message in cases:
        code, _, err = _main(["audit", data, "-o", out, "--checks", "empty_output"], capsys)
        assert code == 2 and message in err and "Traceback" not in err, err
    assert a_file.read_text() == "x"


def test_unwritable_folder_is_one_line(write_jsonl, tmp_path, capsys, monkeypatch):
    import tempfile

    # tests run as root, for whom mode 0555 does not stop writes: simulate what a user gets
    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    _no_scoring(monkeypatch)
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, _, err = _main(["audit", write_jsonl(ROWS), "-o", tmp_path / "ro", "--checks", "empty_output"], capsys)
    assert code == 2 and "cannot write into output folder" in err and "permission denied" in err


def test_full_disk_is_one_line_and_leaves_no_summary(write_jsonl, tmp_path, capsys, monkeypatch):
    import errno

    import finesift.pipeline as fp

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fp.pq, "write_table", full)
    out = tmp_path / "o"
    code, _, err = _main(["audit", write_jsonl(ROWS), "-o", out, "--checks", "empty_output", "--json"], capsys)
    assert code == 2 and "cannot write" in err and "no space left" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == []  # no summary.json, no temporary file


@pytest.mark.parametrize("args,message", [
    (["--lang", "xx"], "--lang 'xx': unknown language code; supported (ISO 639-1): "),
    (["--device", "tpu"], "--device 'tpu': unknown device; choose from auto, cpu, cuda"),
    (["--current", "date>=notadate"], "'notadate' is not a date, but the values of 'date' are dates"),
    (["--current", "when>=2024-01-01"], "no value of 'when' is a date"),
])
def test_bad_values_are_refused(write_jsonl, tmp_path, capsys, args, message):
    rows = [dict(r, date=f"2023-0{i + 1}-01", when="yesterday") for i, r in enumerate(ROWS)]
    code, _, err = _main(["audit", write_jsonl(rows), "-o", tmp_path / "o", "--checks", "empty_output", *args], capsys)
    assert code == 2 and message in err and "Traceback" not in err, err
    if "--lang" in args:
        assert " fr," in err and " en," in err


def test_a_missing_gpu_is_an_error_not_a_silent_cpu_run(write_jsonl, tmp_path, capsys, monkeypatch):
    import torch

    _no_scoring(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = _main(["audit", write_jsonl(ROWS), "-o", tmp_path / "o", "--checks", "empty_output",
                          "--device", "cuda"], capsys)
    assert code == 2 and "--device cuda: no CUDA GPU is available" in err
    assert not (tmp_path / "o" / "summary.json").exists()


def test_ctrl_c_prints_the_documented_message(write_jsonl, tmp_path, capsys, monkeypatch):
    import os
    import signal

    import finesift.api
    from finesift.cli import INTERRUPTED

    def interrupted(*a, **k):  # a real SIGINT in the middle of the scoring work, as Ctrl-C sends it
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(finesift.api, "audit_dataset", interrupted)
    code, _, err = _main(["audit", write_jsonl(ROWS), "-o", tmp_path / "o", "--checks", "empty_output"], capsys)
    assert code == 130 and INTERRUPTED in err and "Traceback" not in err
    assert not (tmp_path / "o" / "summary.json").exists()


def test_usage_errors_keep_click_exit_codes(capsys):
    code, _, err = _main(["audit", "x.jsonl", "--bogus"], capsys)
    assert code == 2 and "--bogus" in err and "Traceback" not in err


# --- hostile text: printed literally ----------------------------------------------------------------

HOSTILE = "a [/] b [link=file:///etc/passwd]click[/link] [bold]c\x1b[2J\x1b]0;title\x07 \u202eevil\u2066 \x9b31m :smile:"


def test_hostile_text_and_paths_are_printed_literally(tmp_path):
    path = tmp_path / "in [/] dir" / "data [/].jsonl"  # "/" splits it: folders "in [", "] dir", "data ["
    path.parent.mkdir(parents=True)
    rows = [{"instruction": HOSTILE, "output": HOSTILE}] * 2 + [{"instruction": "Translate: hi", "output": "salut"}]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out = tmp_path / "out [/] \x1b[2J"
    env = {**__import__("os").environ, "FORCE_COLOR": "1", "COLUMNS": "300"}  # a terminal: styles and links on
    proc = subprocess.run([sys.executable, "-m", "finesift", "audit", str(path), "-o", str(out),
                           "--checks", "exact_duplicate,empty_output"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = proc.stdout
    for raw in ("\x1b[2J", "\x1b]0;", "\x1b]8;", "\u202e", "\u2066", "\x9b", "\x07"):
        assert raw not in text, repr(raw)
    assert "\\x1b[2J" in text and "\\u202e" in text and "[/]" in text and ":smile:" in text
    assert "[link=file:///etc/passwd]click[/link]" in text
    assert "data [/].jsonl" in text
