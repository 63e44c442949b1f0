"""benchmarks/experiment_eras.py (claim 3 of issue 11): the era split, the markers, a --quick run end to end."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import orjson
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def exp():
    sys.path.insert(0, str(BENCH))  # the preset imports experiment_tatoeba and _data from its folder
    spec = importlib.util.spec_from_file_location("experiment_eras", BENCH / "experiment_eras.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_arms_hold_out_eval_prompts_of_both_eras_and_the_markers_tell_the_eras_apart(exp):
    data = exp.build(seed=0, new_rows=200, eval_items=50)
    held = {exp.norm(r["instruction"]) for r in data["eval"]}
    assert all(r["date"] == exp.NEW for r in data["eval"])
    for arm in ("new-only", "mixed"):
        assert not held & {exp.norm(r["instruction"]) for r in data[arm]}
    assert {r["date"] for r in data["new-only"]} == {exp.NEW} and len(data["mixed"]) == 400
    assert sum(r["date"] == exp.OLD for r in data["mixed"]) == 200
    assert {r["id"] for r in data["new-only"]} <= {r["id"] for r in data["mixed"]}
    new, old = exp.shares([r["output"] for r in data["new_pool"]]), exp.shares([r["output"] for r in data["old_pool"]])
    assert new["placeholder"] > 0.5 and old["placeholder"] == 0
    assert old["old_marker"] > 0.5 and new["old_marker"] < 0.1
    assert exp.OLD_MARKER.search("You can do this in the 'Order History' section.")
    assert not exp.OLD_MARKER.search("Open {{Order History}} on {{Website Name}}.")


@pytest.mark.slow
def test_quick_run_new_only_mixed_and_curate_current(exp, tmp_path):
    res = exp.main(["--quick", "--workdir", str(tmp_path / "work"), "--results", str(tmp_path / "res")])
    arms = res["arms"]
    assert list(arms) == ["new-only", "mixed", "curated"]
    assert arms["new-only"]["rows"] == 24 and arms["mixed"]["rows"] == 48 and 0 < arms["curated"]["rows"] <= 24
    assert arms["new-only"]["new_era_fraction"] == 1.0 and arms["mixed"]["new_era_fraction"] == 0.5
    # curate --current judges the era from the date field: what it keeps is mostly new-era
    assert arms["curated"]["new_era_fraction"] > 0.5
    assert res["compare"]["eval"]["overlap"] == {"raw": 0, "curated": 0, "new-only": 0}
    assert res["compare"]["budget"]["kind"] == "epochs"
    for arm in arms.values():
        for f in ("chrf", "placeholder", "old_marker"):
            assert len(arm[f]["values"]) == 2 and arm[f]["ci95"] is not None
            assert 0 <= arm[f]["mean"] <= 100
    assert set(res["differences"]) == {"new-only-vs-mixed", "curated-vs-mixed", "curated-vs-new-only"}
    d = res["differences"]["new-only-vs-mixed"]["chrf"]
    assert d["values"] == pytest.approx([a - b for a, b in zip(arms["new-only"]["chrf"]["values"],
                                                               arms["mixed"]["chrf"]["values"])])
    if not d["excludes_zero"]:
        assert "within noise" in res["verdict"]["new-only-vs-mixed"]
    saved = orjson.loads((tmp_path / "res" / "experiment_eras_quick.json").read_bytes())
    assert saved["markers"]["old_marker"] == exp.OLD_MARKER.pattern
    md = (tmp_path / "res" / "experiment_eras_quick.md").read_text()
    assert "| new-only |" in md and "| mixed |" in md and "new-only − mixed" in md and "Verdict" in md
