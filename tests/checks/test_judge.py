"""judge: an opt-in LLM judge over an OpenAI-compatible endpoint, run against a real local server process.

The server is finesift.models.serve on the packaged SmolLM2 (a child process on a free port, with an
API key and test controls that count requests). SmolLM2 is no judge: these tests prove what is
stored, cached, refused and planned, not the quality of the verdicts (unmeasured here).
"""

from __future__ import annotations

import httpx
import numpy as np
import pyarrow as pa
import pytest

import finesift
from finesift.checks.judge import Judge
from finesift.config import AuditConfig
from finesift.errors import ConfigError
from finesift.models.serve import SERVED_NAME, Background

KEY = "check-key"
ROWS = [{"instruction": "What is 2 + 2?", "input": "", "output": "5"},
        {"instruction": "Name the capital of France.", "input": "", "output": "Paris."},
        {"instruction": "Say hello.", "input": "", "output": "   "}]


@pytest.fixture(scope="module")
def server():
    with Background(api_key=KEY, test_controls=True, max_new_tokens=24) as srv:
        yield srv


@pytest.fixture
def env(server, monkeypatch):
    for var in ("FINESIFT_JUDGE_URL", "FINESIFT_JUDGE_MODEL", "OPENAI_API_KEY", "FINESIFT_JUDGE_DRY_RUN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FINESIFT_JUDGE_API_KEY", KEY)
    httpx.post(server.url + "/_control", json={"reset_stats": True}).raise_for_status()
    return monkeypatch


def received(server) -> int:
    return httpx.get(server.url + "/_stats").json()["received"]


def params(server, tmp_path, **kw):
    return {"judge": {"url": server.url, "model": SERVED_NAME, "cache_dir": str(tmp_path / "cache"),
                      "kinds": ["wrong_answer"], **kw}}


def test_scores_reasons_and_kinds_are_stored_and_a_rerun_sends_nothing(server, env, write_jsonl, tmp_path):
    path = write_jsonl(ROWS)
    # the prefill holds the weak model to the reply format, so its verdicts can be read
    p = params(server, tmp_path, kinds=["wrong_answer", "bad_instruction"], reply_prefix='{"score": ',
               max_reply_tokens=24)
    first = finesift.audit(path, checks=[], with_models=["judge"], params=p)
    t = first.table
    assert received(server) == 4  # 2 rows x 2 kinds; the empty answer is not sent
    scores, reasons, kinds = (t[c].to_pylist() for c in ("judge_score", "judge_reason", "judge_kind"))
    assert reasons[2] == "not judged: empty answer" and scores[2] is None and kinds[2] is None
    for s, r, k in zip(scores[:2], reasons[:2], kinds[:2]):
        assert isinstance(r, str) and r and "\n" not in r
        if s is None:
            assert k is None and "unparseable judge reply" in r
        else:
            assert 0 <= s <= 1 and k in ("wrong_answer", "bad_instruction")
    assert any(s is not None for s in scores), reasons
    facts = first.summary["facts"]["judge"]
    assert (facts["requests"], facts["sent"], facts["cached"], facts["prompt_tokens"] > 0) == (4, 4, 0, True)
    # a rerun (in other batch sizes too) pays nothing and stores the same
    again = finesift.audit(path, config=AuditConfig(checks=[], with_models=["judge"], params=p, batch_size=1))
    assert received(server) == 4 and again.summary["facts"]["judge"]["cache_hits"] == 4
    for col in ("judge_score", "judge_reason", "judge_kind", "flags"):
        assert again.table[col].equals(t[col]), col


def test_an_unreadable_reply_is_a_null_score_with_the_reason(server, env, write_jsonl, tmp_path):
    # one reply token can never hold "score: x": every verdict is unreadable
    result = finesift.audit(write_jsonl(ROWS[:2]), checks=[], with_models=["judge"],
                            params=params(server, tmp_path, max_reply_tokens=1))
    assert result.table["judge_score"].to_pylist() == [None, None]
    assert all(r.startswith("wrong_answer: unparseable judge reply") for r in result.table["judge_reason"].to_pylist())
    assert result.summary["facts"]["judge"]["unparseable"] == 2 and result.summary["counts"]["judge"] == 0


