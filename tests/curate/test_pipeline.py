"""End-to-end curate: invariants, determinism, best members, --audit reuse, atomic re-runs, new codes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import finesift.curate.pipeline as cp
from finesift.api import audit
from finesift.config import AuditConfig
from finesift.curate import Recipe, curate
from finesift.errors import ConfigError, InputError

from tests.models.conftest import tiny_lm_dir  # noqa: F401  (session fixture)

from .conftest import read_jsonl

CHECKS = ["exact_duplicate", "near_duplicate", "empty_output"]
FAST = {"checks": CHECKS}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


WORDS = {"cat": "chat", "dog": "chien", "house": "maison", "tree": "arbre", "river": "fleuve", "car": "camion",
         "book": "livre", "sun": "soleil", "bird": "oiseau", "bread": "pain", "horse": "cheval", "boat": "bateau"}


def _rows(n: int, seed: int = 0) -> list[dict]:
    """n distinct translation rows (no two share more than one of their three nouns' positions)."""
    rng = np.random.default_rng(seed)
    en = list(WORDS)
    combos = [(a, b, c) for a in en for b in en for c in en if len({a, b, c}) == 3]
    picks = rng.choice(len(combos), n, replace=False)
    out = []
    for i, p in enumerate(picks):
        a, b, c = combos[p]
        out.append({"id": f"r{i}", "instruction": f"Translate to French: the {a} sees the {b} near the {c}",
                    "output": f"le {WORDS[a]} voit le {WORDS[b]} près du {WORDS[c]}", "source": f"s{i % 3}"})
    return out


def _ids(records: list[dict]) -> list[str]:
    return [r["id"] for r in records]


def _summary(outdir: Path) -> dict:
    return orjson.loads((outdir / "summary.json").read_bytes())


def _check_invariants(data_rows: list[dict], outdir: Path) -> None:
    kept, rejected = read_jsonl(outdir / "kept.jsonl"), read_jsonl(outdir / "rejected.jsonl")
    ids = _ids(data_rows)
    assert not set(_ids(kept)) & set(_ids(rejected))
    assert sorted(_ids(kept) + _ids(rejected)) == sorted(ids)
    # input order within each file, records untouched apart from the annotations
    assert _ids(kept) == [i for i in ids if i in set(_ids(kept))]
    by_id = {r["id"]: r for r in data_rows}
    assert all(r == by_id[r["id"]] for r in kept)
    assert all({k: v for k, v in r.items() if k != "_finesift"} == by_id[r["id"]] for r in rejected)
    assert all(r["_finesift"]["reasons"] for r in rejected)
    s = _summary(outdir)
    c = s["counts"]
    assert (c["input_rows"], c["kept"], c["rejected"]) == (len(ids), len(kept), len(rejected))
    assert c["filtered"] + c["not_selected"] == c["rejected"]
    assert c["rejected_by_reason"].get("not_selected", 0) == c["not_selected"]
    for code, count in c["rejected_by_reason"].items():
        assert count == sum(code in r["_finesift"]["reasons"] for r in rejected)
    table = pq.read_table(outdir / "audit.parquet")
    decision = table["decision"].to_pylist()
    assert decision.count("kept") == len(kept)
    assert [table["id"][i].as_py() for i, d in enumerate(decision) if d == "kept"] == _ids(kept)
    assert sum(x["pool"] for x in s["coverage"]["clusters"]) == c["pool"]
    assert sum(x["kept"] for x in s["coverage"]["clusters"]) == c["kept"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_kept_and_rejected_partition_the_input(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("inv")
    n = data.draw(st.integers(1, 25))
    rows = _rows(n, seed=data.draw(st.integers(0, 1000)))
    # sprinkle defects: exact copies and empty answers
    for i in data.draw(st.lists(st.integers(0, n - 1), max_size=5)):
        rows.append(dict(rows[i], id=f"copy{len(rows)}"))
    for i in data.draw(st.lists(st.integers(0, len(rows) - 1), max_size=3, unique=True)):
        rows[i] = dict(rows[i], output="  ")
    target = data.draw(st.one_of(st.none(), st.integers(1, len(rows) + 2)))
    path = _write(tmp / "data.jsonl", rows)
    curate(path, tmp / "out", FAST, target=target, no_models=True)
    _check_invariants(rows, tmp / "out")
    if target is not None:
        assert _summary(tmp / "out")["counts"]["kept"] <= target


def test_same_output_twice_and_with_another_batch_size(tmp_path):
    rows = _rows(60)
    rows += [dict(rows[i], id=f"dup{i}") for i in range(0, 60, 7)]
    path = _write(tmp_path / "data.jsonl", rows)
    outs = []
    for name, bs in (("a", None), ("b", None), ("c", 7)):
        curate(path, tmp_path / name, FAST, target=15, no_models=True, batch_size=bs)
        outs.append(tmp_path / name)
    for name in ("kept.jsonl", "rejected.jsonl"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes()
    t = [pq.read_table(o / "audit.parquet").select(["decision", "reasons", "quality", "cluster"]) for o in outs]
    assert t[0].equals(t[1]) and t[0].equals(t[2])
    assert _summary(outs[0])["coverage"] == _summary(outs[2])["coverage"]


def test_another_seed_can_select_differently_but_stays_valid(tmp_path):
    rows = _rows(80, seed=3)
    path = _write(tmp_path / "data.jsonl", rows)
    curate(path, tmp_path / "s1", FAST, target=10, no_models=True, seed=1)
    _check_invariants(rows, tmp_path / "s1")
    assert yaml.safe_load((tmp_path / "s1" / "recipe.yaml").read_text())["seed"] == 1


def test_the_better_duplicate_is_kept_not_the_first(tmp_path, monkeypatch):
    rows = [{"id": "first", "instruction": "Translate to French: I eat.", "output": "Je mange."},
            {"id": "other", "instruction": "Translate to French: The sun.", "output": "Le soleil."},
            {"id": "second", "instruction": "Translate to French: I eat.", "output": "Je mange."}]
    path = _write(tmp_path / "data.jsonl", rows)
    monkeypatch.setattr(cp, "_quality", lambda audit_table, rec: np.array([0.2, 0.5, 0.9]))
    res = curate(path, tmp_path / "out", FAST, no_models=True)
    kept, rejected = read_jsonl(tmp_path / "out" / "kept.jsonl"), read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert _ids(kept) == ["other", "second"]
    ann = rejected[0]["_finesift"]
    assert rejected[0]["id"] == "first"
    assert ann["reasons"] == ["exact_duplicate"] and ann["kept_instead"] == 2 and ann["duplicate_of"] == 2
    assert ann["exact_duplicate_of"] == 2 and ann["quality"] == 0.2
    table = res.audit
    assert table["audit_flags"].to_pylist()[2] == ["exact_duplicate"]  # what the audit said
    assert table["flags"].to_pylist()[2] == []  # what curate decided
    assert res.summary["groups"]["duplicates"]["keeper_changed"] == 1


def test_recipe_drop_list_decides_what_rejects(tmp_path):
    rows = _rows(5) + [{"id": "empty", "instruction": "Translate to French: hi", "output": ""}]
    path = _write(tmp_path / "data.jsonl", rows)
    res = curate(path, tmp_path / "a", FAST, no_models=True)
    assert res.reasons[5] == ["empty_output"]
    lenient = {**FAST, "drop": ["exact_duplicate", "near_duplicate"]}
    res = curate(path, tmp_path / "b", lenient, no_models=True)
    assert 5 in res.kept_rows.tolist()
    with pytest.raises(ConfigError, match="empty_outptu"):
        curate(path, tmp_path / "c", {**FAST, "drop": ["empty_outptu"]}, no_models=True)


def test_quality_weights_reach_the_quality_score(tmp_path):
    path = _write(tmp_path / "data.jsonl", _rows(6) + [{"id": "e", "instruction": "Translate: x", "output": ""}])
    with pytest.raises(ConfigError, match="outside 0..1"):
        curate(path, tmp_path / "bad", {**FAST, "quality_weights": {"typos": 2.0}}, no_models=True)
    lenient = {**FAST, "drop": [], "quality_weights": {"empty_output": 0.0}}
    res = curate(path, tmp_path / "ok", lenient, no_models=True)
    assert res.audit["quality"][6].as_py() == 1.0  # an empty answer no longer costs anything


def test_size_options(tmp_path):
    rows = _rows(40)
    path = _write(tmp_path / "data.jsonl", rows)
    assert curate(path, tmp_path / "f", FAST, keep_fraction=0.25, no_models=True).kept == 10
    res = curate(path, tmp_path / "all", FAST, target=1000, no_models=True)
    assert res.summary["counts"]["not_selected"] == 0 and res.summary["selection"]["method"] is None
    with pytest.raises(ConfigError, match="not both"):
        curate(path, tmp_path / "x", FAST, target=3, keep_fraction=0.5, no_models=True)


def test_resolved_recipe_is_written_and_reloads(tmp_path):
    path = _write(tmp_path / "data.jsonl", _rows(12))
    res = curate(path, tmp_path / "out", {**FAST, "conflict_policy": "drop_group"}, target=4, no_models=True)
    text = (tmp_path / "out" / "recipe.yaml").read_text()
    assert text.startswith("#")
    assert Recipe(**yaml.safe_load(text)) == res.recipe
    assert res.recipe.selection.target == 4
    assert _summary(tmp_path / "out")["config"]["recipe"]["conflict_policy"] == "drop_group"


def test_csv_input_is_written_back_as_csv_with_annotation_columns(tmp_path):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["instruction", "output", "category"])
    w.writerows([["Translate to French: cat", "chat", "animals"], ["Translate to French: cat", "chat", "animals"],
                 ["Translate to French: dog", "chien", "animals"], ["Translate to French: rain", "", "weather"]])
    (tmp_path / "data.csv").write_text(buf.getvalue(), encoding="utf-8")
    curate(tmp_path / "data.csv", tmp_path / "out", FAST, no_models=True)
    kept = list(csv.DictReader(open(tmp_path / "out" / "kept.csv", encoding="utf-8")))
    rejected = list(csv.DictReader(open(tmp_path / "out" / "rejected.csv", encoding="utf-8")))
    assert [r["output"] for r in kept] == ["chat", "chien"]
    assert all(r["category"] for r in kept + rejected)
    assert {r["output"]: orjson.loads(r["finesift_reasons"]) for r in rejected} == \
        {"chat": ["exact_duplicate"], "": ["empty_output"]}


def test_skipped_records_are_listed_and_counted(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"instruction": "a b c", "output": "d"}\nnot json\n{"instruction": "e f", "output": "g"}\n')
    res = curate(path, tmp_path / "out", FAST, no_models=True, on_error="skip")
    assert res.summary["counts"]["skipped_records"] == 1
    assert len(read_jsonl(tmp_path / "out" / "skipped.jsonl")) == 1
    assert res.kept + res.rejected == 2


# --- --audit reuse ------------------------------------------------------------------------------


def test_audit_dir_is_reused_and_gives_the_same_result(tmp_path, monkeypatch):
    rows = _rows(30) + [dict(r, id=f"d{i}") for i, r in enumerate(_rows(4))]
    path = _write(tmp_path / "data.jsonl", rows)
    fresh = curate(path, tmp_path / "fresh", FAST, target=8, no_models=True)
    audit(path, AuditConfig(checks=CHECKS), out=tmp_path / "audit")

    def boom(*a, **k):
        raise AssertionError("the audit was run again")

    monkeypatch.setattr(cp, "audit_dataset", boom)
    reused = curate(path, tmp_path / "reused", FAST, target=8, no_models=True, audit_dir=tmp_path / "audit")
    assert reused.kept_rows.tolist() == fresh.kept_rows.tolist()
    assert reused.reasons == fresh.reasons
    assert reused.summary["audit"]["scored_now"] == []
    # a curate output folder is a valid --audit too (its decision columns are recomputed)
    again = curate(path, tmp_path / "again", FAST, target=8, no_models=True, audit_dir=tmp_path / "reused")
    assert again.reasons == fresh.reasons


def test_audit_dir_scored_with_other_knobs_is_refused_but_thresholds_are_redecided(tmp_path):
    path = _write(tmp_path / "data.jsonl", _rows(20))
    audit(path, AuditConfig(checks=CHECKS), out=tmp_path / "audit")
    # near_duplicate.threshold drives the LSH index (a scoring knob): reusing scores made without it would be wrong
    knob = {"checks": CHECKS, "thresholds": {"near_duplicate": {"threshold": 0.7}}}
    with pytest.raises(ConfigError, match="near_duplicate.threshold"):
        curate(path, tmp_path / "out", knob, no_models=True, audit_dir=tmp_path / "audit")
    # a decision threshold is re-decided from the stored scores
    strict = {"checks": CHECKS, "thresholds": {"near_duplicate": {"min_similarity": 0.99}}}
    res = curate(path, tmp_path / "out2", strict, no_models=True, audit_dir=tmp_path / "audit")
    assert res.summary["audit"]["scored_now"] == []


def test_audit_dir_lacking_a_check_scores_it_now(tmp_path):
    rows = _rows(10) + [{"id": "e", "instruction": "x y", "output": ""}]
    path = _write(tmp_path / "data.jsonl", rows)
    audit(path, AuditConfig(checks=["exact_duplicate"]), out=tmp_path / "audit")
    res = curate(path, tmp_path / "out", FAST, no_models=True, audit_dir=tmp_path / "audit")
    assert set(res.summary["audit"]["scored_now"]) == {"near_duplicate", "empty_output"}
    assert res.reasons[10] == ["empty_output"]


def test_audit_of_other_data_is_refused(tmp_path):
    path = _write(tmp_path / "data.jsonl", _rows(10))
    other = _write(tmp_path / "other.jsonl", _rows(11))
    audit(other, AuditConfig(checks=CHECKS), out=tmp_path / "audit")
    with pytest.raises(InputError, match="11 rows.*10"):
        curate(path, tmp_path / "out", FAST, no_models=True, audit_dir=tmp_path / "audit")
    renamed = _write(tmp_path / "renamed.jsonl", [dict(r, id=f"x{i}") for i, r in enumerate(_rows(11))])
    with pytest.raises(InputError, match="row 0 has id"):
        curate(renamed, tmp_path / "out", FAST, no_models=True, audit_dir=tmp_path / "audit")
    with pytest.raises(ConfigError, match="no audit.parquet"):
        curate(path, tmp_path / "out", FAST, no_models=True, audit_dir=tmp_path / "nowhere")


# --- atomic writes and re-runs ------------------------------------------------------------------


def test_interrupted_run_is_unfinished_and_a_rerun_finishes_it(tmp_path, monkeypatch):
    import finesift.io as fio

    rows = _rows(20)
    path = _write(tmp_path / "data.jsonl", rows)
    out = tmp_path / "out"
    curate(path, out, FAST, target=5, no_models=True)
    assert (out / "summary.json").exists()
    real = fio.write_records

    def dies_on_rejected(dataset, r, p, **kw):
        if Path(p).name.startswith("rejected"):
            raise KeyboardInterrupt
        return real(dataset, r, p, **kw)

    monkeypatch.setattr(fio, "write_records", dies_on_rejected)
    with pytest.raises(KeyboardInterrupt):
        curate(path, out, FAST, target=6, no_models=True)
    # the earlier run's summary is gone: the folder no longer claims to be complete
    assert not (out / "summary.json").exists()
    assert not list(out.glob(".*.tmp"))  # no half-written file left behind
    assert (out / cp.CHECKPOINT_DIR / "key.json").exists()
    monkeypatch.setattr(fio, "write_records", real)
    monkeypatch.setattr(cp, "audit_dataset", lambda *a, **k: pytest.fail("checkpointed audit was re-run"))
    res = curate(path, out, FAST, target=6, no_models=True)
    assert res.summary["audit"]["source"] == "checkpoint"
    assert not (out / cp.CHECKPOINT_DIR).exists()
    _check_invariants(rows, out)
    assert _summary(out)["counts"]["kept"] == 6


def test_checkpoint_of_other_settings_is_not_used(tmp_path, monkeypatch):
    import finesift.io as fio

    path = _write(tmp_path / "data.jsonl", _rows(10))
    out = tmp_path / "out"
    monkeypatch.setattr(fio, "write_records", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("stop")))
    with pytest.raises(RuntimeError):
        curate(path, out, FAST, no_models=True)
    monkeypatch.undo()
    res = curate(path, out, {"checks": ["exact_duplicate"]}, no_models=True)
    assert res.summary["audit"]["source"] == "run"


# --- the new codes end to end ---------------------------------------------------------------------


def test_leakage_rows_are_rejected_with_the_eval_row(tmp_path):
    rows = _rows(10)
    evals = [{"instruction": rows[3]["instruction"], "output": "something else"}]
    path = _write(tmp_path / "data.jsonl", rows)
    ev = _write(tmp_path / "eval.jsonl", evals)
    res = curate(path, tmp_path / "out", FAST, no_models=True, eval_data=ev)
    rejected = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    leaked = [r for r in rejected if "leakage" in r["_finesift"]["reasons"]]
    assert [r["id"] for r in leaked] == ["r3"]
    ann = leaked[0]["_finesift"]
    assert ann["leakage_of"] == 0  # index into the eval file
    assert ann["duplicate_of"] is None and ann["kept_instead"] is None
    assert res.audit["duplicate_of"][3].as_py() is None


def test_stale_rows_are_rejected_with_evidence(tmp_path):
    rows = []
    for i in range(60):
        old = i % 2 == 0
        tail = "call our customer service hotline" if old else "open the support chat in the app"
        rows.append({"id": f"r{i}", "instruction": f"How do I fix problem {i} with my order?",
                     "output": f"To fix problem {i}, please {tail}.", "date": "2019-01-01" if old else "2024-01-01"})
    path = _write(tmp_path / "data.jsonl", rows)
    # the rows are templated (near duplicates of each other): only look at staleness here
    res = curate(path, tmp_path / "out", {"checks": ["empty_output"]}, no_models=True, current="date>=2023-01-01")
    assert sorted(res.reasons) == list(range(0, 60, 2))
    rejected = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert all("hotline" in " ".join(r["_finesift"]["stale_terms"]) or
               "customer" in " ".join(r["_finesift"]["stale_terms"]) for r in rejected)
    assert res.summary["audit"]["facts"]["stale"]["auc"] == 1.0


def test_conflict_policies_end_to_end(tmp_path, monkeypatch):
    """An English echo conflicts with two copies of the French answer; the echo scores best alone."""
    rows = _rows(20) + [
        {"id": "a1", "instruction": "Translate to French: the old boat", "output": "le vieux bateau"},
        {"id": "echo", "instruction": "Translate to French: the old boat", "output": "the old boat"},
        {"id": "a2", "instruction": "Translate to French: the old boat", "output": "le vieux bateau"}]
    path = _write(tmp_path / "data.jsonl", rows)
    q = np.full(23, 0.5)
    q[20:] = [0.3, 0.9, 0.6]
    monkeypatch.setattr(cp, "_quality", lambda audit_table, rec: q)
    checks = {"checks": ["exact_duplicate", "conflict"]}
    res = curate(path, tmp_path / "best", checks, no_models=True)
    # the French answer is kept, in its better copy (a2), not the first one nor the best-scoring echo
    assert [r for r in res.kept_rows.tolist() if r >= 20] == [22]
    assert res.reasons[21] == ["conflict"] and res.reasons[20] == ["exact_duplicate"]
    rejected = {r["id"]: r["_finesift"] for r in read_jsonl(tmp_path / "best" / "rejected.jsonl")}
    assert rejected["echo"]["kept_instead"] == 22 and rejected["a1"]["kept_instead"] == 22
    assert rejected["echo"]["conflict_of"] == 22
    res = curate(path, tmp_path / "drop", {**checks, "conflict_policy": "drop_group"}, no_models=True)
    assert not {20, 21, 22} & set(res.kept_rows.tolist())
    assert res.kept == 20


# --- content fingerprints: a checkpoint or an audit of other content is never reused -----------------


def _stdin(monkeypatch, rows: list[dict]) -> None:
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"".join(orjson.dumps(r) + b"\n" for r in rows))))


