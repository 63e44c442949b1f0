"""The language model's decoded cache, the word lists, and vectorized helpers against their plain versions."""

from __future__ import annotations

import gzip

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks import _lang


def test_decoded_model_is_cached_by_content_and_a_broken_cache_is_decoded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("FINESIFT_CACHE", str(tmp_path))
    _lang._raw_model.cache_clear()
    try:
        first = _lang._raw_model()
        files = list((tmp_path / "py3langid").glob("model-*.npz"))
        assert len(files) == 1  # named by the xxh3 of the packaged model file
        _lang._raw_model.cache_clear()
        again = _lang._raw_model()  # from the cache
        assert again[2] == first[2] and all(np.array_equal(a, b) for a, b in zip(first[:2] + first[3:],
                                                                                 again[:2] + again[3:]))
        files[0].write_bytes(b"not a zip")  # a cache cut short by a killed run
        _lang._raw_model.cache_clear()
        broken = _lang._raw_model()
        assert broken[2] == first[2] and np.array_equal(broken[3], first[3])
        from py3langid.langid import MODEL_DIR, MODEL_FILE

        assert _lang._cached_model(MODEL_DIR / MODEL_FILE) is not None  # and the cache was written again
    finally:
        _lang._raw_model.cache_clear()


def test_word_lists_are_pyspellcheckers_own():
    # read straight from its package data with orjson (faster): the same words and counts
    from spellchecker import SpellChecker

    for lang in ("en", "fr"):
        assert dict(_lang.spell_dictionary(lang)) == dict(SpellChecker(language=lang, distance=1).word_frequency.dictionary)


def test_a_word_list_with_capitals_is_lower_cased_and_its_case_variants_summed(monkeypatch):
    # the bundled lists are lower case (the fast path); a list that is not goes through the folding
    import pkgutil

    real = pkgutil.get_data
    fake = {"zz": gzip.compress(orjson.dumps({"Paris": 2, "paris": 3, "STRASSE": 1, "été": 4})),
            "zy": gzip.compress(orjson.dumps({"Été": 2, "chat": 1}))}
    monkeypatch.setattr(pkgutil, "get_data", lambda pkg, res: fake.get(res.split("/")[1][:2]) or real(pkg, res))
    try:
        assert dict(_lang.spell_dictionary("zz")) == {"paris": 5, "strasse": 1, "été": 4}
        assert dict(_lang.spell_dictionary("zy")) == {"été": 2, "chat": 1}
    finally:
        _lang.spell_dictionary.cache_clear()


def _regex_word_counts(texts):
    """word_counts as it was: the evidence pattern over every text, after a leading space."""
    text = pc.utf8_replace_slice(pc.fill_null(texts, ""), start=0, stop=0, replacement=" ")
    return pc.count_substring_regex(text, pattern=_lang._EVIDENCE).to_numpy(zero_copy_only=False)


_TEXT = st.text(alphabet=st.sampled_from(list("aZz`{@[ \n\t.'-9") + ["é", "É", "中", "ー", "ä", "\u0301", "ß"]),
                max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_TEXT, st.none()), max_size=8), st.integers(0, 3))
def test_word_counts_match_the_evidence_regex_on_ascii_and_other_texts(texts, start):
    arr = pa.array(texts, pa.string()).slice(min(start, len(texts)))  # a sliced array: offsets not at 0
    assert _lang.word_counts(arr).tolist() == _regex_word_counts(arr).tolist()
    assert _lang.word_counts(pa.chunked_array([arr, arr], pa.string())).tolist() == 2 * _regex_word_counts(arr).tolist()
    big = arr.cast(pa.large_string())
    assert _lang.word_counts(big).tolist() == _regex_word_counts(arr).tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("abcXYZ .!'\n") + ["é", "É", "\u0301", "ß", "中", "я", "Я"]),
                        max_size=30), max_size=12), st.integers(0, 2))
def test_probabilities_of_an_arrow_array_are_those_of_its_python_strings(texts, start):
    # ASCII texts skip Python (their bytes are their encoding); all-capital and other texts are encoded in Python
    ident = _lang.identifier()
    arr = pa.array(texts, pa.string()).slice(min(start, len(texts)))
    assert np.array_equal(ident.probs_of(arr), ident.probs(arr.to_pylist()))
    assert np.array_equal(ident.probs_of(arr.cast(pa.large_string())), ident.probs(arr.to_pylist()))
