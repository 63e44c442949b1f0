"""LMScorer: answer-only losses, IFD, batching and truncation, with a tiny random Llama (fast)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from finesift.models.lm_scores import LMScorer  # noqa: E402

PROMPTS = ["Translate to French: Hello.", "Translate to French: I am tired.", "Name a colour.",
           "Translate to French: Hello.", "What is 2 + 2?"]
OUTPUTS = ["Bonjour.", "Je suis fatigué.", "Blue, like the sky on a clear summer day.", "Bonjour.", "4"]


@pytest.fixture(scope="module")
def scorer(tiny_lm_dir):
    return LMScorer(str(tiny_lm_dir), device="cpu", batch_size=2)


def _manual_loss(scorer: LMScorer, text: str, start: int, end: int) -> float:
    """Reference: full forward pass, log-softmax over the whole vocabulary, mean over answer tokens."""
    enc = scorer.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = torch.tensor([enc["input_ids"]])
    answer = torch.tensor([start <= s < end and e > s for s, e in enc["offset_mapping"]])
    with torch.no_grad():
        logp = torch.log_softmax(scorer.model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    nll = -logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]]
    return float(nll[answer[1:]].mean())


def test_scores_shapes_and_relations(scorer):
    out = scorer.score(PROMPTS, OUTPUTS)
    assert set(out) == {"loss", "loss_alone", "ppl", "ifd", "answer_tokens"}
    for key in out:
        assert out[key].shape == (len(PROMPTS),)
    assert np.all(out["loss"] > 0) and np.all(out["loss_alone"] > 0)
    np.testing.assert_allclose(out["ppl"], np.exp(out["loss"]))
    np.testing.assert_allclose(out["ifd"], out["loss"] / out["loss_alone"])
    assert out["loss"][0] == out["loss"][3]  # identical rows score identically (scored once)
    assert out["answer_tokens"][4] >= 1


def test_losses_equal_a_full_forward_pass_on_answer_tokens_only(scorer):
    out = scorer.score(PROMPTS[:3], OUTPUTS[:3])
    for i in range(3):
        (cond, c0, c1), (alone, a0, a1) = scorer.texts(PROMPTS[i], OUTPUTS[i], None)
        assert cond[c0:c1] == OUTPUTS[i] and alone[a0:a1] == OUTPUTS[i]
        assert PROMPTS[i] in cond and PROMPTS[i] not in alone
        assert out["loss"][i] == pytest.approx(_manual_loss(scorer, cond, c0, c1), rel=1e-4)
        assert out["loss_alone"][i] == pytest.approx(_manual_loss(scorer, alone, a0, a1), rel=1e-4)


def test_answer_tokens_decode_to_the_answer(scorer):
    (text, start, end), _ = scorer.texts("Say hi.", "Hi there, friend!", None)
    seq = scorer._encode([(text, start, end)])[0]
    answer_ids = [t for t, a in zip(seq.ids, seq.answer) if a]
    assert scorer.tokenizer.decode(answer_ids) == "Hi there, friend!"


def test_batch_size_and_order_do_not_change_scores(tiny_lm_dir, scorer):
    one = LMScorer(str(tiny_lm_dir), device="cpu", batch_size=1).score(PROMPTS, OUTPUTS)
    many = scorer.score(PROMPTS, OUTPUTS)
    rev = scorer.score(PROMPTS[::-1], OUTPUTS[::-1])
    np.testing.assert_allclose(one["loss"], many["loss"], rtol=1e-5)
    np.testing.assert_allclose(one["ifd"], many["ifd"], rtol=1e-5)
    np.testing.assert_allclose(rev["loss"][::-1], many["loss"], rtol=1e-5)


def test_system_prompt_is_part_of_the_context(scorer):
    (cond, _, _), (alone, _, _) = scorer.texts("Hi", "Salut", "Answer in French.")
    assert "Answer in French." in cond and "Answer in French." in alone
    out = scorer.score(["Hi", "Hi"], ["Salut", "Salut"], ["Answer in French.", None])
    assert out["loss"][0] != out["loss"][1]


def test_empty_answer_scores_nan(scorer):
    out = scorer.score(["Say nothing.", "Say hi."], ["", "Hi"])
    assert np.isnan(out["loss"][0]) and np.isnan(out["ifd"][0]) and out["answer_tokens"][0] == 0
    assert np.isfinite(out["loss"][1])


def test_long_prompt_is_cut_from_the_start_and_answer_kept(tiny_lm_dir):
    short = LMScorer(str(tiny_lm_dir), device="cpu", max_length=24)
    out = short.score(["word " * 200], ["The answer."])
    assert np.isfinite(out["loss"][0]) and out["answer_tokens"][0] >= 2
    (text, s, e), _ = short.texts("word " * 200, "The answer.", None)
    seq = short._encode([(text, s, e)])[0]
    assert len(seq.ids) == 24 and sum(seq.answer) == out["answer_tokens"][0]


def test_model_without_chat_template_uses_plain_text(tiny_lm_dir):
    plain = LMScorer(str(tiny_lm_dir), device="cpu")
    plain.tokenizer.chat_template = None
    plain._template = plain._alone_template = False
    (cond, c0, c1), (alone, a0, a1) = plain.texts("Q?", "A.", None)
    assert cond.endswith("Q?\nA.") and cond[c0:c1] == "A." and alone[a0:a1] == "A."
    assert np.isfinite(plain.score(["Q?"], ["A."])["ifd"][0])


def test_unknown_model_folder_is_a_clear_error(tmp_path):
    from finesift.errors import ConfigError

    with pytest.raises(ConfigError, match="not a local Hugging Face model folder"):
        LMScorer(str(tmp_path / "nope"), device="cpu")


@pytest.mark.slow
def test_smollm2_scores_right_translations_better_than_wrong_ones(smollm2_dir, shared_data):
    """The real default model on Tatoeba: the right answer is more predictable from the prompt than
    the translation of another sentence (lower IFD and perplexity), and its IFD is below 1."""
    lines = (shared_data / "tatoeba-fra-eng.tsv").read_text(encoding="utf-8").splitlines()[:-1]
    rng = np.random.default_rng(0)
    pairs = [lines[i].split("\t") for i in rng.choice(len(lines), 12, replace=False)]
    prompts = [f"Translate to French: {en}" for en, _ in pairs]
    answers = [fr for _, fr in pairs]
    scorer = LMScorer(device="cpu", batch_size=16)
    good = scorer.score(prompts, answers)
    bad = scorer.score(prompts, answers[1:] + answers[:1])
    assert np.median(good["ifd"]) < np.median(bad["ifd"])
    assert np.median(good["ppl"]) < np.median(bad["ppl"])
    assert (good["ifd"] < 1.0).all()


def test_shared_prefix_cache_gives_the_same_losses(scorer, monkeypatch):
    import finesift.models.lm_scores as lm_scores

    shared = scorer.score(PROMPTS, OUTPUTS)
    monkeypatch.setattr(lm_scores, "MIN_SHARED", 10**6)  # never share: full sequences every batch
    full = scorer.score(PROMPTS, OUTPUTS)
    np.testing.assert_allclose(shared["loss"], full["loss"], rtol=1e-5)
    np.testing.assert_allclose(shared["loss_alone"], full["loss_alone"], rtol=1e-5)


def test_span_losses_score_any_span_like_the_answer(scorer):
    (cond, c0, c1), _ = scorer.texts(PROMPTS[1], OUTPUTS[1], None)
    at = cond.rfind(PROMPTS[1], 0, c0)
    loss, counts = scorer.span_losses([(cond, c0, c1), (cond, at, at + len(PROMPTS[1])), (cond, 0, 0)])
    assert loss[0] == pytest.approx(scorer.score(PROMPTS[1:2], OUTPUTS[1:2])["loss"][0], rel=1e-5)
    assert loss[1] == pytest.approx(_manual_loss(scorer, cond, at, at + len(PROMPTS[1])), rel=1e-4)
    assert counts[1] >= 5 and np.isnan(loss[2]) and counts[2] == 0


def test_length_batching_computes_less_padding_than_input_order(scorer):
    long = "word " * 40
    prompts = ["Say it."] * 4
    outputs = [long, "ok", long + "more", "no"]  # long and short alternate in input order
    out, tokens = {}, {}
    try:
        for sort in (True, False):
            scorer.length_batching = sort
            scorer.tokens = {"tokens": 0, "padded": 0}
            out[sort], tokens[sort] = scorer.score(prompts, outputs), scorer.tokens
    finally:
        scorer.length_batching = True
    assert tokens[True]["tokens"] == tokens[False]["tokens"]  # the same real tokens either way
    assert tokens[True]["padded"] < 0.7 * tokens[False]["padded"]
    np.testing.assert_allclose(out[True]["loss"], out[False]["loss"], rtol=1e-4)  # and input order back
