"""Duplicate and conflict groups keep their best member; others point at it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.curate.grouping import regroup, resolve_kept_instead
from finesift.curate.recipe import DEFAULT_DROP

DROP = list(DEFAULT_DROP)


def _audit(n, flags, **partners):
    cols = {"row": pa.array(range(n), pa.int64()), "flags": pa.array(flags, pa.list_(pa.string()))}
    for name, vals in partners.items():
        cols[name] = pa.array(vals, pa.int64())
    return pa.table(cols)


def test_best_member_is_kept_not_the_first():
    # rows 0,1,2 are exact copies; the audit kept row 0 (first seen); row 2 scores best
    audit = _audit(3, [[], ["exact_duplicate"], ["exact_duplicate"]], exact_duplicate_of=[None, 0, 0])
    g = regroup(audit, np.array([0.2, 0.5, 0.9]), DROP, content_key=["k", "k", "k"])
    assert g.flags == [["exact_duplicate"], ["exact_duplicate"], []]
    assert g.partners["exact_duplicate"].tolist() == [2, 2, -1]
    assert g.duplicate_of().tolist() == [2, 2, -1]
    assert g.stats["duplicates"]["keeper_changed"] == 1


def test_ties_go_to_the_lowest_row():
    audit = _audit(3, [["exact_duplicate"], [], ["exact_duplicate"]], exact_duplicate_of=[1, None, 1])
    g = regroup(audit, np.array([0.5, 0.5, 0.5]), DROP, content_key=["k"] * 3)
    assert g.flags == [[], ["exact_duplicate"], ["exact_duplicate"]]
    assert g.partners["exact_duplicate"].tolist() == [-1, 0, 0]


def test_a_cleaner_copy_wins_a_quality_tie_over_a_lower_row():
    from finesift.checks.features import add_features

    # row 0 is a whitespace-mangled, unpunctuated copy of row 1; both score the same quality
    texts = pa.table({"prompt": [" say  hi", "Say hi."], "output": ["hello ", "Hello."]})
    faults = add_features(texts, ["format_faults"])["format_faults"].to_numpy()
    assert faults[0] > faults[1] == 0
    audit = _audit(2, [[], ["near_duplicate"]], near_duplicate_of=[None, 0])
    g = regroup(audit, np.array([0.5, 0.5]), DROP, content_key=["a", "b"], faults=faults)
    assert g.flags == [["near_duplicate"], []] and g.partners["near_duplicate"].tolist() == [1, -1]


def test_a_member_rejected_for_another_reason_is_never_the_keeper():
    audit = _audit(2, [[], ["exact_duplicate", "pii"]], exact_duplicate_of=[None, 0])
    g = regroup(audit, np.array([0.1, 0.9]), DROP, content_key=["k", "k"])
    assert g.flags == [[], ["exact_duplicate", "pii"]]
    assert g.partners["exact_duplicate"].tolist() == [-1, 0]


def test_relation_to_the_new_keeper_is_the_weakest_link():
    # 1 is an exact copy of 0; 2 is a near duplicate of 0; 2 scores best
    audit = _audit(3, [[], ["exact_duplicate"], ["near_duplicate"]],
                   exact_duplicate_of=[None, 0, None], near_duplicate_of=[None, None, 0])
    g = regroup(audit, np.array([0.1, 0.2, 0.9]), DROP, content_key=["a", "a", "b"])
    assert g.flags == [["near_duplicate"], ["near_duplicate"], []]
    assert g.partners["near_duplicate"].tolist() == [2, 2, -1]
    assert g.partners["exact_duplicate"].tolist() == [-1, -1, -1]
    # if 1 scores best instead, 0 is its exact copy and 2 is near
    g = regroup(audit, np.array([0.1, 0.9, 0.2]), DROP, content_key=["a", "a", "b"])
    assert g.flags == [["exact_duplicate"], [], ["near_duplicate"]]


def test_codes_the_recipe_keeps_are_not_regrouped():
    audit = _audit(2, [[], ["exact_duplicate"]], exact_duplicate_of=[None, 0])
    g = regroup(audit, np.array([0.1, 0.9]), [c for c in DROP if c != "exact_duplicate"])
    assert g.flags == [[], ["exact_duplicate"]]


def _conflict_audit():
    # prompt P: rows 0,1 give answer A (1 is an exact copy of 0), the check's preferred answer;
    # row 2 gives answer B, flagged conflict and pointing at A; B scores best on its own
    return _audit(3, [[], ["exact_duplicate"], ["conflict"]],
                  exact_duplicate_of=[None, 0, None], conflict_of=[0, 0, 0])


def test_conflict_keep_best_keeps_the_preferred_answer_in_its_best_copy():
    g = regroup(_conflict_audit(), np.array([0.3, 0.4, 0.9]), DROP, "keep_best",
                answer_key=["a", "a", "b"], content_key=["pa", "pa", "pb"])
    assert g.flags == [["exact_duplicate"], [], ["conflict"]]
    assert g.partners["conflict"].tolist() == [-1, -1, 1]
    assert g.partners["exact_duplicate"].tolist() == [1, -1, -1]
    assert g.stats["conflicts"]["kept_preferred_answer"] == 1


def test_conflict_falls_back_to_the_majority_answer():
    # the preferred answer A (row 0) has PII; B has two copies, C scores best alone
    audit = _audit(4, [["pii"], ["conflict"], ["exact_duplicate", "conflict"], ["conflict"]],
                   exact_duplicate_of=[None, None, 1, None], conflict_of=[1, 0, 0, 0])
    g = regroup(audit, np.array([0.9, 0.5, 0.6, 0.9]), DROP, "keep_best",
                answer_key=["a", "b", "b", "c"], content_key=["pa", "pb", "pb", "pc"])
    assert g.flags == [["conflict", "pii"], ["exact_duplicate"], [], ["conflict"]]
    assert g.partners["conflict"].tolist() == [2, -1, -1, 2]
    assert g.stats["conflicts"]["kept_majority_answer"] == 1


def test_conflict_without_majority_keeps_the_best_score():
    audit = _audit(3, [["pii"], ["conflict"], ["conflict"]], conflict_of=[1, 0, 0])
    g = regroup(audit, np.array([0.3, 0.8, 0.5]), DROP, "keep_best", answer_key=["a", "b", "c"])
    assert g.flags == [["conflict", "pii"], [], ["conflict"]]
    assert g.partners["conflict"].tolist() == [1, -1, 1]
    assert g.stats["conflicts"]["kept_best_score"] == 1


def test_conflict_drop_group_rejects_every_member():
    g = regroup(_conflict_audit(), np.array([0.3, 0.4, 0.9]), DROP, "drop_group",
                answer_key=["a", "a", "b"], content_key=["pa", "pa", "pb"])
    assert all("conflict" in f for f in g.flags)


def test_unflagged_alternatives_are_not_part_of_the_conflict():
    # rows 0 and 1 are two valid answers the check left alone; row 2 conflicts with row 0
    audit = _audit(3, [[], [], ["conflict"]], conflict_of=[2, None, 0])
    audit = audit.append_column("conflict_group", pa.array([0, 0, 0], pa.int64()))
    g = regroup(audit, np.array([0.5, 0.9, 0.7]), DROP, "keep_best", answer_key=["a", "b", "c"])
    assert g.flags == [[], [], ["conflict"]]
    assert g.partners["conflict"].tolist() == [-1, -1, 0]


def test_conflict_group_column_also_defines_groups():
    audit = _audit(3, [["conflict"], ["conflict"], []], conflict_of=[None, None, None])
    audit = audit.append_column("conflict_group", pa.array([7, 7, 7], pa.int64()))
    g = regroup(audit, np.array([0.2, 0.6, 0.9]), DROP, "keep_best", answer_key=["a", "b", "c"])
    assert g.flags == [["conflict"], [], []]
    assert g.partners["conflict"].tolist() == [1, -1, -1]


def test_kept_instead_follows_the_chain_to_a_kept_row():
    dup = np.array([1, 2, -1, 3, -1])
    kept = np.array([False, False, True, False, False])
    # 0 -> 1 -> 2 (kept); 3 points at itself (a cycle) and 4 at nothing
    assert resolve_kept_instead(dup, kept).tolist() == [2, 2, -1, -1, -1]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_duplicate_group_keeps_exactly_its_best_eligible_member(data):
    """Random star groups (as the audit emits them): one unflagged keeper per group, the best one."""
    n = data.draw(st.integers(2, 30))
    group = data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    quality = np.array(data.draw(st.lists(st.sampled_from([0.1, 0.5, 0.9]), min_size=n, max_size=n)))
    pii = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    first: dict[int, int] = {}
    flags, partner = [], []
    for r, gid in enumerate(group):
        f = ["pii"] if pii[r] else []
        if gid in first:
            flags.append(["exact_duplicate"] + f)
            partner.append(first[gid])
        else:
            first[gid] = r
            flags.append(f)
            partner.append(None)
    g = regroup(_audit(n, flags, exact_duplicate_of=partner), quality, DROP, content_key=group)
    for gid in set(group):
        members = [r for r in range(n) if group[r] == gid]
        if len(members) < 2:
            continue
        eligible = [m for m in members if not pii[m]]
        unflagged = [m for m in members if "exact_duplicate" not in g.flags[m]]
        if not eligible:
            continue
        best = min(eligible, key=lambda m: (-quality[m], m))
        assert unflagged == [best]
        assert all(g.partners["exact_duplicate"][m] == best for m in members if m != best)
