"""Quality bar from issue 2: the whole default audit flags at most 2% of 2,000 clean Tatoeba rows,
and catches the seed document's noise mixed into the same data."""

import random
import sys
from pathlib import Path

import orjson
import pytest

import finesift
from finesift.records import has_flag

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _tatoeba import clean_sample  # noqa: E402

SEED_NOISE = [  # from ../shared/seed/quality-over-quantity.txt, with the code each must get
    ({"instruction": "translate french hello", "output": "hello is bonjour"}, "wrong_language"),
    ({"instruction": "how u", "output": "comment vous"}, "format_outlier"),
    ({"instruction": "French hello what", "output": "bonjour quoi"}, "format_outlier"),
]


@pytest.fixture(scope="module")
def clean_audit(tmp_path_factory, shared_data_dir=Path(__file__).resolve().parents[2] / "shared" / "data"):
    assert shared_data_dir.exists(), "tests read ../shared/data"
    rows = clean_sample(2000, seed=0)
    noisy = list(rows)
    for r, _ in SEED_NOISE:
        noisy.insert(random.Random(len(noisy)).randrange(len(noisy)), r)
    path = tmp_path_factory.mktemp("tatoeba") / "mixed.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in noisy))
    return noisy, finesift.audit(path)


def test_at_most_two_percent_of_clean_rows_flagged(clean_audit):
    noisy, result = clean_audit
    noise_rows = {i for i, r in enumerate(noisy) if r in [n for n, _ in SEED_NOISE]}
    flags = result.table["flags"].to_pylist()
    clean_flagged = [i for i, f in enumerate(flags) if f and i not in noise_rows]
    assert len(clean_flagged) / 2000 <= 0.02, [(i, flags[i]) for i in clean_flagged[:20]]


def test_seed_noise_is_caught(clean_audit):
    noisy, result = clean_audit
    for row, code in SEED_NOISE:
        i = noisy.index(row)
        assert has_flag(result.table["flags"], code)[i], (row, result.table["flags"][i])
