"""``stale``: old-era rows are flagged with evidence; nothing is flagged when the eras look alike."""

from __future__ import annotations

import csv
import random

import numpy as np
import orjson
import pytest

from finesift.checks.stale import ERA_CURRENT, ERA_OLD, ERA_UNKNOWN, Condition, Stale
from finesift.config import AuditConfig
from finesift.engine.local import run_checks, score_table
from finesift.errors import ConfigError
from finesift.io import read
from finesift.pipeline import load_inputs

# --- the --current condition ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, values, expected",
    [
        ("date>=2024-01-01", ["2024-01-01", "2023-12-31", "2024-06-01T10:00:00Z", None],
         [ERA_CURRENT, ERA_OLD, ERA_CURRENT, ERA_UNKNOWN]),
        ("date < 2024-01-01", ["2023-12-31T23:59:59+00:00", "2024-01-01", "not a date"],
         [ERA_CURRENT, ERA_OLD, ERA_UNKNOWN]),
        ("version>2", [3, "10", 2, "x"], [ERA_CURRENT, ERA_CURRENT, ERA_OLD, ERA_UNKNOWN]),  # 10 > 2 as numbers
        ("version<=2.5", [2.5, 3], [ERA_CURRENT, ERA_OLD]),
        ("source==v2", ["v2", "v1", ""], [ERA_CURRENT, ERA_OLD, ERA_UNKNOWN]),
        ("source='v2'", ["v2"], [ERA_CURRENT]),
        ("source!=legacy", ["legacy", "new"], [ERA_OLD, ERA_CURRENT]),
        ("date=2024-01-01", ["2024-01-01", "2024-01-02"], [ERA_CURRENT, ERA_OLD]),
    ],
)
def test_condition_compares_numbers_dates_and_strings(text, values, expected):
    assert Condition.parse(text).evaluate(values).tolist() == expected


@pytest.mark.parametrize("bad", ["date", ">=2024", "date>=", "date ~ 2024", ""])
def test_condition_syntax_errors_are_config_errors(bad):
    with pytest.raises(ConfigError, match="FIELD OP VALUE"):
        Condition.parse(bad)


def _rows_to_dataset(tmp_path, rows, name="data.jsonl"):
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return read(str(path))


def _run(ds, params=None, batch_size=None, **cfg):
    """Scores, flags and facts through the engine (which reads a --reference file once: ``inputs``)."""
    config = AuditConfig(checks=[], **cfg)
    check = Stale(params)
    res = run_checks(ds.table, [check], config, inputs=load_inputs([check], config), batch_size=batch_size)
    return res.scores, check.decide(res.scores), res.facts["stale"]


def test_needs_current_or_reference(tmp_path):
    ds = _rows_to_dataset(tmp_path, [{"instruction": "a", "output": "b"}])
    with pytest.raises(ConfigError, match="--current"):
        score_table(Stale(), ds.table, AuditConfig(checks=[]))
    with pytest.raises(ConfigError, match="not both"):
        score_table(Stale(), ds.table, AuditConfig(checks=[], current="d>1", reference="x.jsonl"))


def test_unknown_metadata_field_names_the_fields_seen(tmp_path):
    ds = _rows_to_dataset(tmp_path, [{"instruction": "a", "output": "b", "year": 2020}])
    with pytest.raises(ConfigError, match="no row has a metadata field 'date'.*year"):
        _run(ds, current="date>=2024-01-01")
    # over batches: the fields of the first rows of the dataset, whichever batch holds them
    ds = _rows_to_dataset(tmp_path, [{"instruction": "a", "output": "b", "year": 2020},
                                     {"instruction": "c", "output": "d", "source": "x"}])
    with pytest.raises(ConfigError, match="fields seen: source, year$"):
        _run(ds, batch_size=1, current="date>=2024-01-01")


