"""``finesift curate`` and ``finesift recipe`` from the command line."""

from __future__ import annotations

import re
import subprocess
import sys

import orjson
import yaml
from typer.testing import CliRunner

from finesift.cli import app
from finesift.curate.recipe import Recipe

runner = CliRunner()
ROWS = [{"instruction": f"Translate to French: sentence {w}", "output": f"phrase {w}"}
        for w in ("one", "two", "three", "four", "five", "six")]
ROWS += [ROWS[0], {"instruction": "Translate to French: empty", "output": " "}]
FAST_RECIPE = "checks: [exact_duplicate, empty_output]\n"


def _recipe(tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text(FAST_RECIPE)
    return path


def test_curate_json_summary_matches_the_files(write_jsonl, tmp_path):
    path = write_jsonl(ROWS)
    out = tmp_path / "o"
    res = runner.invoke(app, ["curate", str(path), "-o", str(out), "--target", "3", "--recipe", str(_recipe(tmp_path)),
                              "--no-models", "--seed", "2", "--json"])
    assert res.exit_code == 0, res.output
    summary = orjson.loads(res.stdout)
    kept = (out / "kept.jsonl").read_bytes().splitlines()
    rejected = [orjson.loads(x) for x in (out / "rejected.jsonl").read_bytes().splitlines()]
    assert summary["counts"]["kept"] == len(kept) == 3
    assert summary["counts"]["rejected"] == len(rejected) == 5
    reasons = sorted(r for x in rejected for r in x["_finesift"]["reasons"])
    assert reasons == ["empty_output", "exact_duplicate", "not_selected", "not_selected", "not_selected"]
    resolved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert resolved["seed"] == 2 and resolved["selection"]["target"] == 3
    assert resolved["checks"] == ["exact_duplicate", "empty_output"]


def test_curate_readable_output(write_jsonl, tmp_path):
    path = write_jsonl(ROWS)
    res = runner.invoke(app, ["curate", str(path), "-o", str(tmp_path / "o"), "--keep-fraction", "0.5",
                              "--recipe", str(_recipe(tmp_path)), "--no-models"])
    assert res.exit_code == 0, res.output
    assert "4 kept" in res.stdout and "Coverage" in res.stdout and "summary.json" in res.stdout


def test_recipe_init_writes_a_commented_default(tmp_path):
    target = tmp_path / "r.yaml"
    res = runner.invoke(app, ["recipe", "--init", str(target)])
    assert res.exit_code == 0, res.output
    text = target.read_text()
    assert Recipe(**yaml.safe_load(text)) == Recipe()
    lines = text.splitlines()
    keys = [i for i, line in enumerate(lines) if re.match(r"^\s*[a-z_]+:", line)]
    assert len(keys) == len(Recipe.model_fields) + 4 + 10  # top level + models + selection fields
    for i in keys:  # every field, top level and nested, has its comment right above it
        assert lines[i - 1].lstrip().startswith("#"), f"no comment above {lines[i]!r}"
    res = runner.invoke(app, ["recipe", "--init", str(target)])
    assert res.exit_code != 0 and "exists" in str(res.exception)
    assert runner.invoke(app, ["recipe", "--init", str(target), "--force"]).exit_code == 0


def test_every_recipe_field_has_a_comment():
    from finesift.curate.recipe import recipe_yaml

    text = recipe_yaml()
    for model in (Recipe, Recipe.model_fields["models"].annotation, Recipe.model_fields["selection"].annotation):
        for name, field in model.model_fields.items():
            assert field.description, name
            first = field.description.split()[0]
            assert f"# {first}" in text, name


def test_recipe_check_prints_resolved_and_rejects_bad_fields(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("selection: {target: 50}\n")
    res = runner.invoke(app, ["recipe", str(good)])
    assert res.exit_code == 0 and "target: 50" in res.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("conflict_policy: keep_first\nselection: {targte: 5}\n")
    proc = subprocess.run([sys.executable, "-m", "finesift", "recipe", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "conflict_policy" in proc.stderr and "targte" in proc.stderr


def test_target_and_keep_fraction_together_is_an_error(write_jsonl, tmp_path):
    path = write_jsonl(ROWS)
    proc = subprocess.run([sys.executable, "-m", "finesift", "curate", str(path), "-o", str(tmp_path / "o"),
                           "--target", "3", "--keep-fraction", "0.5", "--no-models"], capture_output=True, text=True)
    assert proc.returncode == 2 and "not both" in proc.stderr
    assert not (tmp_path / "o").exists()


def _main(argv, capsys):
    from finesift.cli import main

    import pytest

    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_recipe_init_onto_a_folder_is_one_line(tmp_path, capsys):
    code, _, err = _main(["recipe", "--init", "--force", tmp_path], capsys)
    assert code == 2 and f"{tmp_path} is a folder" in err and "Traceback" not in err


def test_curate_output_errors_come_before_reading(write_jsonl, tmp_path, capsys, monkeypatch):
    import finesift.io

    monkeypatch.setattr(finesift.io, "read", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read first")))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    path = write_jsonl(ROWS)
    for args, message in (([ "-o", a_file], "is a file; give a folder"),
                          (["-o", a_file / "sub"], "is a file, not a folder"),
                          (["-o", tmp_path / "o", "--device", "tpu"], "unknown device")):
        code, _, err = _main(["curate", path, *args, "--recipe", _recipe(tmp_path), "--no-models"], capsys)
        assert code == 2 and message in err and "Traceback" not in err, err


def test_curate_prints_hostile_text_literally(tmp_path):
    import os

    hostile = "x [/] [link=file:///etc/passwd]y[/link] \x1b[2J\u202e"
    rows = [{"instruction": f"Translate to French: {hostile} {w}", "output": f"phrase {w} {hostile}"}
            for w in ("one", "two", "three", "four")]
    path = tmp_path / "d [/].jsonl"
    path.parent.mkdir()
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "300"}
    proc = subprocess.run([sys.executable, "-m", "finesift", "curate", str(path), "-o", str(tmp_path / "o [/]"),
                           "--recipe", str(_recipe(tmp_path)), "--no-models", "--target", "2"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    for raw in ("\x1b[2J", "\x1b]8;", "\u202e"):
        assert raw not in proc.stdout
    assert "Coverage" in proc.stdout and "\\x1b[2J" in proc.stdout and "[/]" in proc.stdout
