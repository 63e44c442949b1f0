import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.conflict import Conflict
from finesift.checks.features import add_features
from finesift.config import AuditConfig
from finesift.engine.local import score_table

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _data import WRONG_KINDS, alpaca_table, with_wrong_answers
from _tatoeba import clean_sample, pairs

from tests.checks._helpers import records_table, run_check


def _table(prompts, outputs, rows=None):
    return records_table(prompts, outputs, rows=rows)


def _run(table, params=None):
    return run_check(Conflict, table, params)


@pytest.fixture(scope="module")
def tatoeba():
    """2,000 clean Tatoeba rows, 100 injected wrong answers, and a few valid alternatives."""
    assert (Path(__file__).resolve().parents[3] / "shared" / "data").exists(), "tests read ../shared/data"
    rows = with_wrong_answers(clean_sample(2000, seed=0))
    extra = [("Run!", "Cours !", "clean"), ("Run!", "Courez !", "clean"), ("Hello!", "Salut !", "clean"),
             ("Hello!", "Bonjour !", "clean"), ("Hello!", "hello is bonjour", "is_style")]
    rows += [{"instruction": f"Translate to French: {en}", "input": "", "output": fr, "kind": k} for en, fr, k in extra]
    scores, flagged = _run(alpaca_table(rows))
    return rows, scores, flagged


def test_fires_on_wrong_answers_of_every_kind(tatoeba):
    rows, _, flagged = tatoeba
    caught = Counter(r["kind"] for r, f in zip(rows, flagged) if f)
    for kind in WRONG_KINDS:
        assert caught[kind] >= 15, caught  # of 20 each (measured: 94 of 100 here; bench_conflict.py)
    assert flagged[-1], "'hello is bonjour' next to 'Bonjour !'"


def test_quiet_on_clean_rows_and_valid_alternatives(tatoeba):
    rows, scores, flagged = tatoeba
    clean_flagged = [r for r, f in zip(rows, flagged) if f and r["kind"] == "clean"]
    assert clean_flagged == []
    # the clean sample has ~40 groups of valid alternative translations: all stay low
    sc = scores["conflict_score"].to_numpy()
    in_group = scores["conflict_group"].is_valid().to_numpy(zero_copy_only=False)
    kinds = np.array([r["kind"] for r in rows])
    valid = in_group & (kinds == "clean")
    wrong = kinds != "clean"
    assert valid.sum() > 100
    assert sc[valid].max() < 0.5 and np.median(sc[valid]) < np.median(sc[wrong]) - 0.3


def test_wrong_answer_scores_higher_than_the_right_one_in_its_group(tatoeba):
    rows, scores, _ = tatoeba
    sc = scores["conflict_score"].to_numpy()
    group = scores["conflict_group"].to_pylist()
    better = total = 0
    for i, r in enumerate(rows):
        if r["kind"] != "clean":
            right = [j for j, g in enumerate(group) if g == group[i] and rows[j]["kind"] == "clean"]
            total += 1
            better += all(sc[i] > sc[j] for j in right)
    assert better >= 0.9 * total


def test_a_fluent_answer_to_another_sentence_is_flagged_and_named():
    """The answer translates a sentence the dataset holds nowhere else (issue 9: caught 15% of the
    time when only other rows' copies counted): its alignment with its own prompt is no better than
    with random prompts, while its group's other answer's stands far above."""
    import random

    base = clean_sample(2000, seed=0)
    rng = random.Random(7)
    seen = {r["instruction"] for r in base}
    pool = [fr for en, fr in pairs() if f"Translate to French: {en}" not in seen]
    picked = rng.sample(range(len(base)), 40)
    rows = base + [dict(base[i], output=rng.choice(pool)) for i in picked]
    scores, flagged = _run(alpaca_table(rows))
    wrong = np.arange(len(base), len(rows))
    assert flagged[wrong].sum() >= 20, flagged[wrong].sum()  # measured 24 of 40 (5 before the baseline)
    assert flagged[: len(base)].sum() <= 2
    # the right answer is the representative the flagged one is said to conflict with
    partner = scores["conflict_of"].to_pylist()
    named = [partner[w] == picked[k] for k, w in enumerate(wrong) if flagged[w]]
    assert sum(named) >= 0.9 * len(named)