def test_stale_stdin_checkpoint_of_other_content_is_not_reused(tmp_path, monkeypatch):
    import finesift.io as fio

    good = [{"id": i, "instruction": f"Translate to French: the {w}", "output": fr}
            for i, (w, fr) in enumerate(WORDS.items())]
    # the same ids 0..n-1, but half of the answers are broken now
    broken = [dict(r, output="" if r["id"] % 2 else r["output"]) for r in good]
    out = tmp_path / "out"
    real = fio.write_records
    _stdin(monkeypatch, good)
    monkeypatch.setattr(fio, "write_records", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        curate("-", out, FAST, no_models=True)
    assert (out / cp.CHECKPOINT_DIR / "key.json").exists()  # a killed run's checkpoint
    monkeypatch.setattr(fio, "write_records", real)
    _stdin(monkeypatch, broken)
    res = curate("-", out, FAST, no_models=True)
    assert res.summary["audit"]["source"] == "run"
    assert sorted(res.reasons) == [r["id"] for r in broken if not r["output"]]
    assert all(r["output"] for r in read_jsonl(out / "kept.jsonl"))
    assert _summary(out)["dataset"]["fingerprint"].startswith("xxh3_128:")


def test_audit_of_changed_content_with_the_same_ids_is_refused(tmp_path):
    rows = _rows(10)
    path = _write(tmp_path / "data.jsonl", rows)
    audit(path, AuditConfig(checks=CHECKS), out=tmp_path / "audit")
    _write(path, rows[:9] + [dict(rows[9], output="N/A")])  # edited in place: same path, rows and ids
    with pytest.raises(InputError, match="different content"):
        curate(path, tmp_path / "out", FAST, no_models=True, audit_dir=tmp_path / "audit")
    # an audit folder without its completion marker is unfinished: refused, not trusted
    _write(path, rows)
    (tmp_path / "audit" / "summary.json").unlink()
    with pytest.raises(InputError, match="unfinished"):
        curate(path, tmp_path / "out", FAST, no_models=True, audit_dir=tmp_path / "audit")


def test_curate_cleans_a_killed_runs_temporary_files(tmp_path):
    out = tmp_path / "out"
    (out / cp.CHECKPOINT_DIR).mkdir(parents=True)
    ours = [out / ".kept.jsonl.ab12.tmp", out / ".summary.json.x_1.tmp", out / ".audit.parquet.q.tmp",
            out / cp.CHECKPOINT_DIR / ".audit.parquet.zz9.tmp"]
    for p in ours + [out / "mine.txt"]:
        p.write_text("x")
    (out / "skipped.jsonl").write_text("{}\n")
    curate(_write(tmp_path / "data.jsonl", _rows(6)), out, FAST, no_models=True)
    assert not any(p.exists() for p in ours)
    assert (out / "mine.txt").exists() and not (out / "skipped.jsonl").exists()


def test_full_disk_while_writing_is_one_clear_error(tmp_path, monkeypatch):
    import errno

    import finesift.io as fio
    from finesift.errors import OutputError

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fio, "write_records", full)
    with pytest.raises(OutputError, match="kept.jsonl: no space left"):
        curate(_write(tmp_path / "data.jsonl", _rows(6)), tmp_path / "out", FAST, no_models=True)
    assert not (tmp_path / "out" / "summary.json").exists()


