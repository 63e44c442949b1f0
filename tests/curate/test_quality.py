"""quality_score: documented formula, range, direction, determinism; diversity_figures."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from finesift.curate.quality import DEFAULT_WEIGHTS, diversity_figures, quality_score, rank01
from finesift.errors import ConfigError


def _audit(flags, **cols):
    return pa.table({"row": pa.array(range(len(flags)), pa.int64()),
                     "flags": pa.array(flags, pa.list_(pa.string())), **cols})


def test_issue_weights_compound_and_duplicates_cost_nothing():
    q = quality_score(_audit([[], ["empty_output"], ["typos"], ["typos", "format_outlier"], ["near_duplicate"],
                              ["some_new_code"]]))
    assert q[0] == 1.0 and q[1] == 0.0
    assert q[2] == pytest.approx(1 - DEFAULT_WEIGHTS["typos"])
    assert q[3] == pytest.approx((1 - DEFAULT_WEIGHTS["typos"]) * (1 - DEFAULT_WEIGHTS["format_outlier"]))
    assert q[4] == 1.0  # curate keeps the best copy: the flag must not pick it
    assert 0.0 < q[5] < 1.0


def test_heavy_issues_rank_below_light_ones():
    q = quality_score(_audit([["wrong_language"], ["truncated_output"], ["conflict"], ["typos"], []]))
    assert list(np.argsort(q)) == [0, 1, 2, 3, 4]


def test_misspelling_rate_ranks_unflagged_rows():
    q = quality_score(_audit([[], [], []], typos_output_rate=pa.array([0.0, 0.2, None], pa.float64())))
    assert q[0] == 1.0 and q[1] == pytest.approx(1 - 0.5 * 0.2) and q[2] == 1.0


def test_lm_scores_rank_within_the_dataset():
    audit = _audit([[], [], [], [], []], lm_ifd=pa.array([0.3, 0.9, 0.6, None, 0.6], pa.float32()),
                   lm_ppl=pa.array([5.0, 40.0, 10.0, None, 10.0], pa.float32()))
    q = quality_score(audit)
    assert q[0] == 1.0 and q[3] == 0.5  # best IFD and perplexity; missing scores rank worst
    assert q[0] > q[2] == q[4] > q[1] > q[3]
    assert np.all((q >= 0) & (q <= 1))
    assert quality_score(audit, {"lm_share": 0.0}).tolist() == [1.0] * 5


def test_weights_override_and_validation():
    audit = _audit([["typos"]])
    assert quality_score(audit, {"typos": 0.0})[0] == 1.0
    with pytest.raises(ConfigError, match="outside 0..1"):
        quality_score(audit, {"typos": 2})
    with pytest.raises(ConfigError, match="not a number"):
        quality_score(audit, {"typos": "high"})


def test_deterministic_and_empty():
    audit = _audit([["typos"], [], ["pii", "stale"]], lm_ifd=pa.array([0.5, 0.7, 0.2]), lm_ppl=pa.array([3.0, 9.0, 2.0]))
    assert np.array_equal(quality_score(audit), quality_score(audit))
    assert quality_score(_audit([])).shape == (0,)


def test_rank01_ties_and_nan():
    assert rank01(np.array([3.0, 1.0, 1.0, np.nan])).tolist() == [2 / 3, 1 / 6, 1 / 6, 1.0]
    assert rank01(np.array([7.0])).tolist() == [0.5]


def test_diversity_figures():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((50, 8))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = np.arange(50) % 5
    fig = diversity_figures(emb, labels)
    cos = emb @ emb.T
    brute = 1 - (cos.sum() - np.trace(cos)) / (50 * 49)
    assert fig["rows"] == 50 and fig["clusters_covered"] == 5
    assert fig["mean_pairwise_distance"] == pytest.approx(brute, abs=1e-6)
    same = diversity_figures(np.repeat(emb[:1], 4, axis=0), labels[:4])
    assert same["mean_pairwise_distance"] == pytest.approx(0.0, abs=1e-6)
    assert diversity_figures(emb[:1], None) == {"rows": 1, "clusters_covered": None, "mean_pairwise_distance": None}


def test_default_weights_are_the_checks_declared_weights():
    from finesift.checks.base import registry

    for name, cls in registry().items():
        assert DEFAULT_WEIGHTS[name] == cls.weight
    # a check's declared weight is what its flag costs
    table = pa.table({"flags": pa.array([["refusal_output"]], pa.list_(pa.string()))})
    assert quality_score(table)[0] == pytest.approx(1 - registry()["refusal_output"].weight)


def test_rows_the_lm_did_not_score_get_a_neutral_share():
    audit = _audit([[]] * 5, lm_ifd=pa.array([0.3, 0.5, 0.9, None, None], pa.float32()),
                   lm_ppl=pa.array([5.0, 10.0, 40.0, None, None], pa.float32()))
    q = quality_score(audit, lm_rows=np.array([True, True, True, True, False]))
    # ranked among the four rows the LM was asked to score (a missing score worst); the unscored row sits at
    # the mean rank, not below every scored row
    assert q[0] == 1.0 and q[3] == 0.5 and q[4] == pytest.approx(0.75)
    assert q[0] > q[1] > q[4] > q[2] > q[3]
    with pytest.raises(ValueError, match="lm_rows"):
        quality_score(audit, lm_rows=np.array([True]))


# --- soft signals -------------------------------------------------------------------------------

def test_soft_signals_name_evidence_short_of_a_flag():
    from finesift.curate.quality import soft_signals

    audit = _audit([[], [], [], ["typos"], []],
                   conflict_score=pa.array([0.0, 0.3, 0.1, 0.0, 0.0], pa.float32()),
                   conflict_group=pa.array([None, 7, 7, None, None], pa.int64()),
                   typos_output_count=pa.array([0, 0, 0, 2, 1], pa.int32()))
    sig = soft_signals(audit, {"conflict": 0.5}, answer_key=np.array([1, 2, 3, 4, 5]))
    assert sig[0] == []  # nothing against it
    # 0.3 is past half-way to the 0.5 threshold; 0.1 is not, but both answers of prompt group 7 are still here
    assert sig[1] == ["conflict~", "contested"] and sig[2] == ["contested"]
    assert sig[3] == ["typos"]  # a soft flag, named once
    assert sig[4] == ["typos"]  # one misspelled word, below the typos check's rate threshold
    # the same answer twice in a group is no contest
    assert soft_signals(audit, {"conflict": 0.5}, answer_key=np.array([1, 2, 2, 4, 5]))[2] == []


def test_format_variants_are_case_or_spacing_variants_of_the_dominant_head():
    from finesift.curate.quality import format_variants

    prompts = [f"Translate to French: word {i}." for i in range(8)]
    prompts += ["TRANSLATE TO FRENCH: shout.", "Translate to French:tight.", "Summarize: other task."]
    assert format_variants(prompts).tolist() == [False] * 8 + [True, True, False]
    # no head used by half the prompts: nothing is a variant
    assert not format_variants(["Summarize: a.", "SUMMARIZE: b.", "Explain: c.", "List: d."]).any()


def test_answer_evidence_tells_a_translation_from_an_answer_to_another_prompt():
    from finesift.curate.quality import ALIGN_Z, answer_evidence

    words = ["cat", "dog", "house", "tree", "river", "car", "book", "sun", "bird", "bread", "horse", "boat"]
    fr = ["chat", "chien", "maison", "arbre", "fleuve", "voiture", "livre", "soleil", "oiseau", "pain", "cheval",
          "bateau"]
    prompts, answers = [], []
    for i in range(len(words)):
        for j in range(len(words)):
            if i != j:
                prompts.append(f"Translate: the {words[i]} and the {words[j]}")
                answers.append(f"le {fr[i]} et le {fr[j]}")
    prompts.append("Translate: the cat and the dog")
    answers.append("le soleil et le pain")  # fluent, but another sentence's translation
    ev = answer_evidence(prompts, answers, seed=0)
    assert ev["z"][-1] < ALIGN_Z < np.nanmedian(ev["z"][:-1])
    again = answer_evidence(prompts, answers, seed=0)
    assert np.array_equal(ev["z"], again["z"], equal_nan=True)
