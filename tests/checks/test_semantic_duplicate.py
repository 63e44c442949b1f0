"""semantic_duplicate: paraphrases and copies of an earlier row; exact search equals brute force."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("model2vec")

from finesift.checks.features import add_features  # noqa: E402
from finesift.checks.semantic_duplicate import SemanticDuplicate, duplicate_groups  # noqa: E402
from finesift.engine.local import score_table  # noqa: E402
from tests.models.conftest import static_model  # noqa: E402,F401  (session fixture)

ROWS = [
    ("Translate to French: He is lazy.", "Il est paresseux."),
    ("Translate to French: Where is your school?", "Où se trouve ton école ?"),
    ("Translate to French: He's lazy.", "Il est paresseux."),                      # paraphrase of row 0
    ("Translate to French: What is your phone number?", "Quel est ton numéro de téléphone ?"),
    ("Translate to French: Where's your school?", "Où se trouve ton école ?"),     # paraphrase of row 1
    ("Translate to French: The cat sleeps on the sofa.", "Le chat dort sur le canapé."),
    ("Translate to French: He is lazy.", "Il est paresseux."),                      # exact copy of row 0
    ("Translate to French: He is lazy.", "Il est très travailleur."),               # same prompt, other answer
]


def _table(rows, row_ids=None):
    return pa.table({
        "row": pa.array(row_ids if row_ids is not None else range(len(rows)), pa.int64()),
        "prompt": [p for p, _ in rows],
        "output": [o for _, o in rows],
    })


def test_fires_on_paraphrases_and_copies_naming_the_first_row(static_model):  # noqa: F811
    check = SemanticDuplicate()
    scores = score_table(check, _table(ROWS))
    flagged = check.decide(scores)
    assert flagged.tolist() == [False, False, True, False, True, False, True, False]
    assert scores["semantic_duplicate_of"].to_pylist() == [None, None, 0, None, 1, None, 0, None]
    sim = scores["semantic_duplicate_sim"].to_pylist()
    assert sim[6] == 1.0 and sim[0] is None  # the first row has nothing earlier
    assert all(-1.0 <= s <= 1.0 for s in sim if s is not None)


def test_quiet_on_distinct_rows(static_model):  # noqa: F811
    rows = [ROWS[i] for i in (0, 1, 3, 5)] + [("Name a colour.", "Blue."), ("What is 2 + 2?", "4")]
    check = SemanticDuplicate()
    assert not check.decide(score_table(check, _table(rows))).any()


def test_partner_is_the_row_id_not_the_position(static_model):  # noqa: F811
    scores = score_table(SemanticDuplicate(), _table(ROWS, row_ids=[10 * i for i in range(len(ROWS))]))
    assert scores["semantic_duplicate_of"].to_pylist()[2] == 0
    assert scores["semantic_duplicate_of"].to_pylist()[4] == 10


def test_text_mode_and_redecide(static_model):  # noqa: F811
    check = SemanticDuplicate({"compare": "text"})
    scores = score_table(check, _table(ROWS))
    assert check.decide(scores)[[2, 4, 6]].all()
    strict = SemanticDuplicate({"threshold": 0.9999})
    assert strict.decide(score_table(SemanticDuplicate(), _table(ROWS))).tolist() == [False] * 6 + [True, False]


def test_batches_give_the_same_scores_and_the_state_keeps_each_text_once(static_model):  # noqa: F811
    table = _table(ROWS)
    for compare in ("fields", "text"):
        whole = score_table(SemanticDuplicate({"compare": compare}), table)
        for size in (1, 3, 5):
            assert score_table(SemanticDuplicate({"compare": compare}), table, batch_size=size).equals(whole), size
    check = SemanticDuplicate()
    batch = add_features(table, check.needs)
    state = check.merge([check.fit(batch.slice(s, 3)) for s in range(0, len(ROWS), 3)])
    # row 6 copies row 0: its embeddings are kept once; every row keeps a hash, not its text
    assert len(state["a"]) == len(state["b"]) == len(ROWS) - 1 and len(state["key"]) == len(ROWS)
    assert state["key"].dtype == np.uint64
    assert SemanticDuplicate({"compare": "text"}).needs == ("embedding",)


def test_empty_table():
    out = score_table(SemanticDuplicate(), _table([]))
    assert out.num_rows == 0 and out.column_names == ["semantic_duplicate_sim", "semantic_duplicate_of"]


# ---- the search itself, on synthetic unit vectors -------------------------------------------------

def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(rng, n, d=24, noise=0.02):
    """Rows that are noisy copies of earlier rows (about a third), so groups form."""
    x = rng.standard_normal((n, d))
    for i in range(1, n):
        if rng.random() < 0.35:
            x[i] = x[rng.integers(0, i)] + noise * rng.standard_normal(d)
    return _unit(x)


def _brute(a, b, threshold, floor):
    s = a @ a.T if b is None else np.minimum(a @ a.T, b @ b.T)
    n = len(a)
    s[np.triu_indices(n)] = -np.inf
    best = s.max(axis=1).astype(float) if n > 1 else np.full(n, -np.inf)
    best[~(best >= floor)] = np.nan
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j in zip(*np.nonzero(s >= threshold)):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return best, np.array([find(i) for i in range(n)], dtype=np.int64)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fields", [False, True])
def test_exact_search_equals_brute_force(seed, fields, monkeypatch):
    import finesift.checks.semantic_duplicate as sd

    monkeypatch.setattr(sd, "BLOCK_CELLS", 4000)  # many small blocks: exercises the block edges
    rng = np.random.default_rng(seed)
    a = _clustered(rng, 300)
    b = _unit(a + 0.03 * rng.standard_normal(a.shape)) if fields else None  # answers: a noisier copy
    sim, root = duplicate_groups(a, b, threshold=0.95, floor=0.5)
    want_sim, want_root = _brute(a, b, 0.95, 0.5)
    np.testing.assert_allclose(np.nan_to_num(sim, nan=-9), np.nan_to_num(want_sim, nan=-9), atol=1e-5)
    assert np.array_equal(root, want_root)
    assert (sim >= 0.95).sum() > 50


def test_identical_rows_are_searched_once_and_score_one():
    rng = np.random.default_rng(0)
    a = _unit(rng.standard_normal((4, 8)))
    a = np.concatenate([a, a[[1, 1, 3]]])
    key = pa.array(["a", "b", "c", "d", "b", "b", "d"])
    sim, root = duplicate_groups(a, None, key, threshold=0.95, floor=0.5)
    assert sim[4:].tolist() == [1.0, 1.0, 1.0]
    assert root.tolist()[4:] == [1, 1, 3]


def test_approximate_index_finds_almost_all_duplicates():
    rng = np.random.default_rng(3)
    a = _clustered(rng, 2000, d=32)
    exact, exact_root = duplicate_groups(a, None, threshold=0.95, floor=0.8)
    approx, root = duplicate_groups(a, None, threshold=0.95, floor=0.8, exact_max_rows=100, probes=4)
    want, got = exact >= 0.95, np.nan_to_num(approx, nan=-1) >= 0.95
    assert not (got & ~want).any()  # never a false duplicate: every pair it reports is verified
    assert (got & want).sum() >= 0.97 * want.sum()
    assert np.mean(root[got] == exact_root[got]) >= 0.97
    again, _ = duplicate_groups(a, None, threshold=0.95, floor=0.8, exact_max_rows=100, probes=4)
    assert np.array_equal(np.nan_to_num(approx), np.nan_to_num(again))  # deterministic


def test_index_scans_codes_from_enough_training_rows_and_reranks_by_vectors(monkeypatch):
    # faiss's 4-bit fast scan once there are FAST_SCAN_ROWS rows to train its codes on, the vectors below
    import faiss

    import finesift.checks.semantic_duplicate as sd

    built = []
    real = faiss.index_factory
    monkeypatch.setattr(faiss, "index_factory", lambda d, spec, *a: built.append((d, spec)) or real(d, spec, *a))
    rng = np.random.default_rng(4)
    a = _clustered(rng, sd.FAST_SCAN_ROWS, d=32)
    exact, _ = duplicate_groups(a, None, threshold=0.95, floor=0.8)
    approx, _ = duplicate_groups(a, None, threshold=0.95, floor=0.8, exact_max_rows=0)
    duplicate_groups(a[: sd.FAST_SCAN_ROWS - 1], None, threshold=0.95, floor=0.8, exact_max_rows=0)
    assert built == [(32, "IVF26,PQ16x4fs,RFlat"), (32, "IVF26,Flat")]
    want, got = exact >= 0.95, np.nan_to_num(approx, nan=-1) >= 0.95
    assert not (got & ~want).any() and (got & want).sum() >= 0.97 * want.sum()


@pytest.mark.parametrize("fields", [False, True])
def test_index_scores_are_the_exact_similarities(fields, monkeypatch):
    # 48 + 48 dimensions: faiss's PCA reduction is used; every score the index gives is the exact one
    import faiss

    rng = np.random.default_rng(5)
    a = _clustered(rng, 1500, d=48)
    b = _unit(a + 0.03 * rng.standard_normal(a.shape)) if fields else None
    exact, _ = duplicate_groups(a, b, threshold=0.95, floor=0.8)
    built = []
    real = faiss.PCAMatrix
    monkeypatch.setattr(faiss, "PCAMatrix", lambda *args: built.append(args) or real(*args))
    approx, _ = duplicate_groups(a, b, threshold=0.95, floor=0.8, exact_max_rows=0)
    assert built == ([(96, 64)] if fields else [])  # 48 dims need no reduction
    found = ~np.isnan(approx)
    assert found.sum() >= 0.97 * (~np.isnan(exact)).sum()
    np.testing.assert_allclose(approx[found], exact[found], atol=1e-6)
    assert (approx[found] >= 0.8).all()


def test_index_finds_a_group_larger_than_the_neighbours_asked_for():
    # 120 near copies of one row among distinct rows: 8 neighbours a row would miss most of the pairs
    rng = np.random.default_rng(7)
    base = rng.standard_normal(32)
    a = _unit(np.concatenate([base + 0.01 * rng.standard_normal((120, 32)), rng.standard_normal((400, 32))]))
    a = a[rng.permutation(len(a))]
    exact, exact_root = duplicate_groups(a, None, threshold=0.95, floor=0.8)
    edges = []
    import finesift.checks.semantic_duplicate as sd

    real = sd._Groups.add
    try:
        sd._Groups.add = lambda self, qi, kj: edges.append(len(qi)) or real(self, qi, kj)
        approx, root = duplicate_groups(a, None, threshold=0.95, floor=0.8, exact_max_rows=0, neighbours=8)
    finally:
        sd._Groups.add = real
    np.testing.assert_allclose(np.nan_to_num(approx, nan=-9), np.nan_to_num(exact, nan=-9), atol=1e-6)
    assert np.array_equal(root, exact_root)
    assert sum(edges) >= 120 * 119 // 2  # every pair of the group (each may be seen from both rows)


@pytest.mark.parametrize("n", [1, 2, 3, 40])
def test_index_on_tiny_inputs_equals_exact(n, capfd):
    rng = np.random.default_rng(n)
    a = _clustered(rng, n, d=80)
    exact, exact_root = duplicate_groups(a, None, threshold=0.95, floor=0.5)
    approx, root = duplicate_groups(a, None, threshold=0.95, floor=0.5, exact_max_rows=0)
    np.testing.assert_allclose(np.nan_to_num(approx, nan=-9), np.nan_to_num(exact, nan=-9), atol=1e-6)
    assert np.array_equal(root, exact_root)
    assert "WARNING" not in capfd.readouterr().err  # faiss's k-means warns below 39 rows a cell


def test_index_runs_faiss_on_one_thread_and_restores_the_count(monkeypatch):
    import faiss

    before = faiss.omp_get_max_threads()
    calls = []
    real = faiss.omp_set_num_threads
    monkeypatch.setattr(faiss, "omp_set_num_threads", lambda k: calls.append(k) or real(k))
    a = _clustered(np.random.default_rng(0), 300)
    duplicate_groups(a, None, threshold=0.95, floor=0.8, exact_max_rows=0)
    assert calls == [1, before] and faiss.omp_get_max_threads() == before


def test_index_without_faiss_names_the_package(monkeypatch):
    import sys

    from finesift.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    a = _clustered(np.random.default_rng(0), 50)
    assert duplicate_groups(a, None, threshold=0.95, floor=0.8, exact_max_rows=50)[0].shape == (50,)  # exact: no faiss
    with pytest.raises(MissingDependencyError, match=r"faiss-cpu.*finesift\[models\]"):
        duplicate_groups(a, None, threshold=0.95, floor=0.8, exact_max_rows=49)


def test_audit_with_embeddings_shares_one_pass_and_fills_duplicate_of(static_model, write_jsonl,  # noqa: F811
                                                                       monkeypatch):
    from finesift.api import audit
    from finesift.models import embeddings

    calls = []
    real = embeddings.embed_fields
    monkeypatch.setattr(embeddings, "embed_fields", lambda p, o: calls.append(1) or real(p, o))
    path = write_jsonl([{"instruction": p, "input": "", "output": o} for p, o in ROWS])
    result = audit(path, {"checks": ["empty_output"], "with_models": ["embeddings"]})
    assert result.table["duplicate_of"].to_pylist()[2] == 0
    assert result.summary["counts"]["semantic_duplicate"] == 3
    assert "off_topic_distance" in result.table.column_names
    assert len(calls) == 1  # answers and prompts for semantic_duplicate, whole text for off_topic: one pass