def test_a_dry_run_plans_and_sends_nothing(server, env, write_jsonl, tmp_path, capsys):
    path = write_jsonl(ROWS)
    p = params(server, tmp_path, kinds=["wrong_answer", "bad_instruction"], dry_run=True, price_per_1k_tokens=1.0)
    result = finesift.audit(path, checks=[], with_models=["judge"], params=p)
    assert received(server) == 0
    facts = result.summary["facts"]["judge"]
    assert (facts["requests"], facts["to_send"], facts["sent"], facts["dry_run"]) == (4, 4, 0, True)
    assert facts["estimated_prompt_tokens"] > 100 and facts["estimated_cost"] > 0
    assert "judge: 4 request(s) to send (0 of 4 cached)" in capsys.readouterr().err
    assert result.table["judge_reason"].to_pylist()[:2] == ["dry run: not sent"] * 2
    # the environment switch, and no endpoint needed to plan
    env.setenv("FINESIFT_JUDGE_DRY_RUN", "1")
    bare = finesift.audit(path, checks=[], with_models=["judge"])
    assert received(server) == 0 and bare.summary["facts"]["judge"]["requests"] == 4


def test_max_cost_refuses_before_sending(server, env, write_jsonl, tmp_path):
    with pytest.raises(ConfigError, match="above max_cost"):
        finesift.audit(write_jsonl(ROWS), checks=[], with_models=["judge"],
                       params=params(server, tmp_path, price_per_1k_tokens=10.0, max_cost=0.01))
    assert received(server) == 0


def test_a_long_text_costs_what_max_chars_allows(server, env, write_jsonl, tmp_path):
    huge = [{"instruction": "Summarize: " + "word " * 200_000, "input": "", "output": "x " * 500_000}]
    result = finesift.audit(write_jsonl(huge), checks=[], with_models=["judge"],
                            params=params(server, tmp_path, max_chars=300, max_reply_tokens=1))
    facts = result.summary["facts"]["judge"]
    assert facts["sent"] == 1 and facts["prompt_tokens"] < 700  # two fields of 300 chars plus the template


def test_without_an_endpoint_or_with_a_refused_key_the_cli_says_so_in_one_line(server, env, write_jsonl, tmp_path,
                                                                                  capsys):
    from finesift.cli import main

    path = write_jsonl(ROWS[:1])
    with pytest.raises(SystemExit) as exit_:
        main(["audit", str(path), "-o", str(tmp_path / "o"), "--checks", "empty_output", "--with", "judge", "--json"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "error:" in err and "FINESIFT_JUDGE_URL" in err and "Traceback" not in err
    env.setenv("FINESIFT_JUDGE_URL", server.url)
    env.setenv("FINESIFT_JUDGE_MODEL", SERVED_NAME)
    env.setenv("FINESIFT_JUDGE_API_KEY", "wrong")
    env.setenv("FINESIFT_CACHE", str(tmp_path / "fcache"))
    with pytest.raises(SystemExit) as exit_:
        main(["audit", str(path), "-o", str(tmp_path / "o"), "--checks", "empty_output", "--with", "judge", "--json"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "refused the API key (HTTP 401" in err and "Traceback" not in err
    assert received(server) == 1


def test_kinds_need_a_prompt_and_the_group_enables_the_check(server, env, write_jsonl, tmp_path):
    assert AuditConfig(checks=["pii"], with_models=["judge"]).effective_checks() == ["pii", "judge"]
    with pytest.raises(ConfigError, match="each kind needs a template"):
        finesift.audit(write_jsonl(ROWS), checks=[], with_models=["judge"],
                       params=params(server, tmp_path, kinds=["tone"]))
    custom = params(server, tmp_path, kinds=["tone"], prompts={"tone": "Is this rude? {output}"}, dry_run=True)
    assert finesift.audit(write_jsonl(ROWS), checks=[], with_models=["judge"],
                          params=custom).summary["facts"]["judge"]["kinds"] == ["tone"]


def test_decide_flags_at_the_threshold_and_never_a_null():
    table = pa.table({"judge_score": pa.array([0.9, 0.5, 0.2, None], pa.float64())})
    assert Judge().decide(table).tolist() == [True, True, False, False]
    assert Judge({"threshold": 0.95}).decide(table).tolist() == [False] * 4
    assert np.asarray(Judge().decide(table)).dtype == bool
