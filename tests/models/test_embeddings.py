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
    real = embeddings.embed_fields

    def counting(prompts, outputs):
        calls.append((prompts, outputs))
        return real(prompts, outputs)

    monkeypatch.setattr(embeddings, "embed_fields", counting)
    res = run_checks(table, [OffTopic()], None, keep_features=("embedding",))  # a check and curate both read it
    assert res.features["embedding"].type.list_size == 256
    assert calls == [(["a", ""], ["b", "c"])]  # one pass, never twice
    assert np.array_equal(embedding_matrix(res.features["embedding"]), embed(["a\nb", "\nc"]))


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
    fields = []
    monkeypatch.setattr(embeddings, "embed_fields", lambda p, o: fields.append((p, o)) or
                        {f: np.ones((len(p), 256), np.float32) for f in FEATURE_OF})
    add_features(table, ["embedding_prompt"])
    assert len(seen) == 1 and fields == [(["a", "b"], ["c", ""])]  # no config: the default (static) backend


def test_embed_fields_equals_embed_of_each_field_bit_for_bit(static_model):
    # the text's tokens are its fields' tokens joined: accents, CJK, emoji, control characters, words longer
    # than the tokenizer's word limit, whitespace at the ends, and texts the model cuts (embedded whole)
    prompts = ["", "a" * 4000, "x " * 600, "日本語のテキスト", "e\u0301cole", "\u0301start", "word\x00ctrl",
               "tab\tend ", " lead", "end\n", "[UNK] ??", "¿Qué?", "😀 emoji", "a" * 150, "Translate: I am tired."]
    outputs = ["", "b", "y " * 100, "中文", "\u0301acc", "Résumé", "\r\nx", "  ", "z" * 3100, "end", "ok", "fin", "😀",
               "c", "Je suis fatigué."]
    prompts, outputs = prompts + prompts[:3], outputs + outputs[:3]  # repeats
    got = embeddings.embed_fields(prompts, outputs)
    assert np.array_equal(got["prompt"], embed(prompts)) and np.array_equal(got["output"], embed(outputs))
    assert np.array_equal(got["text"], embed([p + "\n" + o for p, o in zip(prompts, outputs)]))


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


def _blobs(k: int = 4, per: int = 200, dims: int = 32) -> np.ndarray:
    rng = np.random.default_rng(3)
    pts = np.repeat(rng.standard_normal((k, dims)), per, axis=0) + 0.05 * rng.standard_normal((k * per, dims))
    return (pts / np.linalg.norm(pts, axis=1, keepdims=True)).astype(np.float32)


def test_large_kmeans_runs_on_faiss_deterministically(monkeypatch):
    pytest.importorskip("faiss")
    pts = _blobs()
    monkeypatch.setattr(embeddings, "SKLEARN_MAX_WORK", 0)  # this small set takes the large sets' path
    monkeypatch.setattr(embeddings, "_sklearn_centroids", lambda *a: pytest.fail("scikit-learn used"))
    labels, cents = kmeans(pts, 8, seed=2, n_init=3)
    again, cents2 = kmeans(pts, 8, seed=2, n_init=3)
    assert np.array_equal(labels, again) and np.array_equal(cents, cents2)
    np.testing.assert_allclose(np.linalg.norm(cents, axis=1), 1.0, atol=1e-5)
    # more centres than blobs: every cluster lies inside one blob
    assert all(len(set(labels[b * 200:(b + 1) * 200]) & set(labels[c * 200:(c + 1) * 200])) == 0
               for b in range(4) for c in range(b))


def test_large_kmeans_without_faiss_falls_back_to_scikit_learn(monkeypatch):
    import sys

    pts = _blobs()
    monkeypatch.setattr(embeddings, "SKLEARN_MAX_WORK", 0)
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    labels, cents = kmeans(pts, 4, seed=0)
    assert cents.shape == (4, 32) and len(set(labels)) == 4