def test_identical_answers_are_not_conflicts():
    scores, flagged = _run(_table(["Translate: Run!", "Translate: Run!"], ["Cours !", "cours !"]))
    assert not flagged.any() and scores["conflict_group"].null_count == 2


def test_nearly_the_same_prompt_groups_together():
    t = _table(["Translate to French: Run!", "translate to French: run."], ["Cours !", "Courez !"])
    scores, _ = _run(t)
    assert scores["conflict_group"].to_pylist() == [0, 0]
    scores, _ = _run(t, {"loose_prompt": False})
    assert scores["conflict_group"].to_pylist() == [None, None]


def test_open_ended_prompts_are_skipped():
    t = _table(["Write a poem."] * 5, [f"poem number {i}" for i in range(5)])
    scores, _ = _run(t, {"max_answers": 4})
    assert scores["conflict_group"].null_count == 5


words = st.sampled_from(["a", "b", "c", "oui", "non", "the", "is", "cat", "chat"])
answer = st.lists(words, min_size=1, max_size=6).map(" ".join)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), answer), min_size=2, max_size=30))
def test_group_structure_invariants(pairs):
    prompts = [f"Question {q}?" for q, _ in pairs]
    outputs = [a for _, a in pairs]
    scores, _ = _run(_table(prompts, outputs))
    sc = scores["conflict_score"].to_numpy()
    group = scores["conflict_group"].to_pylist()
    partner = scores["conflict_of"].to_pylist()
    assert ((sc >= 0) & (sc <= 1)).all()
    for i, g in enumerate(group):
        same_q = [j for j in range(len(pairs)) if prompts[j] == prompts[i]]
        distinct = {outputs[j] for j in same_q}
        if g is None:
            assert partner[i] is None and sc[i] == 0 and len(distinct) < 2
            continue
        assert len(distinct) >= 2 and g == min(same_q)          # group id = lowest row of the group
        assert group[partner[i]] == g                           # partners stay inside the group
        assert outputs[partner[i]] != outputs[i]                # and carry another answer
    # a representative per group: the answer every other answer points at (unique from 3 answers)
    for g in {x for x in group if x is not None}:
        members = [i for i, x in enumerate(group) if x == g]
        targets = {partner[i] for i in members}
        reps = {outputs[t] for t in targets if all(partner[i] == t for i in members if outputs[i] != outputs[t])}
        assert len(reps) == 1 or (len(reps) == 2 and len({outputs[i] for i in members}) == 2)


def _mixed_table(rows=None):
    """Groups whose members fall in different batches, copies, a cut answer, an echo and a system prompt."""
    data = [("Translate to French: Run!", "Cours !"), ("Translate to French: Hello!", "Bonjour !"),
            ("Translate to French: Run.", "Courez !"), ("Translate to French: I am tired.", "Je suis fatigué."),
            ("Translate to French: Hello!", "Salut !"), ("Translate to French: I am tired.", "I am tired."),
            ("Translate to French: Run!", "Cours !"), ("Translate to French: I am tired.", "Je suis"),
            ("Translate to French: Hello!", "hello is bonjour"), ("Translate to French: Wait!", "Attends !"),
            ("Translate to French: I am tired.", "Je suis fatiguée."), ("Translate to French: Wait!", "Attendez !")]
    systems = [None] * len(data)
    systems[-1] = systems[-3] = "Be formal."  # a system prompt starts a group of its own
    return records_table([p for p, _ in data], [o for _, o in data], systems=systems, rows=rows)


def _by_hand(check, table, size):
    """fit on each batch, merge, finalize once, score each batch: what a streaming engine does."""
    batches = [add_features(table.slice(s, size), check.needs) for s in range(0, table.num_rows, size)]
    state = check.finalize(check.merge([check.fit(b) for b in batches]))
    return pa.concat_tables([check.score(b, state) for b in batches])


