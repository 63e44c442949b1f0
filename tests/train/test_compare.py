"""``finesift.train.compare``: arms, seeds, intervals, paired differences, budgets, learning curve, resume."""

from __future__ import annotations

import math

import orjson
import pytest
from scipy import stats as st

from finesift.records import Dataset
from finesift.train import compare
from finesift.errors import ConfigError
from finesift.train.comparison import _Arm, _budget_steps, baseline_rows, learning_curve
from finesift.train.data import load, to_examples
from finesift.train.config import CompareConfig, TrainConfig
from finesift.train.data import Tokenized

from .conftest import translation_rows, write_rows

METRIC_KEYS = {"chrf", "bleu", "exact_match", "eval_loss"}


@pytest.fixture
def arms(tmp_path):
    raw = write_rows(tmp_path / "raw.jsonl", translation_rows(24, seed=3))
    cur = write_rows(tmp_path / "cur.jsonl", translation_rows(8, seed=4))
    ev_rows = translation_rows(5, seed=5)
    ev_rows.append({**ev_rows[0], "output": "une autre traduction"})  # a second reference for one prompt
    ev = write_rows(tmp_path / "eval.jsonl", ev_rows)
    return raw, cur, ev


@pytest.mark.slow
def test_compare_reports_means_intervals_differences_and_cost(arms, fast, tmp_path, monkeypatch):
    raw, cur, ev = arms
    out = tmp_path / "cmp"
    cfg = {"seeds": 2, "max_steps": 2, "max_new_tokens": 4, "sizes": [4], "train": {**fast, "max_steps": None}}
    rep = compare(raw, cur, ev, out, cfg).report

    assert list(rep["arms"]) == ["raw", "curated", "curated@4"]
    for name in ("raw", "curated"):
        arm = rep["arms"][name]
        assert set(arm["metrics"]) == METRIC_KEYS
        for stat in arm["metrics"].values():
            assert len(stat["values"]) == 2 and len(stat["ci95"]) == 2
            assert stat["ci95"][0] <= stat["mean"] <= stat["ci95"][1]
        loss = arm["metrics"]["eval_loss"]
        half = st.t.ppf(0.975, 1) * st.tstd(loss["values"]) / math.sqrt(2)
        assert loss["ci95"] == pytest.approx([loss["mean"] - half, loss["mean"] + half])
        assert arm["tokens"]["mean"] > 0 and arm["seconds"]["mean"] > 0 and arm["max_steps"] == 2
        assert [r["seed"] for r in arm["runs"]] == [0, 1] and all(r["steps"] == 2 for r in arm["runs"])
        inf = arm["inference"]
        assert set(inf) == {"tokens_per_answer", "seconds_per_answer", "capped_share"}
        # greedy answers stop at end of turn or at max_new_tokens (4 here), and generation takes time
        assert all(0 < v <= 4 for v in inf["tokens_per_answer"]["values"])
        assert inf["seconds_per_answer"]["mean"] > 0 and 0 <= inf["capped_share"]["mean"] <= 1
    assert rep["arms"]["raw"]["epoch_tokens"] > rep["arms"]["curated"]["epoch_tokens"]

    diff = rep["differences"]["curated-raw"]
    assert set(diff) == METRIC_KEYS | {"tokens_per_answer", "seconds_per_answer"}
    assert diff["tokens_per_answer"]["values"] == pytest.approx(
        [c - r for c, r in zip(*(rep["arms"][a]["inference"]["tokens_per_answer"]["values"] for a in ("curated", "raw")))])
    assert rep["eval"]["overlap"] == {"raw": 0, "curated": 0}
    cur_l, raw_l = (rep["arms"][a]["metrics"]["eval_loss"]["values"] for a in ("curated", "raw"))
    assert diff["eval_loss"]["values"] == pytest.approx([c - r for c, r in zip(cur_l, raw_l)])
    assert diff["eval_loss"]["method"] == "t-seeds" and len(diff["eval_loss"]["ci95"]) == 2
    assert rep["verdict"]["metric"] == "chrf" and "curated_vs_raw" in rep["verdict"]

    assert rep["eval"]["items"] == 5 and rep["eval"]["rows"] == 6
    assert rep["budget"] == {"kind": "steps", "max_steps": {"raw": 2, "curated": 2, "curated@4": 2}, "max_tokens": None}
    lc = rep["learning_curve"]
    assert [p["size"] for p in lc["points"]] == [4, 8] and lc["recommended_size"] in (4, 8)
    for chart in ("loss_curves", "metrics", "learning_curve"):
        assert (out / rep["charts"][chart]).stat().st_size > 1000
    assert orjson.loads((out / "compare.json").read_bytes())["arms"]["raw"]["metrics"] == rep["arms"]["raw"]["metrics"]
    preds = (out / "runs" / "raw-seed0" / "predictions.jsonl").read_bytes().splitlines()
    assert len(preds) == 5 and set(orjson.loads(preds[0])) >= {"prompt", "references", "prediction", "chrf"}

    # an interrupted or repeated compare reuses finished runs instead of retraining
    import finesift.train.runner as runner

    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail("retrained a finished run"))
    again = compare(raw, cur, ev, out, cfg).report
    assert again["arms"]["curated"]["metrics"] == rep["arms"]["curated"]["metrics"]


