import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.echo_output import EchoOutput
from finesift.config import AuditConfig
from finesift.engine.local import score_table
from finesift.pipeline import score_all
from finesift.records import Dataset


def _score(pairs, params=None):
    table = pa.table({"prompt": [p for p, _ in pairs], "output": pa.array([o for _, o in pairs], pa.string())})
    check = EchoOutput(params)
    scores = score_table(check, table)
    return check, scores


def test_fires_on_verbatim_and_near_verbatim_copies():
    check, scores = _score([
        ("Translate to French: I am very happy today.", "I am very happy today."),
        ("Translate to French: I am very happy today.", "I'm very happy today"),
        ("Write a haiku about spring", "Write a haiku about spring"),
    ])
    assert check.decide(scores).tolist() == [True, True, True]
    assert scores["echo_output_similarity"][0].as_py() == 1.0


def test_quiet_on_translations_quotes_and_one_word_echoes():
    check, scores = _score([
        ("Translate to French: I am very happy today.", "Je suis très heureux aujourd'hui."),
        ("Translate to French: I love languages", "J'adore les langues."),
        ("Which is a fruit? (a) a red apple (b) a blue car (c) a green bus (d) a yellow train", "a red apple"),
        ("Translate to French: Taxi!", "Taxi !"),
        ("What is the largest state by land size in the United States of America?",
         "The largest state by land size in the United States of America is Alaska."),
        ("Tell me about Walt Strony\n\nWalt Strony (born 1955) is an American organist. He has recorded many "
         "albums and performed in concerts around the world for decades.",
         "Walt Strony (born 1955) is an American organist."),
        ("Question", None),
    ])
    assert not check.decide(scores).any()


def test_scores_do_not_depend_on_batch_size():
    rng = np.random.default_rng(0)
    words = ["tom", "is", "happy", "the", "cat", "sleeps", "je", "suis", "heureux", "le", "chat"]
    prompts, outputs = [], []
    for _ in range(60):
        p = " ".join(rng.choice(words, rng.integers(1, 8)))
        prompts.append("Translate to French: " + p)
        outputs.append(p if rng.random() < 0.3 else " ".join(rng.choice(words, rng.integers(0, 6))))
    ds = Dataset(table=pa.table({"prompt": prompts, "output": outputs}), source="t", format="jsonl", shape="alpaca")
    check = EchoOutput()
    results = [score_all(ds, [check], AuditConfig(checks=["echo_output"], batch_size=b))[0] for b in (1, 7, 1000)]
    assert results[0].equals(results[1]) and results[1].equals(results[2])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghij", min_size=3, max_size=8), min_size=2, max_size=8))
def test_an_answer_identical_to_the_prompt_is_flagged(words):
    text = " ".join(words)
    check, scores = _score([(text, text)])
    assert scores["echo_output_similarity"][0].as_py() == 1.0
    assert scores["echo_output_coverage"][0].as_py() == 1.0
    assert check.decide(scores).tolist() == [True]
