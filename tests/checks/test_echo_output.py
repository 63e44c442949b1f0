import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.echo_output import (
    _HEAD_CHARS,
    _SPLIT,
    _TYPOGRAPHIC,
    EchoOutput,
    _split,
    _words,
)
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
        (("Tell me about Walt Strony\n\nWalt Strony (born 1955) is an American organist. He has recorded many "
          "albums and performed in concerts around the world for decades."),
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


# --- task awareness -----------------------------------------------------------------------------------

COPY_TASKS = [  # kept by the Alpaca volunteers: the task asks for its input back with a change
    ("Edit the following sentence to eliminate any grammar errors: They tried to fix the car all day.",
     "They tried to fix the car all day."),
    ("Punctuate the following sentence:\n\nMy cats name is fluffypaws", "My cat's name is Fluffypaws."),
    ("Convert this text into upper case.\n\nthe cat jumped on the bed", "THE CAT JUMPED ON THE BED"),
    ("Sort these items from smallest to largest\n\nTruck, Apple, Mozzarella Cheese", "Apple, Mozzarella Cheese, Truck"),
    ("Match each word with its synonym from the given list.\n\nAffluent - Wealthy, Repugnant - Obnoxious",
     "Affluent - Wealthy, Repugnant - Obnoxious"),
    ("Create a valid JSON string from the following:\n\nname: Joe Smith\nage: 33",
     '{"name": "Joe Smith", "age": 33}'),
    (("Select the sentence which is most helped by a given clause.\n\nA) They spent the day at the beach, which was "
      "nice.\nB) They spent the day at the beach and tanning, which was nice."),
     "B) They spent the day at the beach and tanning, which was nice."),
    ("Determine whether the following statement is true or false: \nJacques Cousteau was a French explorer",
     "True. Jacques Cousteau was a French explorer."),
    ("Rewrite the following sentence with correct punctuation: she said what were you thinking",
     'She said, "What were you thinking?"'),
]
RESTATED = [  # the answer restates its question and adds the result: an answer, not an echo
    ("Find the sum of the numbers from 1 to 10.", "The sum of the numbers from 1 to 10 is 55."),
    ("Calculate the total number of students in an auditorium with 65 chairs.",
     "The total number of students in an auditorium with 65 chairs is 65."),
    ("Calculate the slope of the line between the points (4,3) and (2,-1).",
     "The slope of the line between the points (4,3) and (2,-1) is 2."),
    ("Which two goods are complements\n\niPhone and AirPods", "Yes, iPhone and AirPods are complements."),
]
ECHOES = [  # still echoes, whatever the task
    ("Rewrite this sentence in passive voice: The cat chased the mouse.",
     "Rewrite this sentence in passive voice: The cat chased the mouse."),
    ("Convert this English sentence to French: I am very happy today.", "I am very happy today."),
    ("Rewrite this sentence in Spanish: I love my dog very much.", "I love my dog very much."),
    ("Create a looping GIF of a cat running.", "Create a looping GIF of a cat running."),
    (("Tell me about Roger Federer\n\nRoger Federer (born 8 August 1981) is a Swiss former professional tennis "
      "player. He was ranked world No. 1 by the Association of Tennis Professionals for 310 weeks, including a record "
      "237 consecutive weeks, and finished as the year-end No. 1 five times. He won 103 singles titles."),
     ("Roger Federer, born 8 August 1981, is a Swiss former professional tennis player. He was ranked world No. 1 by "
      "the Association of Tennis Professionals for 310 weeks, including a record 237 consecutive weeks, and finished "
      "as the year-end No. 1 five times. He won 103 singles titles.")),
]


def test_copy_tasks_are_not_echoes():
    check, scores = _score(COPY_TASKS)
    assert not check.decide(scores).any(), [a for (_, a), f in zip(COPY_TASKS, check.decide(scores)) if f]
    assert None not in scores["echo_output_task"].to_pylist()
    # the same answers without the guard are what the task-blind check flagged
    assert EchoOutput({"task_guard": False}).decide(scores).sum() >= 5


def test_restated_questions_with_an_answer_are_not_echoes():
    check, scores = _score(RESTATED)
    assert not check.decide(scores).any()
    assert min(scores["echo_output_new_words"].to_pylist()) >= 1


def test_echoes_of_the_instruction_translations_and_pasted_passages_still_fire():
    check, scores = _score(ECHOES)
    assert check.decide(scores).tolist() == [True] * len(ECHOES)
    assert scores["echo_output_task"].to_pylist()[:3] == [None, None, None]


def test_an_unchanged_copy_is_recorded_and_flagged_on_request():
    pairs = COPY_TASKS[:1] + [("Rewrite the following sentence using a pronoun: She is my friend so she can stay.",
                               "She is my friend so she can stay.")]
    check, scores = _score(pairs)
    assert scores["echo_output_unchanged"].to_pylist() == [True, True]
    assert not check.decide(scores).any()
    assert EchoOutput({"flag_unchanged": True}).decide(scores).all()


def test_task_scores_do_not_depend_on_batch_size():
    pairs = COPY_TASKS + RESTATED + ECHOES
    ds = Dataset(table=pa.table({"prompt": [p for p, _ in pairs], "output": [o for _, o in pairs]}),
                 source="t", format="jsonl", shape="alpaca")
    check = EchoOutput()
    results = [score_all(ds, [check], AuditConfig(checks=["echo_output"], batch_size=b))[0] for b in (1, 4, 1000)]
    assert results[0].equals(results[1]) and results[1].equals(results[2])


def test_bounded_cost_on_a_megabyte():
    import time

    text = "Rewrite this: " + "the quick brown fox jumps over the lazy dog " * 23000
    t0 = time.perf_counter()
    _, scores = _score([(text, text[14:]), ("q", text)])
    assert time.perf_counter() - t0 < 10
    assert scores.num_rows == 2


def _split_reference(prompt: pa.Array) -> tuple[pa.Array, pa.Array]:
    """What ``_split`` computes, as the RE2 extraction it replaced."""
    parts = pc.extract_regex(prompt, _SPLIT)
    has = pc.is_valid(parts)
    head = pc.if_else(has, pc.struct_field(parts, "head"), prompt)
    return (pc.utf8_slice_codeunits(head, 0, _HEAD_CHARS),
            pc.if_else(has, pc.struct_field(parts, "payload"), prompt))


# colons, line breaks, RE2 spaces and non-spaces (the vertical tab and a no-break space are not RE2 \s)
_SPLIT_TEXTS = st.lists(st.text(alphabet=":\n \t\r\f\va\u00e9\u00a0\u20ac", max_size=10), max_size=30)


@settings(max_examples=200, deadline=None)
@given(_SPLIT_TEXTS, st.booleans(), st.integers(0, 3))
def test_split_is_the_regex_extraction(texts, large, offset):
    arr = pa.array(["x"] * offset + texts, pa.large_string() if large else pa.string()).slice(offset)
    for got, want in zip(_split(arr), _split_reference(arr)):
        assert got.type == want.type
        assert got.to_pylist() == want.to_pylist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab \u2019\u2018\u201c\u201d'\"\u2020\u00e9", max_size=10), max_size=20))
def test_words_drop_typographic_quotes_as_their_ascii_spelling(texts):
    ascii_ = pa.array(texts, pa.string())
    for typo, plain in _TYPOGRAPHIC.items():
        ascii_ = pc.replace_substring(ascii_, typo, plain)
    rows, words = _words(pa.array(texts, pa.string()))
    want_rows, want_words = _words(ascii_)
    assert rows.tolist() == want_rows.tolist() and words.to_pylist() == want_words.to_pylist()
