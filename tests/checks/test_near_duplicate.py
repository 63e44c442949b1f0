import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks import _shingles as sh
from finesift.checks._groups import components
from finesift.checks.near_duplicate import NearDuplicate, auto_bands
from finesift.engine.local import score_table
from finesift.errors import ConfigError
from tests.checks._helpers import records_table, run_check


def _table(prompts, outputs, rows=None):
    return records_table(prompts, outputs, rows=rows)


def _run(table, params=None):
    return run_check(NearDuplicate, table, params)


LONG = "the quick brown fox jumps over the lazy dog near the river bank today"


def test_fires_on_an_answer_with_one_word_changed():
    t = _table(["Describe the scene."] * 3,
               [LONG, LONG.replace("lazy", "sleepy"), "a completely different answer about cooking pasta at home"])
    scores, flagged = _run(t)
    assert flagged.tolist() == [False, True, False]
    assert scores["near_duplicate_of"].to_pylist() == [None, 0, None]
    sim = scores["near_duplicate_similarity"].to_pylist()
    assert 0.5 <= sim[1] < 1.0 and sim[0] == 0.0


def test_quiet_on_short_answers_that_differ_by_a_word():
    t = _table(["Translate to French: That's my cat.", "Translate to French: That's my dog."],
               ["C'est mon chat.", "C'est mon chien."])
    _, flagged = _run(t)
    assert not flagged.any()


def test_same_answer_needs_a_similar_prompt():
    t = _table(["What is the capital of France?", "Name the largest city in France.", "Tell me, what is the capital of France?"],
               ["Paris is the capital and largest city of France, on the Seine."] * 3)
    scores, flagged = _run(t)
    assert flagged.tolist() == [False, False, True]
    assert scores["near_duplicate_of"].to_pylist()[2] == 0
    # without the prompt gate every copy of the answer is a near duplicate
    _, flagged = _run(t, {"prompt_threshold": 0})
    assert flagged.tolist() == [False, True, True]


def test_exact_duplicates_are_left_to_exact_duplicate():
    t = _table(["q", "Q "], [LONG, LONG.upper()])
    scores, flagged = _run(t)
    assert not flagged.any() and scores["near_duplicate_of"].null_count == 2


def test_empty_answers_are_never_grouped():
    _, flagged = _run(_table(["q", "q", "q", "q"], ["", "...", None, "?!"]))
    assert not flagged.any()
    # without the prompt gate too (answers without a letter or digit share an empty canonical key)
    _, flagged = _run(_table(["q", "q", "q"], ["...", "?!", " - "]), {"prompt_threshold": 0})
    assert not flagged.any()


def test_short_answers_differing_only_in_case_whitespace_or_punctuation_are_near_duplicates():
    """issue 9 item 3: too few shingles to index, yet the same words; a dropped or inserted space
    changes the words themselves, so only the canonical key (punctuation and spaces dropped) links them."""
    prompt = "Translate to French: I'm sick."
    outputs = ["Je suis malade.", "Je suis malade", "je suis  malade !", "Je suismalade.", "Je suis ma lade.",
               "Je suis\u202fmalade\u00a0?", "Je suis malade..."]
    t = _table([prompt] * len(outputs), outputs)
    for batch_size in (None, 2):
        check = NearDuplicate()
        scores = score_table(check, t, batch_size=batch_size)
        assert check.decide(scores).tolist() == [False] + [True] * (len(outputs) - 1)
        assert scores["near_duplicate_of"].to_pylist() == [None] + [0] * (len(outputs) - 1)
        assert scores["near_duplicate_similarity"].to_pylist()[1:] == [1.0] * (len(outputs) - 1)


def test_prompts_equal_once_spaces_and_punctuation_are_dropped_pass_the_prompt_gate():
    # "Whereis" makes other 2-grams: word-shingle Jaccard 0.375 < prompt_threshold
    t = _table(["Translate to French: Where is the station?", "Translate to French:  Whereis the station"],
               ["Où est la gare ?", "Où est la gare ?"])
    scores, flagged = _run(t)
    assert flagged.tolist() == [False, True] and scores["near_duplicate_of"].to_pylist() == [None, 0]


def test_canonical_key_keeps_words_accents_and_the_prompt_gate():
    # different words, accents (ou / où are two words) and dissimilar prompts (a statement and a question
    # whose answers differ only by their final mark) stay apart
    t = _table(["Translate to French: That's my cat.", "Translate to French: That's my dog.",
                "Translate to French: Or is it?", "Translate to French: Where is it?",
                "Translate to French: You're coming.", "Translate to French: Are you coming?"],
               ["C'est mon chat.", "C'est mon chien", "Ou est-ce ?", "Où est-ce ?", "Tu viens.", "Tu viens ?"])
    _, flagged = _run(t)
    assert not flagged.any()


