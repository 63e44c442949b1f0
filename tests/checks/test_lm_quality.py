"""lm_quality: LM scores per row, flag when IFD > max_ifd; with a tiny random Llama (fast)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from finesift.checks import lm_quality  # noqa: E402
from finesift.checks.lm_quality import LMQuality  # noqa: E402
from finesift.config import AuditConfig  # noqa: E402
from finesift.engine.local import score_table  # noqa: E402
from tests.models.conftest import tiny_lm_dir  # noqa: E402,F401  (session fixture)


def _table(rows, system=None):
    cols = {"row": pa.array(range(len(rows)), pa.int64()), "prompt": [p for p, _ in rows],
            "output": pa.array([o for _, o in rows], pa.string())}
    if system is not None:
        cols["system"] = pa.array(system, pa.string())
    return pa.table(cols)


ROWS = [("Translate to French: Hello.", "Bonjour."), ("Name a colour.", "Blue."), ("Say nothing.", None),
        ("What is 2 + 2?", "4")]


@pytest.fixture
def config(tiny_lm_dir):  # noqa: F811
    return AuditConfig(model=str(tiny_lm_dir), device="cpu")


def test_scores_are_consistent_and_empty_answers_are_null(config):
    check = LMQuality()
    scores = score_table(check, _table(ROWS, system=[None, "Be brief.", None, None]), config)
    assert scores.column_names == ["lm_loss", "lm_ppl", "lm_ifd"]
    loss = scores["lm_loss"].to_numpy(zero_copy_only=False)
    ppl = scores["lm_ppl"].to_numpy(zero_copy_only=False)
    assert scores["lm_ifd"].null_count == 1 and scores["lm_loss"][2].as_py() is None
    np.testing.assert_allclose(ppl[[0, 1, 3]], np.exp(loss[[0, 1, 3]]), rtol=1e-5)
    assert not check.decide(scores)[2]


def test_decide_flags_ifd_above_the_threshold():
    scores = pa.table({"lm_loss": [1.0, 1.0, None], "lm_ppl": [2.7, 2.7, None],
                       "lm_ifd": pa.array([0.5, 1.2, None], pa.float32())})
    assert LMQuality().decide(scores).tolist() == [False, True, False]
    assert LMQuality({"max_ifd": 0.4}).decide(scores).tolist() == [True, True, False]


def test_batches_give_the_same_scores_and_share_one_model(config):
    lm_quality._scorer.cache_clear()
    whole = score_table(LMQuality({"batch_size": 1}), _table(ROWS), config)
    parts = score_table(LMQuality({"batch_size": 1}), _table(ROWS), config, batch_size=2)
    np.testing.assert_allclose(np.nan_to_num(whole["lm_ifd"].to_numpy(zero_copy_only=False)),
                               np.nan_to_num(parts["lm_ifd"].to_numpy(zero_copy_only=False)), rtol=1e-5)
    # every batch of both audits scored with the one model loaded first
    assert lm_quality._scorer.cache_info().misses == 1


def test_audit_with_lm_runs_the_check(tiny_lm_dir, write_jsonl):  # noqa: F811
    from finesift.api import audit

    path = write_jsonl([{"instruction": p, "input": "", "output": o or ""} for p, o in ROWS])
    result = audit(path, {"checks": ["empty_output"], "with_models": ["lm"], "model": str(tiny_lm_dir),
                          "device": "cpu"})
    assert {"lm_loss", "lm_ppl", "lm_ifd"} <= set(result.table.column_names)
    assert result.summary["checks"]["lm_quality"]["cost"] == "model"


def test_answers_that_are_not_there_are_not_scored(config):
    from finesift.checks.placeholder_output import PlaceholderOutput
    from finesift.engine.local import run_checks

    table = _table([("Name a colour.", "Blue."), ("Write a poem.", "<nooutput>"), ("Say hi.", "   ")])
    res = run_checks(table, [LMQuality(), PlaceholderOutput()], config)  # lm_quality runs after what it reads
    assert res.scores["lm_ifd"].to_pylist()[0] is not None
    assert res.scores["lm_ifd"].to_pylist()[1:] == [None, None]
    # without placeholder_output the placeholder is an answer like any other
    alone = score_table(LMQuality(), table, config)
    assert alone["lm_ifd"].to_pylist()[1] is not None and alone["lm_ifd"].to_pylist()[2] is None


def test_curate_rows_is_a_typed_knob_with_help():
    from finesift.checks.base import param_help
    from finesift.errors import ConfigError

    helps = {p["name"]: p for p in param_help(LMQuality)}
    assert helps["curate_rows"]["default"] == 512 and "candidate pool" in helps["curate_rows"]["help"]
    assert LMQuality({"curate_rows": None}).params.curate_rows is None
    with pytest.raises(ConfigError):
        LMQuality({"curate_rows": -1})
