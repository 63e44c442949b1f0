"""``finesift.train.compare``: arms, seeds, intervals, paired differences, budgets, learning curve, resume."""

from __future__ import annotations

import math

import orjson
import pytest
from scipy import stats as st

from finesift.records import Dataset
from finesift.train import compare
from finesift.train.comparison import _Arm, _budget_steps, learning_curve
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
    assert rep["arms"]["raw"]["epoch_tokens"] > rep["arms"]["curated"]["epoch_tokens"]

    diff = rep["differences"]["curated-raw"]
    assert set(diff) == METRIC_KEYS
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
