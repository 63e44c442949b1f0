"""Embeddings: unit rows, one pass per distinct text, features shared by checks and curate; clustering."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("model2vec")

from finesift.checks.features import add_features  # noqa: E402
from finesift.config import AuditConfig  # noqa: E402
from finesift.errors import ConfigError  # noqa: E402
from finesift.models import embeddings  # noqa: E402
from finesift.models.embeddings import (  # noqa: E402
    FEATURE_OF,
    default_k,
    embed,
    embedding_matrix,
    kmeans,
    row_texts,
)

TEXTS = ["How do I bake bread?", "What is the recipe for bread?", "Translate to French: I am tired.",
         "How do I bake bread?", ""]


def test_static_rows_are_unit_float32_and_repeat_for_identical_texts(static_model):
    emb = embed(TEXTS)
    assert emb.dtype == np.float32 and emb.shape == (5, embeddings.STATIC_DIMS)
    np.testing.assert_allclose(np.linalg.norm(emb[:4], axis=1), 1.0, atol=1e-5)
    assert np.array_equal(emb[0], emb[3])
    assert emb[0] @ emb[1] > emb[0] @ emb[2]  # bread is closer to bread than to translation


def test_static_model_is_cached_on_disk(static_model):
    assert (static_model / "model.safetensors").exists()
    assert embeddings.static_model_dir() == static_model  # no second distillation


def test_empty_input_and_unknown_backend(static_model):
    assert embed([]).shape == (0, embeddings.STATIC_DIMS)
    with pytest.raises(ConfigError, match="unknown embedding backend"):
        embed(["x"], backend="tfidf")


def test_sentence_backend_agrees_on_what_is_similar():
    pytest.importorskip("sentence_transformers")
    emb = embed(TEXTS[:3], backend="sentence", device="cpu")
    assert emb.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_checks_and_curate_share_one_embedding_pass(static_model, monkeypatch):
    from finesift.checks.off_topic import OffTopic
    from finesift.engine.local import run_checks

    table = pa.table({"row": pa.array([0, 1], pa.int64()), "prompt": ["a", None], "output": ["b", "c"]})
    assert row_texts(table) == ["a\nb", "\nc"]
    assert row_texts(table, "prompt") == ["a", ""]
    calls = []
    real = embeddings.embed

    def counting(texts, **kw):
        calls.append(texts)
        return real(texts, **kw)

    monkeypatch.setattr(embeddings, "embed", counting)
    res = run_checks(table, [OffTopic()], None, keep_features=("embedding",))  # a check and curate both read it
    assert res.features["embedding"].type.list_size == 256
    assert calls == [["a\nb", "\nc"]]  # one pass, never twice


def test_embedding_features_are_fixed_size_float32_and_do_not_depend_on_the_batch(static_model):
    table = pa.table({"prompt": TEXTS + [None, "Translate to French: I am tired."],
                      "output": ["Knead and bake.", "Flour, water, salt.", "Je suis fatigué.", "Knead and bake.", None,
                                 "x", "Je suis fatigué."]})
    whole = add_features(table, FEATURE_OF.values())
    loads = embeddings._load_model.cache_info().misses
    parts = [add_features(table.slice(s, 3), FEATURE_OF.values()) for s in range(0, table.num_rows, 3)]
    assert embeddings._load_model.cache_info().misses == loads  # the model is loaded once per process
    for field, name in FEATURE_OF.items():
        assert whole[name].type == pa.list_(pa.float32(), embeddings.STATIC_DIMS)
        matrix = embedding_matrix(whole[name])
        assert matrix.dtype == np.float32 and matrix.shape == (table.num_rows, embeddings.STATIC_DIMS)
        assert np.array_equal(matrix, embed(row_texts(table, field)))
        batched = np.concatenate([embedding_matrix(p[name]) for p in parts])
        assert np.array_equal(batched, matrix), name  # bit for bit, so any batch size gives the same scores


def test_embedding_features_follow_the_configured_backend_and_device(monkeypatch):
    seen = []

    def fake(texts, **kw):
        seen.append(kw)
        return np.ones((len(texts), 384), np.float32)

    monkeypatch.setattr(embeddings, "embed", fake)
    table = pa.table({"prompt": ["a", "b"], "output": ["c", None]})
    out = add_features(table, ["embedding"], AuditConfig(embeddings="sentence", device="cpu"))
    assert seen == [{"backend": "sentence", "device": "cpu"}]
    assert out["embedding"].type == pa.list_(pa.float32(), 384)
    add_features(table, ["embedding_prompt"])
    assert seen[-1] == {"backend": "static", "device": None}  # no config: the default backend


def test_kmeans_is_deterministic_and_returns_unit_centroids():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 16))
    pts = np.repeat(centres, 30, axis=0) + 0.05 * rng.standard_normal((90, 16))
    pts = (pts / np.linalg.norm(pts, axis=1, keepdims=True)).astype(np.float32)
    labels, cents = kmeans(pts, 3, seed=1)
    labels2, _ = kmeans(pts, 3, seed=1)
    assert np.array_equal(labels, labels2)
    np.testing.assert_allclose(np.linalg.norm(cents, axis=1), 1.0, atol=1e-5)
    assert len(set(labels[:30])) == len(set(labels[30:60])) == len(set(labels[60:])) == 1
    assert kmeans(pts[:1], 5)[1].shape[0] == 1  # never more clusters than rows


def test_default_k_is_bounded():
    assert default_k(1) == 1 and default_k(10) == 2 and default_k(400) == 10 and default_k(10**7) == 100
