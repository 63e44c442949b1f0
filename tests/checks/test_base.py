import re
import unicodedata

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.base import Context, normalize_text, normalized


def _reference(s):
    s = unicodedata.normalize("NFKC", s or "").lower()
    return " ".join(s.split())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)),
                max_size=20))
def test_normalize_text_matches_python_reference(values):
    got = normalize_text(pa.array(values, pa.string())).to_pylist()
    assert got == [_reference(v) for v in values]


def test_normalized_is_computed_once_per_table():
    table = pa.table({"prompt": ["A  b"]})
    ctx = Context()
    first = normalized(table, "prompt", ctx)
    assert normalized(table, "prompt", ctx) is first
    other = pa.table({"prompt": ["C"]})
    assert normalized(other, "prompt", ctx).to_pylist() == ["c"]
