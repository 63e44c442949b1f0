"""The local engine: features once per batch, checks in ``reads`` order, dataset states merged across batches."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from finesift.checks.base import DatasetCheck, RowCheck, Score, batch_positions, merge_row_states
from finesift.checks.features import add_features
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


def test_pieces_cut_long_rows_by_bytes_and_cover_the_batch_in_order():
    from finesift.engine.local import pieces

    outs = ["x" * 10, "y" * 500, "z" * 10, "w" * 10, "v" * 300, ""]
    t = pa.table({"row": pa.array(range(len(outs)), pa.int64()), "prompt": ["q"] * len(outs), "output": outs})
    got = pieces(t, max_bytes=100)
    assert pa.concat_tables(got)["row"].to_pylist() == list(range(len(outs)))
    sizes = [sum(len(o) + 1 for o in p["output"].to_pylist()) for p in got]
    # every piece is within the limit unless it is one row longer than the limit on its own
    assert all(s <= 100 or p.num_rows == 1 for s, p in zip(sizes, got))
    assert [p.num_rows for p in got] == [1, 1, 2, 1, 1]
    assert [p.num_rows for p in pieces(t, max_rows=4)] == [4, 2]  # short rows: only the row cap cuts
    assert pieces(t)[0] is t  # a batch within both limits is not copied or cut


def test_scores_are_the_same_when_every_check_gets_its_batch_in_byte_pieces(monkeypatch):
    import finesift.engine.local as local

    whole = run_checks(_table(), [_Double(), _Copies()], None, batch_size=100)
    monkeypatch.setattr(local, "PIECE_BYTES", 5)  # every row its own piece
    cut = run_checks(_table(), [_Double(), _Copies()], None, batch_size=100)
    assert cut.scores.equals(whole.scores)


class _Boom(RowCheck):
    name = "toy_boom"
    description = "toy"
    scores = {"toy_boom_n": Score("never")}

    def score(self, batch):
        raise ValueError("toy_boom failed")


class _Cfg:
    def __init__(self, threads):
        self.threads = threads
        self.batch_size = 2


@pytest.mark.parametrize("threads", [2, 3])
def test_checks_on_threads_give_the_single_thread_scores_and_readers_see_what_they_read(threads):
    one = run_checks(_table(), [_Double(), _Copies()], _Cfg(1))
    many = run_checks(_table(), [_Double(), _Copies()], _Cfg(threads))
    assert many.scores.equals(one.scores)
    assert many.scores["toy_double_n"].to_pylist() == [6, 6, 6, 6, 2, 6, 6]
    assert set(many.seconds) == set(one.seconds) == {"features", "toy_copies", "toy_double"}


def test_a_failing_check_on_a_thread_raises_its_own_error():
    with pytest.raises(ValueError, match="toy_boom failed"):
        run_checks(_table(), [_Copies(), _Boom(), _Double()], _Cfg(2))


class _Seen(RowCheck):
    """Records the columns of the batches it is given."""

    name = "toy_seen"
    description = "toy"
    scores = {"toy_seen_n": Score("columns seen")}
    columns: list[str] = []

    def score(self, batch):
        type(self).columns = list(batch.column_names)
        return pa.table({"toy_seen_n": pa.array([batch.num_columns] * batch.num_rows)})


class _Upper(RowCheck):
    """Needs the same feature as the dataset check, after a check that needs none."""

    name = "toy_upper"
    description = "toy"
    scores = {"toy_upper_n": Score("characters of the normalized answer")}
    needs = ("norm_output",)

    def score(self, batch):
        return pa.table({"toy_upper_n": pc.utf8_length(batch["norm_output"])})


@pytest.mark.parametrize("threads", [1, 2])
def test_a_feature_no_check_still_to_run_needs_is_dropped_from_the_batches(threads):
    res = run_checks(_table(), [_Copies(), _Seen()], _Cfg(threads), keep_features=("answer_hash",))
    # norm_output served toy_copies only; answer_hash (made from it) is kept for the caller
    assert "norm_output" not in _Seen.columns and "answer_hash" in _Seen.columns
    assert res.features.column_names == ["answer_hash"]
    assert res.features["answer_hash"].equals(add_features(_table(), ["answer_hash"])["answer_hash"])
    assert res.scores["toy_copies_n"].to_pylist() == [3, 3, 3, 3, 1, 3, 3]
    # but it stays while a check still to run needs it, and a column the input had is never dropped
    res = run_checks(_table(), [_Copies(), _Seen(), _Upper()], _Cfg(threads))
    assert "norm_output" in _Seen.columns
    assert res.scores["toy_upper_n"].to_pylist() == [3, 3, 3, 3, 9, 3, 3]
    given = _table().append_column("norm_output", pa.array(["oui"] * 7))  # already there: not a computed feature
    run_checks(given, [_Copies(), _Seen()], _Cfg(threads))
    assert "norm_output" in _Seen.columns


class _Words(RowCheck):
    name = "toy_words"
    description = "toy"
    scores = {"toy_words_n": Score("words of the answer")}
    needs = ("words_output",)

    def score(self, batch):
        return pa.table({"toy_words_n": batch["words_output"]})


@pytest.mark.parametrize("threads", [1, 2])
def test_a_feature_is_computed_just_before_the_first_check_that_needs_it(threads):
    res = run_checks(_table(), [_Seen(), _Words()], _Cfg(threads))
    assert "words_output" not in _Seen.columns  # not held through the checks before it
    assert res.scores["toy_words_n"].to_pylist() == [1, 1, 1, 1, 2, 1, 1]  # peut-être: two words
    assert set(res.seconds) == {"features", "toy_seen", "toy_words"}
    # a kept feature that no check needs is computed after the last check, not held through all of them
    res = run_checks(_table(), [_Seen()], _Cfg(threads), keep_features=("words_output",))
    assert "words_output" not in _Seen.columns
    assert res.features["words_output"].to_pylist() == [1, 1, 1, 1, 2, 1, 1]


def test_thread_count_is_the_config_else_one():
    from finesift.engine.local import thread_count

    assert thread_count(_Cfg(3)) == 3
    assert thread_count(None) == thread_count(_Cfg(None)) == 1
