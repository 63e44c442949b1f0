"""Decisions feed back: thresholds that match the person, only where enough decisions exist."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finesift.review.feedback import MIN_DECISIONS, best_threshold, recipe_from_review
from finesift.review.store import ReviewStore


def test_best_threshold_matches_the_labels():
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7])
    drop = np.array([False, False, True, True, True, True])
    t, agree = best_threshold(s, drop, ">=", 0.5)
    assert t == 0.25 and agree == 6
    # low values flag (empty_output: chars < min_chars), integer parameter
    chars = np.array([0, 0, 1, 2, 5, 9])
    t, agree = best_threshold(chars, np.array([True, True, True, False, False, False]), "<", 1, integer=True)
    assert t == 2 and agree == 6
    # nothing should be flagged: the cut goes above every score
    t, agree = best_threshold(s, np.zeros(6, bool), ">=", 0.5)
    assert t > 0.7 and agree == 6


def _scores(folder, column, values):
    """Give rows 0..n-1 of the folder's audit the scores ``values`` (as if scored so)."""
    t = pq.read_table(folder / "audit.parquet")
    col = np.asarray(t[column].to_numpy(zero_copy_only=False), dtype=np.float32).copy()
    col[: len(values)] = values
    t = t.set_column(t.schema.get_field_index(column), column, pa.array(col, pa.float32()))
    pq.write_table(t, folder / "audit.parquet")


def test_recipe_follows_the_person_with_enough_decisions(curated):
    # 19 clean rows; the person rejects those whose truncation score is >= 0.3 (the recipe flags at 0.5)
    values = np.round(np.arange(19) / 40, 3)  # 0 .. 0.45
    _scores(curated, "truncated_output_score", values)
    store = ReviewStore(curated / "review.sqlite")
    for r, v in enumerate(values):
        store.record([(r, "reject" if v >= 0.3 else "accept", None, None)])
    recipe, changes = recipe_from_review(curated, min_decisions=10)
    new = recipe.thresholds["truncated_output"]["threshold"]
    assert 0.275 < new <= 0.3
    line = next(c for c in changes if c.startswith("truncated_output.threshold"))
    assert "0.5 -> " in line and "19/19" in line and "-0.2" in line

    # with the default minimum (20 rows) the 19 decisions are not enough: nothing changes, and it says so
    recipe, changes = recipe_from_review(curated)
    assert "truncated_output" not in recipe.thresholds
    assert any(c.startswith("truncated_output.threshold: kept at 0.5 (only 19 decided rows") and
               f"{MIN_DECISIONS} needed" in c for c in changes)


def test_agreeing_person_changes_nothing(curated):
    store = ReviewStore(curated / "review.sqlite")
    for r in range(19):
        store.record([(r, "accept", None, None)])
    recipe, changes = recipe_from_review(curated, min_decisions=10)
    assert recipe.thresholds == {}
    assert any("already matches 19/19" in c for c in changes)


def test_no_review_yet(curated):
    from finesift.errors import InputError

    with pytest.raises(InputError, match="nothing was reviewed"):
        recipe_from_review(curated)
