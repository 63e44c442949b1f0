"""off_topic: a few recipe/weather questions in a translation dataset are flagged; clean data is quiet."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("model2vec")
pytest.importorskip("sklearn")

from finesift.checks.features import add_features  # noqa: E402
from finesift.checks.off_topic import OffTopic, task_distance  # noqa: E402
from finesift.config import AuditConfig  # noqa: E402
from finesift.engine.local import score_table  # noqa: E402
from tests.models.conftest import static_model  # noqa: E402,F401  (session fixture)

ODD = [
    ("What is a good recipe for chocolate chip cookies?",
     "Mix butter, sugar, eggs and flour, add chocolate chips and bake at 180°C for 12 minutes."),
    ("What will the weather be like in Paris tomorrow?",
     "Expect light rain in the morning and sunshine in the afternoon, around 18°C."),
    ("How long should I boil an egg for a soft yolk?", "About six minutes in boiling water, then cool it under cold water."),
]


def _tatoeba(shared_data, n=200, seed=0):
    lines = (shared_data / "tatoeba-fra-eng.tsv").read_text(encoding="utf-8").splitlines()[:-1]
    idx = np.sort(np.random.default_rng(seed).choice(len(lines), n, replace=False))
    return [(f"Translate to French: {lines[i].split(chr(9))[0]}", lines[i].split(chr(9))[1]) for i in idx]


def _table(rows):
    return pa.table({"row": pa.array(range(len(rows)), pa.int64()), "prompt": [p for p, _ in rows],
                     "output": [o for _, o in rows]})


def test_flags_exactly_the_off_topic_rows(static_model, shared_data):  # noqa: F811
    rows = _tatoeba(shared_data)
    rows = rows[:70] + ODD[:1] + rows[70:140] + ODD[1:2] + rows[140:] + ODD[2:]
    check = OffTopic()
    scores = score_table(check, _table(rows))
    flagged = np.flatnonzero(check.decide(scores)).tolist()
    assert flagged == [70, 141, 202]
    dist = scores["off_topic_distance"].to_numpy()
    assert dist[flagged].min() > 0.55 and np.delete(dist, flagged).max() < 0.55


def test_quiet_on_clean_translations(static_model, shared_data):  # noqa: F811
    check = OffTopic()
    assert not check.decide(score_table(check, _table(_tatoeba(shared_data, seed=1)))).any()


def test_small_datasets_are_not_judged(static_model):  # noqa: F811
    check = OffTopic()
    scores = score_table(check, _table([("Translate to French: Hi.", "Salut.")] * 5 + ODD[:1]))
    assert scores["off_topic_z"].null_count == 6
    assert not check.decide(scores).any()


def test_tiny_clusters_are_not_tasks():
    rng = np.random.default_rng(0)
    centre, stray = rng.standard_normal(16), rng.standard_normal(16)
    x = np.vstack([centre + 0.1 * rng.standard_normal((97, 16)), stray + 0.01 * rng.standard_normal((3, 16))])
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    dist, z = task_distance(x, k=4, seed=0)
    # the three stray rows may form their own cluster, yet they stay far from every task
    assert dist[97:].min() > dist[:97].max() and z[97:].min() > 4.5


def test_empty_table(static_model):  # noqa: F811
    out = score_table(OffTopic(), _table([]))
    assert out.num_rows == 0 and out.column_names == ["off_topic_distance", "off_topic_z"]


def test_batches_and_the_seed_come_through_the_protocol(static_model, shared_data):  # noqa: F811
    table = _table(_tatoeba(shared_data, n=60) + ODD)
    whole = score_table(OffTopic(), table)
    assert score_table(OffTopic(), table, batch_size=7).equals(whole)
    check = OffTopic().bind(AuditConfig(seed=5))
    batch = add_features(table, check.needs)
    state = check.finalize(check.merge([check.fit(batch.slice(s, 10)) for s in range(0, table.num_rows, 10)]))
    want, _ = task_distance(np.asarray(batch["embedding"].to_pylist(), np.float32), seed=5)
    np.testing.assert_array_equal(state["dist"], want)  # the config's seed drives the clustering
    assert not np.array_equal(want, task_distance(np.asarray(batch["embedding"].to_pylist(), np.float32), seed=0)[0])
