"""``exact_duplicate``: the same (system, prompt, output) as an earlier row, after normalization.

Two rows are the same training example when their system prompt, prompt and
answer are equal after Unicode NFKC, lower-casing and whitespace collapsing
(:func:`finesift.checks.base.normalize_text`; the ``content_hash`` feature hashes the
three normalized fields, computed once per batch and shared with the other checks).

Rows equal only once punctuation and all whitespace are dropped as well ("Je suis malade." /
"Je suis malade", "Je suismalade.") are not exact duplicates: punctuation can be content ("Tu
viens." / "Tu viens ?"), so they are ``near_duplicate`` (similarity 1, gated by prompt similarity;
see its docstring), and this check's key stays the ``content_hash`` that the unique-row count and
curate's identical-row test share.

Every group of equal rows keeps one member - the lowest ``row`` at audit time
(curate may later keep the best one by quality instead) - and flags the others.

Columns:

* ``exact_duplicate_group_size`` (int32, 1..n): rows in this row's group; 1 = unique,
  higher = more copies.
* ``exact_duplicate_of`` (int64, partner): ``row`` of the kept member, null for the kept
  member and for unique rows.

A row is flagged when it has a partner and its group has at least ``min_group_size`` rows.
The state is 16 bytes per row (``row`` and the 64-bit xxh3 content hash: two different
examples share a hash with probability ~n^2/2^65, 3e-8 for a million rows), so it streams and
merges across blocks; ``finalize`` groups the hashes once. The text normalization and hashing
are features (~1.5 s per column per million rows on a busy 2-core machine).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ._groups import first_ids, lowest_member, nullable_int, positions_of, row_ids
from .base import CheckParams, DatasetCheck, Score, Threshold, decision, register


class ExactDuplicateParams(CheckParams):
    min_group_size: int = decision(2)
    """Flag copies only in groups of at least this many rows (2 = every copy)."""


@register
class ExactDuplicate(DatasetCheck):
    name = "exact_duplicate"
    description = "Same system prompt, prompt and answer as an earlier row (after normalization)."
    scores = {
        "exact_duplicate_group_size": Score(
            "rows sharing this row's normalized (system, prompt, output) (1..n); 1 = unique, "
            "higher = more copies", 1, None, worse="higher"),
    }
    default = True
    order = 10
    weight = 0.0
    relation = "duplicate"
    threshold = Threshold("min_group_size", "exact_duplicate_group_size", ">=")
    partner_column = "exact_duplicate_of"
    Params = ExactDuplicateParams
    needs = ("content_hash",)

    def fit(self, batch: pa.Table) -> dict[str, np.ndarray]:
        return {"rows": row_ids(batch),
                "key": np.asarray(batch["content_hash"].to_numpy(zero_copy_only=False), dtype=np.uint64)}

    def finalize(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = state["rows"]
        gid, uniq = first_ids(state["key"])
        kept = lowest_member(gid, rows, len(uniq))
        kept_pos = kept[gid]
        return {"rows": rows, "size": np.bincount(gid, minlength=len(uniq))[gid].astype(np.int32),
                "partner": rows[kept_pos], "copy": kept_pos != np.arange(len(rows))}

    def score(self, batch: pa.Table, state: dict[str, np.ndarray]) -> pa.Table:
        pos = positions_of(row_ids(batch), state["rows"])
        return pa.table({
            "exact_duplicate_group_size": pa.array(state["size"][pos], pa.int32()),
            self.partner_column: nullable_int(state["partner"][pos], state["copy"][pos]),
        })

    def decide(self, scores: pa.Table) -> np.ndarray:
        has_partner = scores[self.partner_column].is_valid().to_numpy(zero_copy_only=False)
        size = scores["exact_duplicate_group_size"].to_numpy(zero_copy_only=False)
        return has_partner & (size >= self.params.min_group_size)