def _arm(name, n, mean_len):
    ids = [[1] * mean_len for _ in range(n)]
    return _Arm(name, Dataset(None, name, "jsonl", "alpaca"), [], Tokenized(ids, ids, list(range(n))))


def test_budgets_steps_tokens_epochs():
    raw, cur = _arm("raw", 100, 20), _arm("curated", 16, 40)
    cfg = CompareConfig(train=TrainConfig(batch_size=8))
    assert _budget_steps(cfg, [raw, cur], cur)["max_steps"] == {"raw": 2, "curated": 2}  # one curated epoch
    b = _budget_steps(CompareConfig(budget="tokens", max_steps=10, train=TrainConfig(batch_size=8)), [raw, cur], cur)
    assert b["max_tokens"] == 10 * 8 * 40 and b["max_steps"] == {"raw": 20, "curated": 10}  # shorter rows, more steps
    e = _budget_steps(CompareConfig(budget="epochs", train=TrainConfig(batch_size=8, epochs=2)), [raw, cur], cur)
    assert e["max_steps"] == {"raw": 26, "curated": 4}


def test_learning_curve_recommends_smallest_size_within_noise():
    def runs(vals):
        return [{"metrics": {"chrf": v}} for v in vals]

    pts = [(50, "c@50", runs([20.0, 21.0, 22.0])), (100, "c@100", runs([29.0, 31.5, 30.0])),
           (250, "c@250", runs([30.0, 31.0, 31.0])), (500, "curated", runs([29.5, 30.5, 30.5]))]
    lc = learning_curve(pts, "chrf")
    assert lc["best_size"] == 250 and lc["recommended_size"] == 100
    assert lc["points"][0]["difference_to_best"]["excludes_zero"]


def test_compare_config_validation():
    from finesift.errors import ConfigError
    from finesift.train.config import build_config

    with pytest.raises(ConfigError, match="budget"):
        build_config(CompareConfig, {"budget": "money"}, {})
    with pytest.raises(ConfigError, match="sizes"):
        build_config(CompareConfig, {"sizes": [0, 10]}, {})
    assert build_config(CompareConfig, {"train": {"learning_rate": 1e-3}}, {}).train.eval_holdout == 0.0


def test_api_functions_are_not_shadowed_by_submodules():
    import importlib

    import finesift.train as T

    for mod in ("runner", "comparison", "config", "data", "evaluate", "stats", "recovery", "lora", "plots", "sft"):
        importlib.import_module(f"finesift.train.{mod}")
    assert callable(T.train) and callable(T.compare) and not isinstance(T.compare, type(importlib))


