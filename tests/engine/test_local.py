"""The local engine: features once per batch, checks in ``reads`` order, dataset states merged across batches."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from finesift.checks.base import DatasetCheck, RowCheck, Score, batch_positions, merge_row_states
from finesift.engine.local import ordered, run_checks


class _Copies(DatasetCheck):
    """How many rows of the whole dataset share this row's normalized answer (a toy dataset check)."""

    name = "toy_copies"
    description = "toy"
    scores = {"toy_copies_n": Score("rows with the same normalized answer", 1, None)}
    needs = ("norm_output",)

    def fit(self, batch):
        return {"rows": batch["row"].to_numpy(), "key": batch["norm_output"].combine_chunks()
                if isinstance(batch["norm_output"], pa.ChunkedArray) else batch["norm_output"]}

    def finalize(self, state):
        ids = np.asarray(state["key"].dictionary_encode().indices.to_numpy(zero_copy_only=False))
        return {"rows": state["rows"], "n": np.bincount(ids)[ids]}

    def score(self, batch, state):
        return pa.table({"toy_copies_n": pa.array(state["n"][batch_positions(batch, state["rows"])])})


class _Double(RowCheck):
    """Reads the dataset check's column: it must run after it, whatever the configured order."""

    name = "toy_double"
    description = "toy"
    scores = {"toy_double_n": Score("twice toy_copies_n")}
    reads = ("toy_copies",)

    def score(self, batch):
        return pa.table({"toy_double_n": pa.array(2 * batch["toy_copies_n"].to_numpy())})


def _table():
    outs = ["Oui", "oui ", "Non", "OUI", "peut-être", "non", "Non"]
    return pa.table({"row": pa.array(range(len(outs)), pa.int64()), "prompt": ["q"] * len(outs),
                     "output": outs})


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_dataset_state_spans_batches_and_readers_run_after_what_they_read(size):
    res = run_checks(_table(), [_Double(), _Copies()], None, batch_size=size)
    assert res.scores["toy_copies_n"].to_pylist() == [3, 3, 3, 3, 1, 3, 3]
    assert res.scores["toy_double_n"].to_pylist() == [6, 6, 6, 6, 2, 6, 6]
    assert res.scores.column_names == ["toy_double_n", "toy_copies_n"]  # output follows the configured order
    assert [c.name for c in ordered([_Double(), _Copies()])] == ["toy_copies", "toy_double"]


def test_merge_row_states_concatenates_in_order_and_positions_are_checked():
    a = {"rows": np.array([0, 1]), "vals": [1, 2], "arr": pa.array(["x", "y"])}
    b = {"rows": np.array([2]), "vals": [3], "arr": pa.array(["z"])}
    m = merge_row_states([a, b])
    assert m["rows"].tolist() == [0, 1, 2] and m["vals"] == [1, 2, 3] and m["arr"].to_pylist() == ["x", "y", "z"]
    assert merge_row_states([a]) is a
    with pytest.raises(TypeError, match="override merge"):
        merge_row_states([{"k": 1}, {"k": 2}])
    batch = pa.table({"row": pa.array([2, 0], pa.int64())})
    assert batch_positions(batch, m["rows"]).tolist() == [2, 0]
    with pytest.raises(RuntimeError, match="not fitted on"):
        batch_positions(pa.table({"row": pa.array([5], pa.int64())}), m["rows"])