def test_skipped_records_leave_rows_pointing_at_input_positions(tmp_path):
    path = tmp_path / "data.jsonl"
    a = orjson.dumps({"id": "a1", "instruction": "Translate to French: the cat", "output": "le chat"})
    path.write_bytes(a + b"\nnot json\n" +
                     orjson.dumps({"id": "b", "instruction": "Translate to French: the dog", "output": "le chien"}) +
                     b"\n" + a.replace(b'"a1"', b'"a2"') + b"\n")
    res = curate(path, tmp_path / "out", FAST, no_models=True, on_error="skip")
    assert res.reasons == {3: ["exact_duplicate"]}  # input line 3 (0-based), not table position 2
    assert res.kept_rows.tolist() == [0, 2]
    ann = read_jsonl(tmp_path / "out" / "rejected.jsonl")[0]
    assert ann["id"] == "a2" and ann["_finesift"]["kept_instead"] == 0 and ann["_finesift"]["duplicate_of"] == 0
    table = pq.read_table(tmp_path / "out" / "audit.parquet")
    assert table["row"].to_pylist() == [0, 2, 3] and table["kept_instead"].to_pylist() == [None, None, 0]


def test_a_curate_folder_reused_as_audit_gives_the_same_decisions(tmp_path, shared_data):
    # curate regroups duplicate/conflict partners (best member kept); re-deciding from its folder must read the
    # checks' own partners, not the regrouped ones (row 40 of these 400 changed its reasons before the fix)
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from _data import tatoeba_rows

    path = _write(tmp_path / "data.jsonl", tatoeba_rows(400))
    first = curate(path, tmp_path / "a", no_models=True)
    again = curate(path, tmp_path / "b", no_models=True, audit_dir=tmp_path / "a")
    assert again.reasons == first.reasons and again.kept_rows.tolist() == first.kept_rows.tolist()


