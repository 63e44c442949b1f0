"""``leakage``: training rows that duplicate eval rows (prompt, prompt+answer or long answer)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from finesift.checks.leakage import MAX_CANDIDATES, Leakage
from finesift.config import AuditConfig
from finesift.engine.local import run_checks, score_table
from finesift.errors import ConfigError
from finesift.io import read

LONG = "The mitochondria is the powerhouse of the cell because it produces most of the chemical energy"

EVAL = [
    {"instruction": "Translate to French: The cat sleeps on the red sofa all afternoon.", "output": "Le chat dort."},
    {"instruction": "Explain why the sky is blue to a ten year old child.", "output": "Because of scattering."},
    {"instruction": "What does the mitochondria do?", "output": LONG},
    {"instruction": "Say yes.", "output": "Yes."},
]


def _write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _score(tmp_path, train, params=None, evals=EVAL, batch_size=None, **cfg):
    """Scores and flags of ``train`` against ``evals``, the eval set handed over as the engine does."""
    eval_path = _write(tmp_path, "eval.jsonl", evals)
    ds = read(str(_write(tmp_path, "train.jsonl", train)))
    check = Leakage(params)
    config = AuditConfig(checks=[], eval_data=str(eval_path), **cfg)
    scores = score_table(check, ds.table, config, {"eval_data": read(str(eval_path))}, batch_size=batch_size)
    return scores, check.decide(scores)


def test_exact_near_pair_and_answer_matches(tmp_path):
    train = [
        # 0: exact prompt (different answer): the eval question was seen
        {"instruction": "translate to french:  the cat sleeps on the RED sofa all afternoon.", "output": "Autre."},
        # 1: near prompt (one word changed out of many)
        {"instruction": "Explain why the sky is blue to a ten year old kid.", "output": "Light."},
        # 2: a different question whose long answer is the eval answer
        {"instruction": "Tell me about cells.", "output": LONG},
        # 3: a short stock answer shared with the eval set is not leakage
        {"instruction": "Do you agree?", "output": "Yes."},
        # 4: unrelated
        {"instruction": "Write a haiku about autumn leaves falling slowly.", "output": "Leaves fall..."},
    ]
    scores, flags = _score(tmp_path, train)
    assert flags.tolist() == [True, True, True, False, False]
    assert scores["leakage_of"].to_pylist()[:3] == [0, 1, 2]  # indexes into the eval file
    assert scores["leakage_match"].to_pylist()[:3] == ["prompt", "prompt", "answer"]
    j = scores["leakage_jaccard"].to_pylist()
    assert j[0] == 1.0 and 0.8 <= j[1] < 1.0 and j[2] == 1.0
    assert scores["leakage_cosine"].null_count == len(train)  # semantic matching is off without embeddings


def test_answers_alone_can_be_ignored(tmp_path):
    train = [{"instruction": "Tell me about cells.", "output": LONG}]
    _, flags = _score(tmp_path, train, {"compare_answers": False})
    assert not flags.any()


def test_threshold_is_redecided_from_stored_scores(tmp_path):
    train = [{"instruction": "Explain why the sky is blue to a ten year old kid.", "output": "Light."}]
    scores, flags = _score(tmp_path, train)
    assert flags[0]
    assert not Leakage({"near_threshold": 0.99}).decide(scores)[0]


def test_needs_an_eval_file(tmp_path):
    ds = read(str(_write(tmp_path, "train.jsonl", [{"instruction": "a", "output": "b"}])))
    with pytest.raises(ConfigError, match="--eval"):
        score_table(Leakage(), ds.table, AuditConfig(checks=[]))


def test_the_eval_set_comes_from_the_engine_and_any_batch_size_gives_the_same_scores(tmp_path):
    """``score`` reads no file: the eval set is the Dataset the engine read once (the config's path is
    only reported), and scores, partners and facts do not depend on the batch size."""
    train = [
        {"instruction": "translate to french:  the cat sleeps on the RED sofa all afternoon.", "output": "Autre."},
        {"instruction": "Explain why the sky is blue to a ten year old kid.", "output": "Light."},
        {"instruction": "Tell me about cells.", "output": LONG},
        {"instruction": "Do you agree?", "output": "Yes."},
        {"instruction": "Explain why the sky is blue to a ten year old kid.", "output": "Light."},
    ]
    ds = read(str(_write(tmp_path, "train.jsonl", train)))
    evals = read(str(_write(tmp_path, "eval.jsonl", EVAL)))
    config = AuditConfig(checks=[], eval_data=str(tmp_path / "gone.jsonl"))  # no such file
    runs = [run_checks(ds.table, [Leakage()], config, inputs={"eval_data": evals}, batch_size=size)
            for size in (1, 2, len(train))]
    for res in runs:
        assert res.scores.equals(runs[-1].scores)
        assert res.facts["leakage"] == {"eval": str(tmp_path / "gone.jsonl"), "eval_rows": len(EVAL)}
    assert runs[0].scores["leakage_of"].to_pylist() == [0, 1, 2, None, 1]


def test_semantic_matching_needs_prompt_and_answer(tmp_path, monkeypatch):
    """A paraphrase of the whole eval item leaks; a paraphrased prompt with another answer does not."""
    import finesift.models.embeddings as emb

    slots: dict[str, int] = {}

    def fake_embed(texts, backend="static", **_):
        # texts with the same keyword share one direction; every other distinct text gets its own
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            key = next((k for k in ("sky", "azure", "scatter") if k in t), t)
            key = "sky" if key == "azure" else key
            out[i, slots.setdefault(key, len(slots))] = 1.0
        return out

    monkeypatch.setattr(emb, "embed", fake_embed)
    train = [{"instruction": "Why is the azure dome above us coloured like that, for kids?",
              "output": "Light scatters."},
             {"instruction": "Why is the azure dome above us coloured like that, for kids?", "output": "Magic."},
             {"instruction": "Write a poem.", "output": "Roses."}]
    scores, flags = _score(tmp_path, train, {"semantic": True})
    assert flags.tolist() == [True, False, False]
    assert scores["leakage_of"][0].as_py() == 1 and scores["leakage_match"][0].as_py() == "pair"
    assert scores["leakage_cosine"][0].as_py() >= 0.95
    assert scores["leakage_jaccard"][0].as_py() < 0.8


def test_templated_eval_set_costs_a_bounded_number_of_candidates(tmp_path, monkeypatch):
    """An eval set of one template: every eval row is a candidate of every training row. Each
    training row verifies at most MAX_CANDIDATES of them (it verified all: quadratic), and the
    best match is still found (ties: the lowest eval index)."""
    import finesift.checks._shingles as sh

    body = "{w} premium red product is built to last and designed for everyday use at home item {i}"
    evals = [{"instruction": f"Describe item {i}.", "output": body.format(w="this", i=i)} for i in range(600)]
    train = [{"instruction": f"Describe product {i}.", "output": body.format(w="our", i=i)} for i in range(600)]
    eval_path = _write(tmp_path, "eval.jsonl", evals)
    ds = read(str(_write(tmp_path, "train.jsonl", train)))
    import finesift.checks.leakage as leakage

    verified = []  # pairs whose exact Jaccard is computed
    jaccard = sh.jaccard
    monkeypatch.setattr(sh, "jaccard", lambda v, o, a, b: verified.append(len(a)) or jaccard(v, o, a, b))
    one = getattr(leakage, "_jaccard", None)  # a per-pair Python verification counts too
    if one is not None:
        monkeypatch.setattr(leakage, "_jaccard", lambda a, b: verified.append(1) or one(a, b))
    check = Leakage({"compare_answers": True, "near_threshold": 0.7})
    scores = score_table(check, ds.table, AuditConfig(checks=[], eval_data=str(eval_path)),
                         {"eval_data": read(str(eval_path))})
    assert sum(verified) <= 3 * len(train) * MAX_CANDIDATES
    assert sum(verified) < len(train) * len(evals) / 4
    assert check.decide(scores).all()  # every answer is one word from an eval answer
    assert min(scores["leakage_jaccard"].to_pylist()) >= 0.7


def test_a_templated_dataset_against_a_templated_eval_set_has_bounded_cost(tmp_path, monkeypatch):
    """20k training rows and 2k eval rows of one template (issue 7 item 9): every text sits in one huge
    LSH cluster, so verifying every candidate would be 20k x 2k pairs per part. Each training text
    verifies a few of the cluster's first eval texts (MinHashLSH's huge-cluster cap) and the leaks are
    still found: every row is within the threshold of the template, and rows whose prompt was copied
    into the eval set point at that copy."""
    import finesift.checks._shingles as sh
    from finesift.checks._minhash import MinHashLSH

    # long enough that two items of the template are well above the threshold (Jaccard 0.91): LSH finds them
    body = ("This premium {c} product is built to last and designed for everyday use at home, at work and "
            "on the go. It combines a durable frame, a soft-touch finish and a lightweight build, so it is "
            "easy to carry and pleasant to hold. Item {i} ships with a two-year warranty, free returns "
            "within thirty days and a quick start guide. Order today and enjoy fast, reliable delivery.")
    colors = ("red", "blue", "green", "black")

    def row(i, verb="Write"):
        return {"instruction": f"{verb} a product description for item {i}.",
                "output": body.format(i=i, c=colors[i % len(colors)])}

    train = [row(i) for i in range(20_000)]
    copied = list(range(0, 20_000, 1000))
    evals = [row(i, "Compose") for i in range(20_000, 21_980)] + [train[i] for i in copied]
    verified = []
    jaccard = sh.jaccard
    monkeypatch.setattr(sh, "jaccard", lambda v, o, a, b: verified.append(len(a)) or jaccard(v, o, a, b))
    scores, flags = _score(tmp_path, train, evals=evals)
    cap = MinHashLSH.HUGE_CANDIDATES * MinHashLSH.HUGE_BANDS
    assert sum(verified) <= 3 * len(train) * cap  # it was 3 x 20k x 2k before the cap: quadratic
    assert flags.all()
    of = scores["leakage_of"].to_pylist()
    assert [of[i] for i in copied] == list(range(1980, 2000))
    assert {scores["leakage_match"][i].as_py() for i in copied} == {"prompt"}
    assert {scores["leakage_jaccard"][i].as_py() for i in copied} == {1.0}
