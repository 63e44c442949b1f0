"""``finesift review``: export, recipe feedback, clear errors, the address it prints and the --host warning."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import orjson
import yaml

from finesift.review.store import ReviewStore

PY = [sys.executable, "-m", "finesift"]


def test_export_and_recipe_out_from_the_command_line(curated, tmp_path):
    s = ReviewStore(curated / "review.sqlite")
    s.record([(1, "accept", None, None)])
    s.record([(22, "reject", None, None)])
    out = subprocess.run(PY + ["review", str(curated), "--export", str(tmp_path / "exp"),
                               "--recipe-out", str(tmp_path / "r.yaml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Agreement per issue code" in out.stdout and "1 validated rows" in out.stdout
    assert "Wrote" in out.stdout and "r.yaml" in out.stdout
    assert len((tmp_path / "exp" / "validated.jsonl").read_bytes().splitlines()) == 1
    assert orjson.loads((tmp_path / "exp" / "agreement.json").read_bytes())["overall"]["decided"] == 2
    assert isinstance(yaml.safe_load((tmp_path / "r.yaml").read_text()), dict)


def test_not_a_curate_folder_is_one_clear_line(tmp_path):
    out = subprocess.run(PY + ["review", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("error:") and "Traceback" not in out.stderr
    assert "summary.json" in out.stderr


def test_unknown_code_is_refused(curated):
    out = subprocess.run(PY + ["review", str(curated), "--code", "nope", "--port", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and "--code nope" in out.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serves_on_loopback_and_warns_when_bound_elsewhere(curated):
    port = _free_port()
    proc = subprocess.Popen(PY + ["review", str(curated), "--port", str(port), "--host", "0.0.0.0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert f"http://0.0.0.0:{port}/" in line
        assert "no authentication" in proc.stderr.readline()
    finally:
        proc.kill()
        proc.wait()
    proc = subprocess.Popen(PY + ["review", str(curated), "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert f"http://127.0.0.1:{port}/" in proc.stdout.readline()
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert "no authentication" not in err


def test_recipe_from_review_writes_a_recipe_and_refuses_to_overwrite(curated, tmp_path):
    s = ReviewStore(curated / "review.sqlite")
    for r in range(5):
        s.record([(r, "accept", None, None)])
    target = tmp_path / "tuned.yaml"
    out = subprocess.run(PY + ["recipe", str(target), "--from-review", str(curated)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Wrote" in out.stdout and "tuned.yaml" in out.stdout
    assert "decided rows" in out.stdout  # says why each threshold stayed (too few decisions here)
    assert isinstance(yaml.safe_load(target.read_text()), dict)
    again = subprocess.run(PY + ["recipe", str(target), "--from-review", str(curated)], capture_output=True, text=True)
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr
    both = subprocess.run(PY + ["recipe", str(target), "--init", "--from-review", str(curated)], capture_output=True,
                          text=True)
    assert both.returncode == 2 and "not both" in both.stderr