def test_the_reference_comes_from_the_engine_and_any_batch_size_gives_the_same_scores(tmp_path):
    """``score`` reads no file: the reference is the Dataset the engine read once (the config's path is
    only reported); scores, eras, evidence and facts do not depend on the batch size in either mode."""
    rows = _synthetic(n_old=20, n_new=20)
    ds = _rows_to_dataset(tmp_path, rows)
    ref = _rows_to_dataset(tmp_path, _synthetic(n_old=0, n_new=30, seed=1), "ref.jsonl")
    for cfg, inputs in (({"reference": str(tmp_path / "gone.jsonl")}, {"reference": ref}),
                        ({"current": "date>=2024-01-01"}, {})):
        config = AuditConfig(checks=[], **cfg)
        runs = [run_checks(ds.table, [Stale()], config, inputs=inputs, batch_size=size) for size in (7, len(rows))]
        assert runs[0].scores.equals(runs[1].scores), cfg
        assert runs[0].facts == runs[1].facts
        assert runs[0].scores["stale_score"].null_count == 0, cfg  # both modes trained an era model
        if "reference" in cfg:
            assert runs[0].facts["stale"]["reference"] == cfg["reference"]
            assert runs[0].facts["stale"]["reference_rows"] == 30
    assert runs[1].scores["stale_era"].to_pylist() == [ERA_OLD if r["date"] < "2024" else ERA_CURRENT for r in rows]


def _synthetic(n_old=40, n_new=40, seed=0):
    """Old era says 'customer service hotline', the new one 'support chat'; same questions."""
    rng = random.Random(seed)
    topics = ["refund", "password", "invoice", "delivery", "account", "order", "address", "payment"]
    rows = []
    for i in range(n_old + n_new):
        t = rng.choice(topics)
        old = i < n_old
        tail = "call our customer service hotline by phone" if old else "open the support chat in the app"
        rows.append({"instruction": f"How do I fix my {t} problem number {i}?",
                     "output": f"For {t} issues please {tail}. Reference {i}.",
                     "date": "2018-05-01" if old else "2024-03-01"})
    rng.shuffle(rows)
    return rows


def test_flags_old_rows_with_evidence_terms(tmp_path):
    rows = _synthetic()
    ds = _rows_to_dataset(tmp_path, rows)
    scores, flags, facts = _run(ds, current="date>=2024-01-01")
    truth = np.array([r["date"] < "2024" for r in rows])
    assert flags.tolist() == truth.tolist()
    assert facts["auc"] == 1.0
    terms = scores["stale_terms"].to_pylist()
    old_words = set("call our customer service hotline by phone".split())
    for i in np.flatnonzero(truth):  # every old row's evidence is the old wording, and only that
        assert terms[i] and all(set(t.split()) <= old_words for t in terms[i]), terms[i]
    assert all(terms[i] == [] for i in np.flatnonzero(~truth))
    assert {"hotline", "customer service"} & {t["term"] for t in facts["old_terms"]}
    score = scores["stale_score"].to_numpy()
    assert score[truth].min() > 0.5 > score[~truth].max()
    assert scores["stale_era"].to_pylist() == [ERA_OLD if t else ERA_CURRENT for t in truth]


def test_rows_without_the_field_are_scored_by_the_full_model(tmp_path):
    rows = _synthetic()
    rows[0] = {k: v for k, v in rows[0].items() if k != "date"}
    ds = _rows_to_dataset(tmp_path, rows)
    scores, flags, _ = _run(ds, current="date>=2024-01-01")
    assert scores["stale_era"][0].as_py() == ERA_UNKNOWN
    is_old = "hotline" in rows[0]["output"]
    assert flags[0] == is_old


def test_current_rows_are_never_flagged_unless_metadata_is_not_trusted(tmp_path):
    rows = _synthetic()
    # a current-dated row written in the old style
    rows.append({"instruction": "How do I fix it?", "output": "Please call our customer service hotline by phone.",
                 "date": "2024-05-05"})
    ds = _rows_to_dataset(tmp_path, rows)
    scores, flags, _ = _run(ds, current="date>=2024-01-01")
    assert not flags[-1]
    untrusting = Stale({"trust_metadata": False})
    assert untrusting.decide(scores)[-1]


