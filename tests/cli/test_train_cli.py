"""``finesift train`` and ``finesift compare`` from the command line (tiny random model)."""

from __future__ import annotations

import orjson
import pytest

from finesift.cli import main
from tests.train.conftest import build_tiny_model, translation_rows, write_rows


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-cli"))


@pytest.fixture
def data(tmp_path):
    return write_rows(tmp_path / "train.jsonl", translation_rows(16))


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    cap = capsys.readouterr()
    return exc.value.code, cap.out, cap.err


@pytest.mark.slow
def test_train_writes_run_dir_and_prints_summary(tiny, data, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = _run(["train", str(data), "-o", str(out), "--model", str(tiny), "--max-steps", "2",
                            "--batch-size", "4", "--seed", "3", "--threads", "1"], capsys)
    assert code == 0
    assert "completed: 2 steps on 16 examples" in stdout and "loss_curve.png" in stdout
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["config"]["seed"] == 3 and summary["config"]["max_steps"] == 2
    assert (out / "adapter" / "adapter_config.json").exists() and (out / "metrics.jsonl").exists()


@pytest.mark.slow
def test_compare_json_with_extra_arm(tiny, data, tmp_path, capsys):
    rnd = write_rows(tmp_path / "random.jsonl", translation_rows(8, seed=9))
    ev = write_rows(tmp_path / "eval.jsonl", translation_rows(4, seed=8))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("train:\n  threads: 1\n  precision: fp32\n")
    code, stdout, _ = _run(["compare", "--raw", str(data), "--curated", str(rnd), "--eval", str(ev),
                            "-o", str(tmp_path / "cmp"), "--model", str(tiny), "--seeds", "1", "--max-steps", "1",
                            "--batch-size", "4", "--max-new-tokens", "4", "--arm", f"random={rnd}",
                            "--baselines", "longest", "--config", str(cfg), "--json"], capsys)
    assert code == 0
    rep = orjson.loads(stdout)
    assert list(rep["arms"]) == ["raw", "curated", "random", "longest"]
    assert rep["arms"]["longest"]["rows"] == 8  # k = the curated set's size
    assert set(rep["differences"]) == {"curated-raw", "curated-random", "curated-longest"}
    assert "tokens_per_answer" in rep["arms"]["longest"]["inference"]
    assert rep["differences"]["curated-raw"]["chrf"]["method"] == "bootstrap-items"  # one seed: items resampled
    assert rep["arms"]["raw"]["metrics"]["chrf"]["ci95"] is None
    assert rep["config"]["train"]["precision"] == "fp32" and rep["config"]["train"]["threads"] == 1


@pytest.mark.parametrize("argv,message", [
    (["train", "{data}", "-o", "{out}", "--epochs", "1", "--max-steps", "2"], "give --epochs or --max-steps"),
    (["train", "{data}", "-o", "{out}", "--model", "{out}/missing"], "not a local Hugging Face model folder"),
    (["train", "{out}/nope.jsonl", "-o", "{out}"], "no such file"),
    (["compare", "--raw", "{data}", "--curated", "{data}", "--eval", "{data}", "-o", "{out}", "--arm", "oops"],
     "expected NAME=PATH"),
    (["compare", "--raw", "{data}", "--curated", "{data}", "--eval", "{data}", "-o", "{out}", "--sizes", "a,b"],
     "comma-separated integers"),
    (["compare", "--raw", "{data}", "--curated", "{data}", "--eval", "{data}", "-o", "{out}", "--budget", "money"],
     "budget"),
    (["compare", "--raw", "{data}", "--curated", "{data}", "--eval", "{data}", "-o", "{out}", "--baselines",
      "shortest"], "baselines"),
    # the claim-2 options are CompareConfig fields: bad values fail validation before anything is loaded
    (["compare", "--raw", "{data}", "--curated", "{data}", "--eval", "{data}", "-o", "{out}", "--raw-rows", "lots"],
     "raw_rows: Value error, 'lots' is not a positive row count, 'curated' or 'match'"),
    (["compare", "--raw", "{data}", "--curated", "{data}", "--eval", "{data}", "-o", "{out}", "--eval-points", "0"],
     "eval_points: Input should be greater than 0"),
    (["compare", "--raw", "{data}", "--curated", "{data}", "--eval", "{data}", "-o", "{out}", "--config",
      "{tmp}/bad.yaml"], "epochs for arm 'raw' must be a positive number, got -2.0"),
])
def test_user_errors_exit_2_with_one_line(data, tmp_path, capsys, argv, message):
    (tmp_path / "bad.yaml").write_text("arm_epochs: {curated: 1, raw: -2}\n")
    argv = [a.format(data=data, out=tmp_path / "o", tmp=tmp_path) for a in argv]
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