@pytest.mark.parametrize("rows", [None, [40, 3, 17, 8, 2, 30, 11, 5, 21, 9, 1, 14]])
def test_state_fitted_batch_by_batch_gives_the_whole_table_scores(rows):
    table = _mixed_table(rows)
    whole = score_table(Conflict(), table)
    assert whole["conflict_group"].null_count < table.num_rows and (whole["conflict_score"].to_numpy() >= 0.5).any()
    for size in (1, 3, 5):
        assert _by_hand(Conflict().bind(None), table, size).equals(whole), size
        assert score_table(Conflict(), table, batch_size=size).equals(whole), size
    # group ids and partners are rows, whatever order the rows come in
    members = {r: g for r, g in zip(table["row"].to_pylist(), whole["conflict_group"].to_pylist())}
    for r, g in members.items():
        assert g is None or g <= r


def test_state_keeps_hashes_per_row_and_one_text_per_item():
    check = Conflict().bind(AuditConfig(checks=["conflict"]))
    table = records_table(["Say hi."] * 50 + ["Say bye!", "say bye."], ["Hi!"] * 30 + ["Hello!"] * 20 + ["Bye", "Ciao"])
    state = check.fit(add_features(table, check.needs))
    assert len(state["rows"]) == len(state["gkey"]) == len(state["akey"]) == 52
    assert state["prompt"].to_pylist() == ["say hi.", "say hi.", "say bye!", "say bye."]
    assert state["answer"].to_pylist() == ["hi!", "hello!", "bye", "ciao"]
    assert state["text_rows"].tolist() == [0, 30, 50, 51]
    merged = check.merge([state, check.fit(add_features(table.slice(0, 0), check.needs))])
    assert merged["text_rows"].tolist() == [0, 30, 50, 51]
    scores = check.score(table, check.finalize(merged))
    assert scores["conflict_group"].to_pylist() == [0] * 50 + [50, 50]


def _evidence(seed: int):
    from finesift.checks.conflict import AnswerEvidence

    rng = np.random.default_rng(seed)
    vocab_p, vocab_a = [f"p{i}" for i in range(40)], [f"a{i}" for i in range(40)]
    prompts = [" ".join(rng.choice(vocab_p, rng.integers(1, 7))) for _ in range(300)]
    answers = [" ".join(rng.choice(vocab_a, rng.integers(1, 7))) for _ in range(300)]
    uprm, prm_idx = np.unique(np.asarray(prompts, dtype=object), return_inverse=True)
    uans, ans_idx = np.unique(np.asarray(answers, dtype=object), return_inverse=True)
    order = rng.permutation(300)[:200]
    pos = np.full(300, -1, dtype=np.int64)
    pos[order] = np.arange(200)
    return AnswerEvidence(list(uans), ans_idx.ravel(), list(uprm), prm_idx.ravel(), pos,
                          [answers[i] for i in order], [prompts[i] for i in order])


@pytest.mark.parametrize("seed", [0, 1])
def test_alignment_same_with_dense_and_hashed_pair_counts(monkeypatch, seed):
    """The dense matrix of pair counts and the hash table it stands in for give the same alignments,
    whatever the chunk size (items in and out of the sample, both directions, random prompts)."""
    from finesift.checks import conflict

    dense = _evidence(seed)
    got = (dense.alignment(), dense.prompt_z(8, seed))
    monkeypatch.setattr(conflict, "_DENSE_PAIRS", 0)
    monkeypatch.setattr(conflict, "_CHUNK_PAIRS", 7)
    hashed = _evidence(seed)
    want = (hashed.alignment(), hashed.prompt_z(8, seed))
    assert hashed._pair_keys()[2] is hashed._association_tables()[5]  # the hash path ran
    assert not np.isnan(got[1][0]).all()
    for g, w in zip(got, want):
        for x, y in zip(g, w):
            np.testing.assert_array_equal(x, y)
