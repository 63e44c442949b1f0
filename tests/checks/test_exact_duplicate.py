import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.base import normalize_text
from finesift.checks.exact_duplicate import ExactDuplicate
from tests.checks._helpers import records_table, run_check


def _table(prompts, outputs, systems=None, rows=None):
    return records_table(prompts, outputs, systems, rows)


def _run(table, params=None):
    return run_check(ExactDuplicate, table, params)


def test_fires_on_copies_after_case_whitespace_and_nfkc_normalization():
    t = _table(["Translate: Run!", "translate:  run!", "Translate: Run!", "Other"],
               ["Cours !", "COURS !", "Ｃｏｕｒｓ !", "Cours !"])
    scores, flagged = _run(t)
    assert flagged.tolist() == [False, True, True, False]
    assert scores["exact_duplicate_of"].to_pylist() == [None, 0, 0, None]
    assert scores["exact_duplicate_group_size"].to_pylist() == [3, 3, 3, 1]


def test_quiet_on_distinct_rows_and_system_prompt_matters():
    t = _table(["q", "q", "q"], ["a", "b", "a"], systems=["be terse", None, "be verbose"])
    _, flagged = _run(t)
    assert not flagged.any()


def test_kept_member_is_the_lowest_row_not_the_first_position():
    t = _table(["q", "q", "q"], ["a", "a", "a"], rows=[7, 3, 5])
    scores, flagged = _run(t)
    assert flagged.tolist() == [True, False, True]
    assert scores["exact_duplicate_of"].to_pylist() == [3, None, 3]


def test_min_group_size_is_a_decide_threshold():
    t = _table(["q", "q", "r", "r", "r"], ["a", "a", "b", "b", "b"])
    scores, _ = _run(t)
    check = ExactDuplicate({"min_group_size": 3})
    assert check.decide(scores).tolist() == [False, False, False, True, True]


def test_empty_table():
    scores, flagged = _run(_table([], []))
    assert scores.num_rows == 0 and len(flagged) == 0


texts = st.sampled_from(["a", "A", " a ", "b", "b  c", "B C", "", None])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_invariants(pairs, rnd):
    prompts, outputs = [p for p, _ in pairs], [o for _, o in pairs]
    t = _table(prompts, outputs)
    scores, flagged = _run(t)
    partner = scores["exact_duplicate_of"].to_pylist()
    key = list(zip(normalize_text(pa.array(prompts, pa.string())).to_pylist(),
                   normalize_text(pa.array(outputs, pa.string())).to_pylist()))
    for i, p in enumerate(partner):
        if flagged[i]:
            assert p < i and not flagged[p] and key[p] == key[i]  # points at an unflagged, equal, earlier row
    # exactly one kept member per distinct key
    assert (~flagged).sum() == len(set(key))
    # row order does not matter up to relabelling: same groups, same number flagged
    perm = list(range(len(pairs)))
    rnd.shuffle(perm)
    t2 = _table([prompts[i] for i in perm], [outputs[i] for i in perm], rows=perm)
    scores2, flagged2 = _run(t2)
    assert flagged2.sum() == flagged.sum()
    sizes = dict(zip(perm, scores2["exact_duplicate_group_size"].to_pylist()))
    assert [sizes[i] for i in range(len(pairs))] == scores["exact_duplicate_group_size"].to_pylist()
    # the kept member of each group is its lowest row whatever the order
    kept2 = {perm[i] for i in np.flatnonzero(~flagged2)}
    assert kept2 == set(np.flatnonzero(~flagged).tolist())


def test_state_is_a_row_and_a_hash_per_row_and_batches_merge_to_the_whole():
    from finesift.checks.features import add_features

    t = add_features(_table(["q", "r", "q", "q", "s", "r"], ["a", "b", "A", "c", "d", "b "], rows=[4, 0, 2, 5, 1, 3]),
                     ExactDuplicate.needs)
    check = ExactDuplicate()
    parts = [check.fit(t.slice(0, 2)), check.fit(t.slice(2, 3)), check.fit(t.slice(5))]
    assert all(set(s) == {"rows", "key"} and s["key"].dtype == np.uint64 for s in parts)
    state = check.finalize(check.merge(parts))
    whole = check.finalize(check.merge([check.fit(t)]))
    for key in ("size", "partner", "copy"):
        assert state[key].tolist() == whole[key].tolist()
    scores = check.score(t.slice(0, 3), state)
    assert scores["exact_duplicate_of"].to_pylist() == [2, None, None]
    assert scores["exact_duplicate_group_size"].to_pylist() == [2, 2, 2]
