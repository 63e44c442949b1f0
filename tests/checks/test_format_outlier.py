import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.format_outlier import FormatOutlier
from finesift.engine.local import score_table

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _data import alpaca_table  # noqa: E402
from _tatoeba import clean_sample  # noqa: E402

SENTENCES = ["Run.", "I love you.", "Where is the station?", "Tom is here.", "It's raining!"]
JUNK = ["translate french hello", "hello french", "how u", "French hello what"]


def _table(prompts, rows=None):
    n = len(prompts)
    return pa.table({
        "row": pa.array(rows if rows is not None else range(n), pa.int64()),
        "prompt": pa.array(prompts, pa.string()),
        "output": pa.array(["x"] * n, pa.string()),
    })


def _run(table, params=None, batch_size=None):
    check = FormatOutlier(params)
    scores = score_table(check, table, batch_size=batch_size)
    return scores, check.decide(scores)


def test_fires_on_prompts_that_break_the_dominant_template():
    prompts = [f"Translate to French: {SENTENCES[i % 5]}" for i in range(200)] + JUNK
    scores, flagged = _run(_table(prompts))
    assert flagged.tolist() == [False] * 200 + [True] * 4
    sc = scores["format_outlier_score"].to_numpy()
    assert sc[:200].max() < 0.05 and sc[200:].min() > 0.99
    assert scores["format_outlier_of"].to_pylist()[200:] == [0] * 4


def test_fires_on_a_missing_final_punctuation_inside_the_dominant_template():
    prompts = [f"Translate to French: {SENTENCES[i % 5]}" for i in range(200)] + ["Translate to French: I love languages"]
    _, flagged = _run(_table(prompts))
    assert flagged.tolist() == [False] * 200 + [True]


def test_fires_on_the_seed_documents_noisy_set_repeated():
    seed = ["translate french hello", "Translate to French: Hello", "hello french", "Translate to French: Hello, how are you?",
            "how u", "Translate to French: Hello, how are you?", "French hello what", "Translate to French: I love languages"]
    _, flagged = _run(_table(seed * 50))
    assert flagged[:8].tolist() == [True, False, True, False, True, False, True, False]


def test_quiet_on_clean_tatoeba_and_small_datasets():
    _, flagged = _run(alpaca_table(clean_sample(2000, seed=0)))
    assert not flagged.any()
    _, flagged = _run(_table(["Translate to French: Run."] * 5 + ["how u"]))
    assert not flagged.any()


def test_quiet_on_diverse_instructions(shared_data):
    rows = json.loads((shared_data / "dolly-3k-chatgpt-filtered.json").read_text(encoding="utf-8"))
    scores, flagged = _run(alpaca_table(rows))
    assert flagged.mean() < 0.02
    assert scores["format_outlier_dominant_share"][0].as_py() < 0.5  # no template to break


templates = st.sampled_from(["Translate to French: {}", "translate french {}", "{} french", "Q: {}"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(templates, st.sampled_from(SENTENCES)), min_size=1, max_size=60),
       st.randoms(use_true_random=False))
def test_invariants(pairs, rnd):
    prompts = [t.format(s) for t, s in pairs]
    scores, flagged = _run(_table(prompts))
    sc = scores["format_outlier_score"].to_numpy()
    assert ((sc >= 0) & (sc < 1)).all()
    # rows of the dominant template (the partner's) are never flagged as breaking it
    partner = scores["format_outlier_of"].to_pylist()
    for i in np.flatnonzero(flagged):
        assert partner[i] is not None
    assert not flagged[[i for i, p in enumerate(partner) if p is None]].any()
    # shares do not depend on row order (``row`` ascends, as the readers number records)
    perm = list(range(len(prompts)))
    rnd.shuffle(perm)
    scores2, flagged2 = _run(_table([prompts[i] for i in perm]), batch_size=rnd.choice([1, 5, 100]))
    back = np.empty(len(perm), dtype=int)
    back[perm] = np.arange(len(perm))
    assert np.allclose(scores2["format_outlier_score"].to_numpy()[back], sc)
    assert (flagged2[back] == flagged).all()


def test_state_is_per_row_numbers_and_batches_give_the_same_scores():
    prompts = [f"Translate to French: {SENTENCES[i % 5]}" for i in range(40)] + JUNK + [None, "Q: x"]
    table = _table(prompts)
    check = FormatOutlier()
    parts = [table.slice(s, 7) for s in range(0, table.num_rows, 7)]
    state = check.fit(parts[0])
    assert all(isinstance(v, np.ndarray) and v.dtype.kind in "iub" for v in state.values())  # no texts kept
    state = check.finalize(check.merge([check.fit(b) for b in parts]))
    streamed = pa.concat_tables([check.score(b, state) for b in parts])
    whole, _ = _run(table)
    assert streamed.equals(whole)
    for size in (1, 3, 7):
        assert _run(table, batch_size=size)[0].equals(whole)
    assert _run(_table([]))[0].num_rows == 0
