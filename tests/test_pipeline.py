"""The audit pipeline's output contract: one row per input record, flags, duplicate_of, summary."""

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

import finesift
from finesift.checks.base import Check, CheckParams
from finesift.config import AuditConfig
from finesift.pipeline import decide_all, redecide
from finesift.records import has_flag


class _Thresh(CheckParams):
    t: float = 0.5


class _A(Check):
    name = "exact_duplicate"
    score_columns = {"a": "test"}
    partner_column = "a_of"
    Params = _Thresh

    def decide(self, scores):
        return scores["a"].to_numpy() > self.params.t


class _B(Check):
    name = "conflict"
    score_columns = {"b": "test"}
    partner_column = "b_of"
    Params = _Thresh

    def decide(self, scores):
        return scores["b"].to_numpy() > self.params.t


def test_decide_all_flags_in_check_order_and_partner_precedence():
    scores = pa.table({
        "a": [0.9, 0.0, 0.9, 0.0], "a_of": pa.array([1, None, 3, None], pa.int64()),
        "b": [0.9, 0.9, 0.0, 0.0], "b_of": pa.array([2, 0, None, None], pa.int64()),
    })
    flags, dup, counts = decide_all(scores, [_A(), _B()])
    assert flags.to_pylist() == [["exact_duplicate", "conflict"], ["conflict"], ["exact_duplicate"], []]
    # exact_duplicate outranks conflict for duplicate_of
    assert dup.to_pylist() == [1, 0, 3, None]
    assert counts == {"exact_duplicate": 2, "conflict": 2}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=0, max_size=40))
def test_flags_match_masks(bits):
    a = [1.0 if x else 0.0 for x, _ in bits]
    b = [1.0 if y else 0.0 for _, y in bits]
    n = len(bits)
    scores = pa.table({"a": pa.array(a, pa.float64()), "a_of": pa.nulls(n, pa.int64()),
                       "b": pa.array(b, pa.float64()), "b_of": pa.nulls(n, pa.int64())})
    flags, _, counts = decide_all(scores, [_A(), _B()])
    assert len(flags) == n
    assert has_flag(flags, "exact_duplicate").tolist() == [x for x, _ in bits]
    assert has_flag(flags, "conflict").tolist() == [y for _, y in bits]
    assert counts["conflict"] == sum(y for _, y in bits)


def test_audit_writes_contract(write_jsonl, tmp_path):
    rows = [{"instruction": "Translate to French: Hello", "output": "Bonjour", "date": "2024-01-01"},
            {"instruction": "Translate to French: Yes", "output": ""}]
    path = write_jsonl(rows)
    out = tmp_path / "out"
    result = finesift.audit(path, out=out, checks=["empty_output"])
    table = pq.read_table(out / "audit.parquet")
    assert table.num_rows == 2
    assert table["row"].to_pylist() == [0, 1]
    assert table["flags"].to_pylist() == [[], ["empty_output"]]
    assert table["duplicate_of"].null_count == 2
    assert "empty_output_chars" in table.column_names
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["counts"] == {"empty_output": 1}
    assert summary["stats"]["rows"] == 2 and summary["stats"]["flagged_rows"] == 1
    assert summary["config"]["params"]["empty_output"] == {"min_chars": 1}
    assert "empty_output" in summary["seconds"]["checks"]
    assert summary["examples"]["empty_output"][0]["row"] == 1
    assert result.table.equals(table)
    assert not list(out.glob(".*.tmp"))  # no temp files left behind


def test_redecide_changes_flags_without_rescoring(write_jsonl):
    path = write_jsonl([{"instruction": "q", "output": "ok"}, {"instruction": "q2", "output": "yes indeed"}])
    result = finesift.audit(path, checks=["empty_output"])
    assert not np.any(has_flag(result.table["flags"], "empty_output"))
    stricter = AuditConfig(checks=["empty_output"], params={"empty_output": {"min_chars": 5}})
    again = redecide(result.table, stricter)
    assert again["flags"].to_pylist() == [["empty_output"], []]


def test_unknown_check_is_a_config_error(write_jsonl):
    import pytest

    from finesift.errors import ConfigError

    path = write_jsonl([{"instruction": "q", "output": "a"}])
    with pytest.raises(ConfigError, match="unknown check 'nope'"):
        finesift.audit(path, checks=["nope"])
    with pytest.raises(ConfigError, match="invalid parameters"):
        finesift.audit(path, checks=["empty_output"], params={"empty_output": {"min_chars": "many"}})