# --- the LM signal on the candidate pool (tiny random Llama: fast, no download) ---------------------

@pytest.fixture
def lm_recipe(tiny_lm_dir):  # noqa: F811
    return {"checks": CHECKS, "models": {"embeddings": "off", "model": str(tiny_lm_dir), "device": "cpu"}}


def _lm_data(tmp_path):
    rows = _rows(8)
    rows.append(dict(rows[0], id="copy"))  # a duplicate: its original is scored, the copy is not
    rows.append(dict(rows[1], id="empty", output=""))
    return _write(tmp_path / "data.jsonl", rows)


def test_curate_scores_the_lm_on_its_pool_by_default(tmp_path, lm_recipe):
    res = curate(_lm_data(tmp_path), tmp_path / "out", lm_recipe, target=4)
    lm = res.summary["lm"]
    assert lm["source"] == "pool" and lm["pool"] == 8 and lm["scored_rows"] == 8 and lm["budget"] == 512
    assert lm["device"] == "cpu" and lm["rows_per_s"] > 0
    ifd = res.audit["lm_ifd"].to_pylist()
    assert all(v is not None for v in ifd[:8]) and ifd[8:] == [None, None]  # the copy and the empty row
    assert "lm_quality" in res.summary["seconds"]
    # the resolved audit config ran no LM over every row
    assert "lm" not in res.summary["config"]["audit"]["with_models"]


