import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.too_long import TooLong, _count
from finesift.config import AuditConfig
from finesift.engine.local import score_table
from finesift.errors import ConfigError
from finesift.pipeline import build_checks, score_all
from finesift.records import Dataset


@pytest.fixture
def word_tokenizer(tmp_path):
    """A one-token-per-word tokenizer.json written in the test (no model files needed)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tok" / "tokenizer.json"
    path.parent.mkdir()
    tok.save(str(path))
    return path


def _table(prompts, outputs, system=None):
    cols = {"prompt": pa.array(prompts, pa.string()), "output": pa.array(outputs, pa.string())}
    if system is not None:
        cols["system"] = pa.array(system, pa.string())
    return pa.table(cols)


def test_counts_tokens_per_field_and_flags_over_budget(word_tokenizer):
    config = AuditConfig(tokenizer=str(word_tokenizer), max_tokens=5, checks=["too_long"])
    check = build_checks(config)[0]  # the budget comes from config.max_tokens
    scores = score_table(check, _table(["hello world", "a b c", None], ["x", "one two three four", "hi"],
                                       system=[None, "be nice", None]), config)
    assert scores["too_long_prompt_tokens"].to_pylist() == [2, 3, 0]
    assert scores["too_long_output_tokens"].to_pylist() == [1, 4, 1]
    assert scores["too_long_total_tokens"].to_pylist() == [3, 9, 1]
    assert check.decide(scores).tolist() == [False, True, False]
    assert TooLong({"max_tokens": 2}).decide(scores).tolist() == [True, True, False]


def test_folder_path_and_bad_path(word_tokenizer, tmp_path):
    folder = AuditConfig(tokenizer=str(word_tokenizer.parent))
    scores = score_table(TooLong(), _table(["hello"], ["world"]), folder)
    assert scores["too_long_total_tokens"].to_pylist() == [2]
    with pytest.raises(ConfigError):
        score_table(TooLong(), _table(["a"], ["b"]), AuditConfig(tokenizer=str(tmp_path / "nope")))


def test_one_check_counts_with_the_tokenizer_of_each_config(word_tokenizer, tmp_path):
    from tokenizers import Tokenizer, models

    whole = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))  # no pre-tokenizer: one token per text
    whole.save(str(tmp_path / "whole.json"))
    check = TooLong()  # its memo of counts per text must not carry over to another tokenizer
    table = _table(["hello world"], ["hello world"])
    first = score_table(check, table, AuditConfig(tokenizer=str(word_tokenizer)))
    second = score_table(check, table, AuditConfig(tokenizer=str(tmp_path / "whole.json")))
    assert first["too_long_total_tokens"].to_pylist() == [4]
    assert second["too_long_total_tokens"].to_pylist() == [2]


def test_scores_do_not_depend_on_batch_size(word_tokenizer):
    prompts = [" ".join(["w"] * (i % 7)) for i in range(50)]
    outputs = [" ".join(["v"] * (i % 5)) for i in range(50)]
    ds = Dataset(table=_table(prompts, outputs), source="t", format="jsonl", shape="alpaca")
    results = []
    for b in (1, 4, 1000):
        config = AuditConfig(checks=["too_long"], batch_size=b, tokenizer=str(word_tokenizer))
        results.append(score_all(ds, [TooLong()], config)[0])
    assert results[0].equals(results[1]) and results[1].equals(results[2])


@pytest.mark.slow
def test_default_smollm2_tokenizer_is_extracted_once_and_cached(tmp_path, monkeypatch):
    from finesift.models import tokenizer as tk

    monkeypatch.setenv("FINESIFT_CACHE", str(tmp_path))
    tok = tk.load_tokenizer_json(None)  # extracts from the packaged GGUF (needs transformers)
    assert (tmp_path / "tokenizers" / "smollm2-135m-instruct" / "tokenizer.json").exists()
    assert len(tok.encode("Hello world", add_special_tokens=False).ids) == 2
    monkeypatch.setattr(tk, "_extract_from_gguf", lambda target: pytest.fail("extracted twice"))
    tk._load.cache_clear()
    assert tk.load_tokenizer_json(None).get_vocab_size() == tok.get_vocab_size()


@pytest.fixture(scope="module")
def byte_bpe():
    """A small byte-level BPE (the GPT-2 pre-tokenizer, like SmolLM2's) trained in the test, with one added token."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = ["the cat sat on the mat", "le chat est là, n'est-ce pas ?", "it's 1234 dogs' bones",
              "  indented\ttext\n"]
    tok.train_from_iterator(corpus * 20, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|im_start|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


_PIECES = ["the", "cat", " ", "  ", "\t", "\n", "\u00a0", "\u200b", "\u3000", "l'", "été", "'s", "n't", "12", "3",
           ",", "?", "!!", "<|im_start|>", "日本", "😀", "-", "a"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join), min_size=1, max_size=20))
def test_counts_equal_whole_text_encoding(byte_bpe, texts):
    # words encoded apart must add up to the whole text's count, whatever the spacing, script or added token
    expected = [len(e) for e in byte_bpe.encode_batch(texts, add_special_tokens=False)]
    assert _count(byte_bpe, pa.array(texts), {}).tolist() == expected


def test_byte_level_bpe_encodes_each_distinct_word_once(byte_bpe):
    class Spy:
        """The tokenizer, recording every text it is asked to encode."""

        def __init__(self, tok):
            self.tok, self.seen = tok, []

        def __getattr__(self, name):
            return getattr(self.tok, name)

        def encode_batch_fast(self, texts, add_special_tokens):
            self.seen += texts
            return self.tok.encode_batch_fast(texts, add_special_tokens=add_special_tokens)

    spy = Spy(byte_bpe)
    texts = ["the cat sat", "the cat", "sat on the mat", "a  b", "x <|im_start|> y", "n\u00a0 y\tz"]
    assert _count(spy, pa.array(texts), {}).tolist() == [
        len(e) for e in byte_bpe.encode_batch(texts, add_special_tokens=False)]
    # cut before a space that follows a non-space; a text with an added token whole
    assert sorted(spy.seen) == sorted(["the", " cat", " sat", "sat", " on", " the", " mat", "a", "  b",
                                       "x <|im_start|> y", "n\u00a0 y\tz"])


def test_truncating_or_padding_tokenizer_counts_whole_texts(byte_bpe):
    from tokenizers import Tokenizer

    texts = ["the cat sat on the mat", "it's 1234 dogs' bones"]
    for setup in (lambda t: t.enable_truncation(3), lambda t: t.enable_padding(length=9)):
        tok = Tokenizer.from_str(byte_bpe.to_str())
        setup(tok)
        assert _count(tok, pa.array(texts), {}).tolist() == [
            len(e) for e in tok.encode_batch(texts, add_special_tokens=False)]