def test_baseline_rows_random_is_seeded_and_longest_takes_longest_answers(tmp_path):
    rows = [{"instruction": f"q{i}", "input": "", "output": "x" * (i % 7) } for i in range(30)]
    ds = load(write_rows(tmp_path / "raw.jsonl", rows))
    ex, skipped = to_examples(ds)
    assert skipped == 5  # i % 7 == 0: empty answers
    longest = baseline_rows(ds, ex, "longest", 4, seed=0)
    assert longest == [6, 13, 20, 27]  # answer length 6, the longest; ties broken by lowest row
    r0 = baseline_rows(ds, ex, "random", 10, seed=0)
    assert r0 == baseline_rows(ds, ex, "random", 10, seed=0) and r0 == sorted(set(r0)) and len(r0) == 10
    assert r0 != baseline_rows(ds, ex, "random", 10, seed=1)
    assert len(baseline_rows(ds, ex, "longest", 100, seed=0)) == 25  # never more rows than have answers
    with pytest.raises(ConfigError, match="unknown baseline"):
        baseline_rows(ds, ex, "shortest", 3, seed=0)


@pytest.mark.slow
def test_compare_trains_baseline_arms_of_the_curated_size(arms, fast, tmp_path):
    raw, cur, ev = arms
    cfg = {"seeds": 1, "max_steps": 1, "max_new_tokens": 2, "baselines": ["random", "longest"],
           "train": {**fast, "max_steps": None}}
    rep = compare(raw, cur, ev, tmp_path / "cmp", cfg).report
    assert list(rep["arms"]) == ["raw", "curated", "random", "longest"]
    assert rep["arms"]["random"]["rows"] == rep["arms"]["longest"]["rows"] == rep["arms"]["curated"]["rows"] == 8
    assert {"curated-random", "curated-longest"} <= set(rep["differences"])
    assert set(rep["verdict"]) >= {"curated_vs_raw", "curated_vs_random", "curated_vs_longest"}


def test_compare_refuses_eval_prompts_seen_in_training(arms, fast, tmp_path):
    raw, cur, ev = arms
    cfg = {"seeds": 1, "max_steps": 1, "max_new_tokens": 2, "train": {**fast, "max_steps": None}}
    with pytest.raises(ConfigError, match="eval prompts also appear in the training data of arm 'curated'"):
        compare(raw, cur, cur, tmp_path / "cmp", cfg)  # eval == curated: every eval prompt was trained on


# -- claim 2 of issue 11: per-arm epochs, a raw subset, the eval-loss curve -----------------------------------

def _cli(argv, capsys):
    from finesift.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    cap = capsys.readouterr()
    return exc.value.code, cap.out, cap.err


def test_per_arm_epochs_set_each_arms_steps_and_need_the_epochs_budget():
    raw, cur = _arm("raw", 100, 20), _arm("curated", 16, 40)
    cfg = CompareConfig(arm_epochs={"curated": 1, "raw": 10}, train=TrainConfig(batch_size=8))
    b = _budget_steps(cfg, [raw, cur], cur)
    assert b["max_steps"] == {"raw": 130, "curated": 2} and b["arm_epochs"] == {"raw": 10.0, "curated": 1.0}
    with pytest.raises(ValueError, match="need budget 'epochs'"):
        CompareConfig(arm_epochs={"raw": 10}, budget="steps")
    with pytest.raises(ConfigError, match="unknown arm 'noisy'"):
        _budget_steps(CompareConfig(arm_epochs={"noisy": 10}), [raw, cur], cur)


def test_raw_subset_matched_to_the_curated_token_bill():
    from finesift.train.comparison import raw_subset_rows

    raw, cur = _arm("raw", 100, 20), _arm("curated", 16, 40)  # curated: 640 tokens per epoch
    rows = raw_subset_rows(raw, "match", cur, raw_epochs=10, curated_epochs=1, seed=0)
    assert len(rows) == 4 and rows == sorted(rows)  # 4 rows x 20 tokens x 10 passes = the curated 640
    assert rows != raw_subset_rows(raw, "match", cur, raw_epochs=10, curated_epochs=1, seed=1)
    assert len(raw_subset_rows(raw, "curated", cur, 10, 1, seed=0)) == 16
    assert len(raw_subset_rows(raw, 7, cur, 10, 1, seed=0)) == 7
    with pytest.raises(ConfigError, match="raw rows"):
        raw_subset_rows(raw, "all", cur, 10, 1, seed=0)