def test_curate_rows_bounds_the_lm_to_the_best_candidates(tmp_path, lm_recipe):
    rec = {**lm_recipe, "thresholds": {"lm_quality": {"curate_rows": 3}}}
    res = curate(_lm_data(tmp_path), tmp_path / "out", rec, target=4)
    assert res.summary["lm"]["scored_rows"] == 3
    scored = [v is not None for v in res.audit["lm_ifd"].to_pylist()]
    quality = res.audit["quality"].to_pylist()
    assert sum(scored) == 3
    # pool rows left unscored keep the neutral LM share: not ranked below every scored row
    assert all(q == pytest.approx(0.75) for q, s in zip(quality[:8], scored[:8]) if not s)


def test_lm_off_and_opt_out(tmp_path, lm_recipe):
    path = _lm_data(tmp_path)
    for name, rec in (("off", {**lm_recipe, "models": {**lm_recipe["models"], "lm": False}}),
                      ("zero", {**lm_recipe, "thresholds": {"lm_quality": {"curate_rows": 0}}})):
        res = curate(path, tmp_path / name, rec, target=4)
        assert res.summary["lm"] is None and "lm_ifd" not in res.audit.column_names
    res = curate(path, tmp_path / "nomodels", lm_recipe, target=4, no_models=True)
    assert res.summary["lm"] is None


