"""benchmarks/experiment_tatoeba.py: the noisy-set builder, and a --quick run end to end."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "experiment_tatoeba.py"


@pytest.fixture(scope="module")
def exp():
    spec = importlib.util.spec_from_file_location("experiment_tatoeba", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_eval_is_clean_held_out_and_multi_reference(exp):
    pool, ev = exp.split(seed=0, eval_items=50)
    assert len(ev) == 50 and all(4 <= len(en.split()) <= 9 for en, _ in ev)
    assert any(len(refs) > 1 for _, refs in ev)
    norm = lambda s: re.sub(r"\W+", " ", s.lower()).strip()  # noqa: E731
    assert not {norm(en) for en, _ in ev} & {norm(en) for en in pool}


def test_noisy_set_has_every_defect_the_seed_describes(exp):
    pool, ev = exp.split(seed=0, eval_items=50)
    rows = exp.noisy_rows(pool, 3000, seed=0)
    assert len(rows) == 3000 and len({r["id"] for r in rows}) == 3000
    kinds = Counter(r["noise"].split(":")[-1] if r["noise"].startswith("repeated") else r["noise"] for r in rows)
    for k in ("clean", "format", "typo_answer", "typo_prompt", "wrong_language", "mixed_language", "chatty",
              "truncated", "wrong_translation", "conflict"):
        assert kinds[k] > 0, k
    assert 0.35 < kinds["clean"] / len(rows) < 0.6
    repeats = Counter((r["instruction"], r["output"]) for r in rows if r["noise"].startswith("repeated"))
    assert len(repeats) >= 2 and min(repeats.values()) >= 24  # a few rows, dozens of times each
    prompts = Counter(r["instruction"] for r in rows)
    conflicted = {r["instruction"] for r in rows if r["noise"] == "conflict"}
    assert all(prompts[p] >= 2 for p in conflicted)  # same prompt, different answers
    eval_prompts = {exp.CANONICAL.format(en) for en, _ in ev}
    assert not eval_prompts & set(prompts)


@pytest.mark.slow
def test_quick_run_end_to_end(exp, tmp_path):
    res = exp.main(["--quick", "--workdir", str(tmp_path / "work"), "--results", str(tmp_path / "res")])
    assert list(res["compare"]["arms"]) == ["raw", "curated", "random", "longest", "clean-oracle"]
    assert res["data"]["noisy_rows"] == 300 and 0 < res["data"]["curated_rows"] <= 40
    for arm in ("random", "longest", "clean-oracle"):
        assert res["composition"][arm]["rows"] == res["data"]["curated_rows"]
    assert res["composition"]["clean-oracle"]["clean_fraction"] == 1.0
    for arm in res["compare"]["arms"].values():
        assert arm["metrics"]["chrf"]["ci95"] is not None and arm["tokens"]["mean"] > 0
    assert set(res["compare"]["differences"]) == {"curated-raw", "curated-random", "curated-longest",
                                                  "curated-clean-oracle"}
    saved = orjson.loads((tmp_path / "res" / "experiment_tatoeba_quick.json").read_bytes())
    assert saved["curated_by"] == res["curated_by"]
    md = (tmp_path / "res" / "experiment_tatoeba_quick.md").read_text()
    assert "| curated |" in md and "| random |" in md and "| longest |" in md and "Verdict" in md
