import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.features import WORD, add_features, count_words

_PIECES = ["a", "Zz", "9", "_", "'", "-", "’", "‘", "é", "日", "😀", " ", "\n", "--", "''", "x'y", "don’t",
           "e-mail"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=10).map("".join), max_size=20), st.integers(0, 3))
def test_count_words_is_the_word_pattern_count(texts, skip):
    # the numpy count must match RE2's count of WORD, on a sliced array too (offsets not from 0)
    arr = pa.array(["pad'd"] * skip + texts, pa.string()).slice(skip)
    expected = pc.count_substring_regex(arr, pattern=WORD).cast(pa.int32())
    assert count_words(arr).equals(expected)
    assert count_words(arr.cast(pa.large_string())).equals(expected)


def test_words_features_count_words_and_nulls_count_zero():
    batch = pa.table({"prompt": pa.array(["Don't stop the e-mail", None, "l’été -- oui"]),
                      "output": pa.array(["x", "a'b'c d", ""])})
    out = add_features(batch, ["words_prompt", "words_output"])
    assert out["words_prompt"].to_pylist() == [4, 0, 3]
    assert out["words_output"].to_pylist() == [1, 2, 0]