@pytest.mark.slow
def test_compare_cli_one_epoch_curated_vs_ten_epochs_raw_with_eval_loss_curve(arms, tiny_model, tmp_path, capsys):
    raw, cur, ev = arms
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("train:\n  threads: 1\n  precision: fp32\n  lora_dropout: 0.0\n")
    out = tmp_path / "cmp"
    base = ["compare", "--raw", str(raw), "--curated", str(cur), "--eval", str(ev), "-o", str(out), "--model",
            str(tiny_model), "--seeds", "2", "--batch-size", "4", "--max-new-tokens", "3", "--config", str(cfg)]
    code, stdout, err = _cli(base + ["--arm-epochs", "curated=1,raw=10", "--raw-rows", "curated",
                                     "--eval-points", "4", "--json"], capsys)
    assert code == 0, err
    rep = orjson.loads(stdout)
    assert rep["budget"]["kind"] == "epochs" and rep["budget"]["arm_epochs"] == {"raw": 10.0, "curated": 1.0}
    # the CLI options are CompareConfig fields: the resolved config written beside the results records them
    written = orjson.loads((out / "compare.json").read_bytes())["config"]
    assert {k: written[k] for k in ("arm_epochs", "raw_rows", "eval_points", "budget")} == \
        {"arm_epochs": {"curated": 1.0, "raw": 10.0}, "raw_rows": "curated", "eval_points": 4, "budget": "epochs"}
    sub = rep["raw_subset"]
    assert {k: sub[k] for k in ("rows", "of", "spec")} == {"rows": 8, "of": 24, "spec": "curated"}
    assert len(set(sub["positions"])) == 8 and all(0 <= i < 24 for i in sub["positions"])
    # 8 rows at batch 4: 2 steps an epoch; ten passes over the raw subset cost ten times the curated pass
    assert rep["budget"]["max_steps"] == {"raw": 20, "curated": 2}
    assert rep["arms"]["raw"]["rows"] == 8 and rep["arms"]["raw"]["tokens"]["mean"] > \
        5 * rep["arms"]["curated"]["tokens"]["mean"]
    for name, steps in (("raw", [0, 5, 10, 15, 20]), ("curated", [0, 1, 2])):
        curve = rep["arms"][name]["eval_loss_curve"]
        assert [p["step"] for p in curve["points"]] == steps
        assert all(len(p["values"]) == 2 and p["ci95"] is not None for p in curve["points"])
        assert curve["points"][-1]["epoch"] == (10 if name == "raw" else 1)
        assert curve["rise_after_best"]["mean"] >= 0 and curve["best_step"] in steps
        run = rep["arms"][name]["runs"][0]
        assert run["eval_curve_seconds"] > 0 and 0 < run["seconds"]
    # the curve's first point is the untrained model: every arm and seed starts from the same eval loss
    starts = [rep["arms"][a]["eval_loss_curve"]["points"][0]["values"] for a in ("raw", "curated")]
    assert starts[0] == pytest.approx(starts[1])
    assert (out / rep["charts"]["eval_loss_curves"]).stat().st_size > 1000

    code, _, err = _cli(base + ["--arm-epochs", "curated=1,raw=0"], capsys)
    assert code == 2 and "--arm-epochs: 'raw=0'" in err and "Traceback" not in err
    code, _, err = _cli(base + ["--raw-rows", "many"], capsys)
    assert code == 2 and "raw_rows: Value error, 'many' is not a positive row count" in err
    code, _, err = _cli(base + ["--arm-epochs", "raw=10", "--budget", "steps"], capsys)
    assert code == 2 and "need budget 'epochs'" in err