def test_too_few_rows_in_an_era_scores_nothing(tmp_path):
    rows = _synthetic(n_old=3, n_new=40)
    ds = _rows_to_dataset(tmp_path, rows)
    scores, flags, facts = _run(ds, current="date>=2024-01-01")
    assert not flags.any()
    assert scores["stale_score"].null_count == len(rows)
    assert "skipped" in facts


# --- real data: bitext customer support, 2023-08-07 (old) vs 2023-08-18 (rewritten) ----------------


def _bitext(shared_data, name):
    with open(shared_data / name, newline="", encoding="utf-8") as fh:
        return [{"instruction": r["instruction"], "output": r["response"], "intent": r["intent"]}
                for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def bitext(request):
    from tests.conftest import SHARED_DATA

    old = _bitext(SHARED_DATA, "bitext-customer-support-2023-08-07.csv")
    new = _bitext(SHARED_DATA, "bitext-customer-support-2023-08-18.csv")
    return old, new


@pytest.mark.slow
def test_real_eras_current_condition(tmp_path, bitext):
    """400 old + 400 new rows, dated: stale fires on the old ones (precision and recall >= 0.95)."""
    old, new = bitext
    rng = random.Random(0)
    rows = [dict(r, date="2023-08-07") for r in rng.sample(old, 400)] + \
           [dict(r, date="2023-08-18") for r in rng.sample(new, 400)]
    rng.shuffle(rows)
    ds = _rows_to_dataset(tmp_path, rows)
    scores, flags, facts = _run(ds, current="date>=2023-08-10")
    truth = np.array([r["date"] == "2023-08-07" for r in rows])
    precision = (flags & truth).sum() / max(flags.sum(), 1)
    recall = (flags & truth).sum() / truth.sum()
    print(f"bitext --current: precision {precision:.3f} recall {recall:.3f} auc {facts['auc']}")
    assert precision >= 0.95 and recall >= 0.95
    # the evidence is the old replies' wording, e.g. "customer service" / "please contact"
    assert {"please contact", "customer service"} & {t["term"] for t in facts["old_terms"]}


@pytest.mark.slow
def test_real_eras_reference_file(tmp_path, bitext):
    """--reference: 300 new rows as the reference; a 300 old + 300 new mix is scored against them."""
    old, new = bitext
    rng = random.Random(1)
    new_sample = rng.sample(new, 600)
    ref, mix_new = new_sample[:300], new_sample[300:]
    rows = [dict(r, era="old") for r in rng.sample(old, 300)] + [dict(r, era="new") for r in mix_new]
    rng.shuffle(rows)
    ds = _rows_to_dataset(tmp_path, rows)
    (tmp_path / "ref.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ref))
    scores, flags, facts = _run(ds, reference=str(tmp_path / "ref.jsonl"))
    truth = np.array([r["era"] == "old" for r in rows])
    precision = (flags & truth).sum() / max(flags.sum(), 1)
    recall = (flags & truth).sum() / truth.sum()
    print(f"bitext --reference: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.9


@pytest.mark.slow
def test_real_quiet_when_every_row_is_current(tmp_path, bitext):
    """New rows only, with made-up dates (no real era difference) or against a new reference: no flags."""
    _, new = bitext
    rng = random.Random(2)
    sample = rng.sample(new, 600)
    rows = [dict(r, date=rng.choice(["2023-08-07", "2023-08-18"])) for r in sample[:400]]
    ds = _rows_to_dataset(tmp_path, rows)
    _, flags, facts = _run(ds, current="date>=2023-08-10")
    assert flags.sum() == 0, facts
    (tmp_path / "ref.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in sample[400:]))
    _, flags, facts = _run(ds, reference=str(tmp_path / "ref.jsonl"))
    assert flags.sum() == 0, facts