def test_union_find_chains_and_keep_first_does_not():
    a = "one two three four five six seven eight nine ten"
    b = "one two three four five six seven eleven twelve thirteen"     # ~0.5 with a and c
    c = "one two three four five fourteen seven eleven twelve thirteen"  # < 0.5 with a
    t = _table(["p"] * 3, [a, b, c])
    _, kf = _run(t, {"grouping": "keep_first", "threshold": 0.4})
    scores, uf = _run(t, {"grouping": "union_find", "threshold": 0.4})
    assert kf.tolist() == [False, True, False]
    assert uf.tolist() == [False, True, True]
    assert scores["near_duplicate_of"].to_pylist() == [None, 0, 0]


def test_params_are_validated():
    with pytest.raises(ConfigError):
        NearDuplicate({"num_perm": 128, "num_bands": 24})
    with pytest.raises(ConfigError):
        NearDuplicate({"fields": ["instruction"]})


def test_auto_bands_favours_recall_at_the_threshold():
    b = auto_bands(128, 0.5)
    r = 128 // b
    assert 1 - (1 - 0.6 ** r) ** b > 0.95  # pairs a bit above the threshold are almost always candidates


VOCAB = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"]


@st.composite
def near_dup_dataset(draw):
    bases = draw(st.lists(st.lists(st.sampled_from(VOCAB), min_size=8, max_size=12), min_size=1, max_size=4))
    rows = []
    for _ in range(draw(st.integers(2, 16))):
        words = list(draw(st.sampled_from(bases)))
        for _ in range(draw(st.integers(0, 3))):  # a few edits make near (or not so near) duplicates
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(VOCAB))
        rows.append(" ".join(words))
    return rows


@settings(max_examples=40, deadline=None)
@given(near_dup_dataset())
def test_keep_first_invariants(outputs):
    scores, flagged = _run(_table(["same prompt"] * len(outputs), outputs))
    partner = scores["near_duplicate_of"].to_pylist()
    sim = scores["near_duplicate_similarity"].to_numpy()
    for i in np.flatnonzero(flagged):
        assert partner[i] < i and not flagged[partner[i]]  # points at an earlier row that is kept
        assert sim[i] >= 0.5 - 1e-6
    assert (sim[~flagged] == 0).all()


@settings(max_examples=30, deadline=None)
@given(near_dup_dataset(), st.randoms(use_true_random=False))
def test_union_find_groups_do_not_depend_on_row_order(outputs, rnd):
    params = {"grouping": "union_find", "min_shingles": 0}

    def groups(order):
        t = _table(["same prompt"] * len(order), [outputs[i] for i in order], rows=order)
        scores, flagged = _run(t, params)
        partner = scores["near_duplicate_of"].to_pylist()
        out = {}
        for pos, row in enumerate(order):
            out.setdefault(partner[pos] if flagged[pos] else row, set()).add(row)
        # exact copies are not flagged here: merge them into the group of their kept copy
        merged = {}
        for head, members in out.items():
            key = next((h for h in merged if outputs[h] == outputs[head]), head)
            merged.setdefault(key, set()).update(members)
        return {frozenset(m) for m in merged.values()}, {min(m) for m in merged.values()}

    perm = list(range(len(outputs)))
    rnd.shuffle(perm)
    g1, kept1 = groups(list(range(len(outputs))))
    g2, kept2 = groups(perm)
    assert g1 == g2 and kept1 == kept2  # same groups, and each keeps its lowest row


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), max_size=12), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=20))
def test_set_intersections_match_python_sets(sets, pairs):
    pairs = [(a % len(sets), b % len(sets)) for a, b in pairs]
    values = np.array([sh.mix64(np.array([x], np.uint64))[0] for s in sets for x in s], dtype=np.uint64)
    offsets = np.r_[0, np.cumsum([len(s) for s in sets])]
    v, o = sh.unique_sets(values, offsets)
    a = np.array([p[0] for p in pairs], np.int64)
    b = np.array([p[1] for p in pairs], np.int64)
    got = sh.intersections(v, o, a, b)
    assert got.tolist() == [len(set(sets[x]) & set(sets[y])) for x, y in pairs]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30), st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), max_size=40))
def test_components_match_a_python_union_find(n, edges):
    edges = [(a % n, b % n) for a, b in edges]
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    labels = components(n, np.array([e[0] for e in edges], np.int64), np.array([e[1] for e in edges], np.int64))
    expected = [min(j for j in range(n) if find(j) == find(i)) for i in range(n)]
    assert labels.tolist() == expected


def test_agrees_with_third_party_near_duplicate_decisions_on_gpteacher(shared_data):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from _data import alpaca_table, gpteacher, prf

    rows, removed = gpteacher()
    scores, flagged = _run(alpaca_table(rows))
    result = prf(flagged.tolist(), removed)
    assert result["f1"] >= 0.82, result


