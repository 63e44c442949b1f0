"""benchmarks/experiment_epochs.py (claim 2 of issue 11): a --quick run end to end on the tiny random Llama."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCH))  # the preset imports experiment_tatoeba from its folder
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_quick_run_one_epoch_curated_vs_ten_epochs_raw(tmp_path):
    exp = _load("experiment_epochs")
    res = exp.main(["--quick", "--noisy-rows", "120", "--workdir", str(tmp_path / "work"),
                    "--results", str(tmp_path / "res")])
    rep = res["compare"]
    assert list(rep["arms"]) == ["raw", "curated"]
    n_cur = res["data"]["curated_rows"]
    assert 0 < n_cur <= 16 and rep["raw_subset"]["rows"] == rep["arms"]["curated"]["examples"]
    assert rep["budget"]["arm_epochs"] == {"raw": 10.0, "curated": 1.0}
    # batch 4: ten passes over the raw subset are ten times the curated arm's steps (up to a partial batch)
    assert rep["arms"]["raw"]["max_steps"] >= 9 * rep["arms"]["curated"]["max_steps"]
    assert res["cost"]["token_ratio"] > 5
    assert rep["eval"]["overlap"] == {"raw": 0, "curated": 0}
    assert res["composition"]["raw"]["rows"] == rep["raw_subset"]["rows"]
    for arm in ("raw", "curated"):
        curve = rep["arms"][arm]["eval_loss_curve"]
        assert curve["points"][0]["step"] == 0 and curve["points"][-1]["epoch"] == rep["budget"]["arm_epochs"][arm]
        assert rep["arms"][arm]["metrics"]["chrf"]["ci95"] is not None  # two paired seeds
    d = rep["differences"]["curated-raw"]["chrf"]
    assert d["method"] == "t-seeds" and len(d["values"]) == 2
    if not d["excludes_zero"]:
        assert "within noise" in res["verdict"]["chrf"]
    saved = orjson.loads((tmp_path / "res" / "experiment_epochs_quick.json").read_bytes())
    assert saved["verdict"] == res["verdict"]
    md = (tmp_path / "res" / "experiment_epochs_quick.md").read_text()
    assert "| raw |" in md and "| curated |" in md and "curated − raw" in md and "Verdict" in md
    assert Path(res["charts"]["eval_loss_curves"]).stat().st_size > 1000
