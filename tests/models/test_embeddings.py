"""Embeddings: unit rows, one pass per distinct text, shared through the Context; clustering."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("model2vec")

from finesift.checks.base import Context  # noqa: E402
from finesift.errors import ConfigError  # noqa: E402
from finesift.models import embeddings  # noqa: E402
from finesift.models.embeddings import default_k, embed, embeddings_for, kmeans, row_texts  # noqa: E402

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


def test_embeddings_for_computes_once_per_context(static_model, monkeypatch):
    table = pa.table({"prompt": ["a", None], "output": ["b", "c"]})
    assert row_texts(table) == ["a\nb", "\nc"]
    assert row_texts(table, "prompt") == ["a", ""]
    calls = []
    real = embeddings.embed

    def counting(texts, **kw):
        calls.append(texts)
        return real(texts, **kw)

    monkeypatch.setattr(embeddings, "embed", counting)
    ctx = Context()
    first = embeddings_for(table, ctx)
    assert embeddings_for(table, ctx) is first
    embeddings_for(table, ctx, field="output")
    assert len(calls) == 2  # one per field, never twice


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