def test_a_huge_cluster_of_templated_answers_costs_a_few_candidates_per_row(monkeypatch):
    # 200k templated rows took 72 s and 7.5 GB: every text of one huge LSH band group was
    # verified against max_candidates (256) earlier texts
    from finesift.checks import near_duplicate as nd

    n = 3000
    body = ("This premium {c} product is built to last and designed for everyday use at home, at work and on "
            "the go. It combines a durable frame, a soft-touch finish and a lightweight build. Item {i} ships "
            "with a two-year warranty, free returns within thirty days and a quick start guide.")
    colors = ("red", "blue", "green", "black", "white")
    prompts = [f"Write a product description for item {i}." for i in range(n)]
    outputs = [body.format(i=i, c=colors[i % 5]) for i in range(n)]
    pairs = []
    real = nd.MinHashLSH.pairs

    def counting(self, max_candidates):
        for ka, kb in real(self, max_candidates):
            pairs.append(len(ka))
            yield ka, kb

    monkeypatch.setattr(nd.MinHashLSH, "pairs", counting)
    scores, flags = run_check(NearDuplicate, _table(prompts, outputs))
    assert sum(pairs) <= n * nd.MinHashLSH.HUGE_CANDIDATES * nd.MinHashLSH.HUGE_BANDS
    assert sum(pairs) < n * 16  # was ~256 per row
    assert not flags[0] and flags[1:].all()
    assert set(scores["near_duplicate_of"].to_pylist()[1:]) == {0}


def test_candidate_search_memory_per_text_is_bounded_on_templated_texts():
    """Band groups are formed one band at a time, with int32 ids and only the members a later text
    can take: the candidate search over 5,000 templated texts peaks near 1 KB per text (all 32 bands
    at once in int64 took ~3 KB per text: 7.5 GB at 200k rows with the audit's other arrays)."""
    import tracemalloc

    from finesift.checks._minhash import lsh_index, shingle_sets

    body = ("this premium {c} product is built to last and designed for everyday use at home at work and on "
            "the go it combines a durable frame a soft touch finish and a lightweight build item {i} ships "
            "with a two year warranty free returns within thirty days and a quick start guide")
    colors = ("red", "blue", "green", "black", "white")
    values, offsets = shingle_sets(pa.array([body.format(i=i, c=colors[i % 5]) for i in range(5000)]), 2)
    index = lsh_index(values, offsets, 128, auto_bands(128, 0.5), 0.5, 0)
    tracemalloc.start()
    try:
        pairs = sum(len(a) for a, _ in index.pairs(256))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pairs > 0
    assert peak / len(index.docs) < 2000


def test_state_holds_hashes_and_shingle_sets_and_batches_merge_to_the_whole():
    """fit keeps per row only hashes, per distinct answer its shingle set (no answer text); states of
    batches that repeat answers and prompts across batches merge to what one batch gives."""
    from finesift.checks.features import add_features

    other = "a completely different answer about cooking pasta at home with friends"
    outputs = [LONG, other, LONG.replace("lazy", "sleepy"), LONG, other.replace("home", "work"), LONG]
    prompts = ["Describe the scene.", "Cook.", "Describe the scene!", "Describe it.", "Cook.", "Describe the scene."]
    t = add_features(_table(prompts, outputs, rows=[3, 0, 5, 1, 2, 4]), NearDuplicate.needs)
    check = NearDuplicate()
    parts = [check.fit(t.slice(0, 2)), check.fit(t.slice(2, 2)), check.fit(t.slice(4))]
    assert parts[0]["node"].dtype == np.uint64 and parts[0]["texts"].values.dtype == np.uint64
    state = check.finalize(check.merge(parts))
    whole = check.finalize(check.fit(t))
    for key in ("partner", "member", "sim"):
        assert state[key].tolist() == whole[key].tolist()
    scores = pa.concat_tables([check.score(t.slice(0, 3), state), check.score(t.slice(3), state)])
    assert scores.equals(run_check(NearDuplicate, t.select(["row", "system", "prompt", "output"]))[0])
    assert scores["near_duplicate_of"].to_pylist() == [None, None, 3, None, 0, None]


_CONTENT_ALPHABET = st.sampled_from(list("aAbé e\u0301,.!? \t\n'’\x1f-") + ["\u0928", "\u094d", "\u2019", "1", "😀"])


@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.text(_CONTENT_ALPHABET, max_size=12), min_size=1, max_size=12))
def test_content_keys_match_a_python_reference(texts):
    """content_keys(a) == content_keys(b) exactly when their letters, digits, marks and field
    separators are the same in the same order (Arrow and list input alike)."""
    import unicodedata

    def ref(t):
        return "".join(c for c in t if c.isalnum() or unicodedata.category(c)[0] == "M" or c == "\x1f" or ord(c) >= 0x30000)

    keys = sh.content_keys(pa.array(texts))
    assert keys.dtype == np.uint64 and np.array_equal(keys, sh.content_keys(texts))
    for i, a in enumerate(texts):
        assert (keys[i] == sh.EMPTY_KEY) == (ref(a) == "")
        for j, b in enumerate(texts):
            assert (keys[i] == keys[j]) == (ref(a) == ref(b))
