"""The audit pipeline's output contract: one row per input record, flags, duplicate_of, summary."""

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finesift
from finesift.checks.base import Check, CheckParams
from finesift.config import AuditConfig
from finesift.errors import ConfigError
from finesift.pipeline import decide_all, redecide
from finesift.records import has_flag
from tests.test_demo_example import DEMO_CHECKS


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
    assert summary["config"]["params"]["empty_output"] == {"min_chars": 1, "min_punctuation": 5}
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


# --- content fingerprint and the audit folder's life cycle --------------------------------------------

ROWS = [{"id": i, "instruction": f"Translate to French: word {i}", "output": f"mot {i}"} for i in range(6)]


def _jsonl(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_fingerprint_follows_content_not_path_or_chunking(tmp_path):
    from finesift.io import read
    from finesift.pipeline import content_fingerprint

    a = read(str(_jsonl(tmp_path / "a.jsonl", ROWS))).table
    copy = read(str(_jsonl(tmp_path / "copy.jsonl", ROWS))).table
    changed = read(str(_jsonl(tmp_path / "b.jsonl", ROWS[:5] + [dict(ROWS[5], output="N/A")]))).table
    assert a["id"].equals(changed["id"])  # same ids, other content
    fp = content_fingerprint(a)
    assert fp == content_fingerprint(copy) == content_fingerprint(a.combine_chunks())
    assert fp == content_fingerprint(pa.Table.from_batches(a.to_batches(max_chunksize=1)))
    assert fp == content_fingerprint(a.slice(0, 6))
    assert fp != content_fingerprint(changed)
    assert content_fingerprint(a.slice(1)) != content_fingerprint(a.slice(0, 5))
    result = finesift.audit(tmp_path / "a.jsonl", out=tmp_path / "o", checks=["empty_output"])
    assert orjson.loads((tmp_path / "o" / "summary.json").read_bytes())["dataset"]["fingerprint"] == fp
    assert result.summary["dataset"]["fingerprint"] == fp


def test_a_failed_run_leaves_no_summary_and_no_stale_files(tmp_path, monkeypatch):
    import finesift.pipeline as fp

    data = _jsonl(tmp_path / "a.jsonl", ROWS)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(data.read_bytes() + b"not json\n")
    out = tmp_path / "o"
    finesift.audit(bad, out=out, checks=["empty_output"], on_error="skip")
    assert (out / "skipped.jsonl").exists() and (out / "summary.json").exists()
    # a clean re-run does not keep the previous run's list of skipped records
    finesift.audit(data, out=out, checks=["empty_output"])
    assert not (out / "skipped.jsonl").exists()
    # a run that fails while writing leaves no completion marker behind
    monkeypatch.setattr(fp.pq, "write_table", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        finesift.audit(data, out=out, checks=["empty_output"])
    assert not (out / "summary.json").exists()
    assert not list(out.glob(".*.tmp"))


def test_summary_is_written_last_and_a_killed_runs_temp_files_are_cleaned(tmp_path, monkeypatch):
    import finesift.io.atomic as atomic

    out = tmp_path / "o"
    out.mkdir()
    leftovers = [".audit.parquet.k1_x9ab.tmp", ".summary.json.zz12.tmp", ".skipped.jsonl.abc.tmp"]
    for name in leftovers + [".mine.tmp", "notes.txt"]:
        (out / name).write_text("x")
    order = []
    real = atomic.os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda src, dst: (order.append(Path(dst).name), real(src, dst)))
    finesift.audit(_jsonl(tmp_path / "a.jsonl", ROWS), out=out, checks=["empty_output"])
    assert order == ["audit.parquet", "summary.json"]
    names = {p.name for p in out.iterdir()}
    assert not names & set(leftovers)
    assert {".mine.tmp", "notes.txt", "audit.parquet", "summary.json"} <= names  # not ours: untouched


# --- scoring knobs vs decision thresholds, batch size ----------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "translate_fr.jsonl"


def _no_model_checks():
    from finesift.checks.base import WITH_GROUPS, groups, registry

    models = {n for g in WITH_GROUPS for n in groups()[g]}
    return [n for n in registry() if n not in models]


def test_every_check_without_models_scores_the_same_whatever_the_batch_size_and_threads(tmp_path, monkeypatch):
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    (tmp_path / "eval.jsonl").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    common = dict(checks=_no_model_checks(), max_tokens=256, current="date>=2024-03-10",
                  eval_data=str(tmp_path / "eval.jsonl"))
    small = finesift.audit(EXAMPLE, config=AuditConfig(batch_size=3, **common))
    big = finesift.audit(EXAMPLE, config=AuditConfig(batch_size=8192, **common))
    import finesift.engine.local as local

    monkeypatch.setattr(local, "PIECE_BYTES", 64)  # checks get a big batch in pieces of one or two rows
    pieced = finesift.audit(EXAMPLE, config=AuditConfig(batch_size=8192, **common))
    # checks (and batches' features) on threads, or one after another: the same scores
    serial = finesift.audit(EXAMPLE, config=AuditConfig(batch_size=3, threads=1, **common))
    threaded = finesift.audit(EXAMPLE, config=AuditConfig(batch_size=3, threads=4, **common))
    assert small.table.column_names == big.table.column_names == pieced.table.column_names
    for col in big.table.column_names:
        assert small.table[col].equals(big.table[col]), col
        assert pieced.table[col].equals(big.table[col]), col
        assert serial.table[col].equals(big.table[col]), col
        assert threaded.table[col].equals(big.table[col]), col
    fired = {c for c, k in big.summary["counts"].items() if k}
    # the equality means something: the example triggers every check it was written for (a check added
    # later shows its batch-size invariance on its own test data)
    assert set(DEMO_CHECKS) & set(common["checks"]) <= fired, fired


def test_the_documented_redecide_example_works(write_jsonl):
    rows = [{"instruction": f"Say something about topic {i}", "output": "the quick brown fox jumps over the lazy dog "
             + ("today" if i else "now")} for i in range(2)]
    result = finesift.audit(write_jsonl(rows), checks=["near_duplicate"])
    assert has_flag(result.table["flags"], "near_duplicate").tolist() == [False, True]
    # the example in AuditConfig.params' description: min_similarity is the decision threshold
    again = redecide(result.table, AuditConfig(checks=["near_duplicate"], params={"near_duplicate": {"min_similarity": 0.99}}))
    assert has_flag(again["flags"], "near_duplicate").tolist() == [False, False]
    # threshold is the LSH linking threshold, a scoring knob: refused, never silently ignored
    with pytest.raises(ConfigError, match="near_duplicate.threshold is a scoring knob"):
        redecide(result.table, AuditConfig(checks=["near_duplicate"], params={"near_duplicate": {"threshold": 0.7}}))


def test_redecide_refuses_changed_scoring_inputs(write_jsonl, tmp_path):
    path = write_jsonl([{"instruction": "Translate to French: yes", "output": "oui"}] * 2)
    result = finesift.audit(path, checks=["exact_duplicate", "wrong_language"], seed=3)
    with pytest.raises(ConfigError, match="wrong_language scores depend on expected_language"):
        redecide(result.table, AuditConfig(checks=["exact_duplicate", "wrong_language"], seed=3,
                                           expected_language="de"))
    # the record survives audit.parquet
    result.write(tmp_path / "out")
    stored = pq.read_table(tmp_path / "out" / "audit.parquet")
    same = redecide(stored, AuditConfig(checks=["exact_duplicate", "wrong_language"], seed=3,
                                        params={"wrong_language": {"threshold": 0.1}}))
    assert same["flags"].to_pylist()[1][0] == "exact_duplicate"


def test_a_table_without_a_record_is_compared_with_the_defaults(write_jsonl):
    result = finesift.audit(write_jsonl([{"instruction": "q", "output": "a"}]), checks=["echo_output"])
    bare = result.table.replace_schema_metadata(None)
    redecide(bare, AuditConfig(checks=["echo_output"], params={"echo_output": {"threshold": 0.1}}))
    with pytest.raises(ConfigError, match="missing_context.min_content_words"):
        redecide(bare, AuditConfig(checks=["missing_context"], params={"missing_context": {"min_content_words": 3}}))


def test_check_reusable_passes_decisions_and_refuses_knobs():
    from finesift.pipeline import build_checks, check_reusable, resolved_config

    cfg = AuditConfig(checks=["near_duplicate", "leakage"], eval_data="a.jsonl")
    stored = resolved_config(cfg, build_checks(cfg))
    check_reusable(stored, AuditConfig(checks=["near_duplicate", "leakage", "pii"], eval_data="a.jsonl",
                                       params={"near_duplicate": {"min_similarity": 0.9},
                                               "leakage": {"near_threshold": 0.9}}))
    # the eval file is an input curate re-scores on its own; redecide (inputs=True) refuses it
    check_reusable(stored, AuditConfig(checks=["near_duplicate", "leakage"], eval_data="b.jsonl"))
    with pytest.raises(ConfigError, match="eval_data"):
        check_reusable(stored, AuditConfig(checks=["leakage"], eval_data="b.jsonl"), inputs=True)
    with pytest.raises(ConfigError, match="leakage.near_threshold 0.7 is below"):
        check_reusable(stored, AuditConfig(checks=["leakage"], eval_data="a.jsonl",
                                           params={"leakage": {"near_threshold": 0.7}}))
    with pytest.raises(ConfigError, match=r"near_duplicate.num_perm is a scoring knob: 128 when scored, 64 now"):
        check_reusable(stored, AuditConfig(checks=["near_duplicate"], params={"near_duplicate": {"num_perm": 64}}))
    with pytest.raises(ConfigError, match="near_duplicate scores depend on seed"):
        check_reusable(stored, AuditConfig(checks=["near_duplicate"], seed=1))


def test_summary_examples_name_the_input_position_when_records_were_skipped(tmp_path):
    from finesift.api import audit

    path = tmp_path / "d.jsonl"
    path.write_bytes(b'not json\n{"instruction": "a b", "output": ""}\n')
    res = audit(path, AuditConfig(checks=["empty_output"]), on_error="skip")
    assert res.summary["examples"]["empty_output"][0]["row"] == 1  # line 2 of the file, after the skipped line 1


def test_summary_counts_distinct_rows_and_reports_the_checks_dataset_facts(write_jsonl):
    rows = [{"instruction": "Say hi", "output": "Hello there, it is very nice to meet you today."},
            {"instruction": "say  HI", "output": "hello there, it is very nice to meet you TODAY."},
            {"instruction": "Say bye", "output": "Goodbye, it was a pleasure to talk with you this morning."}]
    result = finesift.audit(write_jsonl(rows), checks=["empty_output", "wrong_language"])
    assert result.summary["stats"]["unique_rows"] == 2  # normalized (case, spacing) prompt + answer
    assert set(result.features.column_names) >= {"pair_hash", "answer_hash", "content_hash"}
    # a dataset check's facts reach summary.json (not only curate's)
    assert "'dominant_answer_language': 'en'" in str(result.summary["facts"])
