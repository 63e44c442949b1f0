"""The language model's decoded cache: keyed on the packaged file's bytes, never trusted when unreadable."""

from __future__ import annotations

import numpy as np

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