def test_lm_true_scores_the_whole_pool_and_can_drop(tmp_path, lm_recipe):
    rec = {**lm_recipe, "models": {**lm_recipe["models"], "lm": True}, "drop": ["exact_duplicate", "empty_output",
                                                                              "lm_quality"],
           "thresholds": {"lm_quality": {"curate_rows": 2, "max_ifd": 0.0}}}
    res = curate(_lm_data(tmp_path), tmp_path / "out", rec)
    assert res.summary["lm"]["scored_rows"] == 8 and res.summary["lm"]["budget"] is None
    # every scored row has IFD > 0: flagged, and rejected since the recipe drops the code
    assert res.kept == 0 and res.summary["counts"]["rejected_by_reason"]["lm_quality"] == 8


# --- soft signals: a pool much larger than the target keeps spotless rows ------------------------------

def test_a_large_pool_keeps_rows_nothing_was_found_against(tmp_path):
    rows = _rows(60)
    for r in rows[:15]:  # the dominant head written another way: no check flags it
        r["instruction"] = r["instruction"].replace("Translate to French: ", "TRANSLATE TO FRENCH:")
    path = _write(tmp_path / "data.jsonl", rows)
    res = curate(path, tmp_path / "out", {**FAST, "models": {"embeddings": "off"}}, target=8)
    kept = _ids(read_jsonl(tmp_path / "out" / "kept.jsonl"))
    assert len(kept) == 8 and not set(kept) & set(_ids(rows[:15]))
    rejected = {r["id"]: r["_finesift"] for r in read_jsonl(tmp_path / "out" / "rejected.jsonl")}
    # cut by the target size, and the record says what ranked it lower
    assert all(rejected[i]["reasons"] == ["not_selected"] and "format_variant" in rejected[i]["signals"]
               for i in _ids(rows[:15]))
    sel = res.summary["selection"]
    assert sel["candidates"] < sel["pool"] and sel["signals"]["format_variant"] == {"pool": 15, "kept": 0}
    _check_invariants(rows, tmp_path / "out")
    again = curate(path, tmp_path / "again", {**FAST, "models": {"embeddings": "off"}}, target=8)
    assert again.kept_rows.tolist() == res.kept_rows.tolist()
    # headroom 0: the whole pool is the candidate set (the recipe knob turns the cut off)
    whole = curate(path, tmp_path / "whole", {**FAST, "models": {"embeddings": "off"}, "selection": {"headroom": 0}},
                   target=8)
    assert whole.summary["selection"]["candidates"] == whole.summary["selection"]["pool"]