def test_static_field_features_share_the_one_pass_buffers(static_model):
    out = add_features(pa.table({"prompt": ["a", "b"], "output": ["c", None]}), FEATURE_OF.values())
    struct = out[embeddings.STATIC_FEATURE].chunk(0)
    for name in FEATURE_OF.values():  # a copy per feature would hold every embedding twice
        child = struct.field(name).values.buffers()[1]
        assert out[name].chunk(0).values.buffers()[1].address == child.address


# words that stress tokenizing each space-separated word on its own: repeated and leading/trailing spaces,
# special tokens next to words, a combining accent or final sigma right after a space, other whitespace
# (no-break, ideographic, tab, newline), one word with more tokens than the tokenizer keeps, a text with more
# words than it keeps, a word over its 100-character limit, and the model's character cut inside a word
WORDY = ["", " ", "a  b", "  lead and trail  ", "[SEP] x", "x[SEP]y [CLS]", "a \u0301b", "ΟΔΟΣ ΟΔΟΣ.",
         "no\u00a0break", "ideo\u3000space", "tab\tin word", "line\nbreak here", "," * 600 + " after",
         "word " * 700, "q" * 150 + " short", "pre " + "z" * 6000, "Translate to French: I'm tired.",
         "Je suis fatigué, très fatigué !", "日本語 の テキスト", "😀 😀😀 emoji"]


def test_word_level_token_ids_equal_the_tokenizers(static_model):
    model = embeddings._load("static", None)
    flat, lens = embeddings._token_ids(model, WORDY)
    cut = model.max_length * model.median_token_length
    want = [e.ids for e in model.tokenizer.encode_batch_fast([t[:cut] for t in WORDY], add_special_tokens=False)]
    assert lens.tolist() == [len(w) for w in want] and flat.tolist() == [i for w in want for i in w]
    got = embeddings.embed_fields(WORDY, WORDY[::-1])
    assert np.array_equal(got["prompt"], embed(WORDY)) and np.array_equal(got["output"], embed(WORDY[::-1]))
    assert np.array_equal(got["text"], embed([p + "\n" + o for p, o in zip(WORDY, WORDY[::-1])]))


class _Spy:
    """The model's tokenizer, recording what it is asked to encode."""

    def __init__(self, tok):
        self.tok, self.seen = tok, []

    def encode_batch_fast(self, texts, **kw):
        self.seen.extend(texts)
        return self.tok.encode_batch_fast(texts, **kw)

    def __getattr__(self, name):
        return getattr(self.tok, name)


def test_the_tokenizer_sees_each_distinct_word_once(static_model, monkeypatch):
    model = embeddings._load("static", None)
    spy = _Spy(model.tokenizer)
    monkeypatch.setattr(model, "tokenizer", spy)
    prompts = [f"Translate to French: I am {w}." for w in ("tired", "here", "tired", "happy")]
    embeddings.embed_fields(prompts, ["Je suis fatigué.", "Je suis ici.", "Je suis fatigué.", "Je suis content."])
    assert sorted(spy.seen) == sorted({w for t in prompts + ["Je suis fatigué.", "Je suis ici.", "Je suis content."]
                                       for w in t.split(" ")})


def test_a_tokenizer_that_does_not_split_at_spaces_tokenizes_each_text(static_model, monkeypatch):
    model = embeddings._load("static", None)
    want = embeddings._token_ids(model, WORDY)
    monkeypatch.setattr(embeddings, "_splits_at_spaces", lambda tok: False)
    spy = _Spy(model.tokenizer)
    monkeypatch.setattr(model, "tokenizer", spy)
    flat, lens = embeddings._token_ids(model, WORDY)
    assert np.array_equal(flat, want[0]) and np.array_equal(lens, want[1]) and len(spy.seen) == len(WORDY)
    import json

    cfg = json.loads(spy.tok.to_str())
    assert embeddings._space_split_tokenizer(json.dumps(cfg))
    for key, value in (("normalizer", {"type": "NFKC"}), ("pre_tokenizer", {"type": "Metaspace"}),
                       ("added_tokens", [{"content": "two words"}])):
        assert not embeddings._space_split_tokenizer(json.dumps({**cfg, key: value}))
