"""unused_input: placeholder inputs are flagged, unrelated ones recorded; inputs a task uses or is about are not."""

import time

import numpy as np
import pyarrow as pa
import pytest

from finesift.checks.unused_input import UnusedInput
from finesift.engine.local import score_table

from ._helpers import records_table, run_check

ESSAY = ("Renewable sources such as solar, wind and hydropower produce little or no greenhouse gas, so replacing "
         "coal and oil with them cuts air pollution and the illnesses it causes, like asthma.")
PLACEHOLDERS = [
    ("How can renewable energy reduce environmental pollution?\n\n\"\"", ESSAY),
    ("Name a landmark in the United States\n\nN/A", "The Statue of Liberty."),
    ("Identify the largest animal in the world.\n\nNo input required.", "The blue whale."),
    ("Compose a short song about freedom.\n\n`<noinput>`", "Free as the wind, we sing."),
    ("Generate a list of interview questions for a famous author.\n\n.", "1. What inspired you to write?"),
    ("Describe a new business strategy for increasing profits.\n\n``", "Raise prices on premium items."),
    ("Construct a paragraph that motivates someone to exercise.\n\n(no input)", "Every step counts."),
    ("Explain the difference between a firewall and antivirus software.\n\n<none>", "A firewall filters traffic."),
    ("Suggest the 5 most essential tools for web development.\n\nnone", "An editor, git, a browser, npm, curl."),
    ("Write a letter of resignation.\n\nJoe Smith \n<noinput>", "Dear Sir, I resign. Joe Smith"),
]
CLEAN = [
    ("Classify the animal.\n\nDog", "Mammal"),
    ("What does this abbreviation stand for?\n\nN/A", "Not applicable."),
    ("Name this punctuation mark.\n\n.", "A period, or full stop."),
    ("Translate to French\n\nNone of them came.", "Aucun d'eux n'est venu."),
    ("Summarize the following article.\n\nThe city council voted on Tuesday to expand the bike lane network.",
     "The council approved more bike lanes."),
    ("Give three tips for staying healthy.", "Eat well, exercise, sleep."),
    ("Write a poem about the ocean.\n\nTheme: waves at night",
     "Waves roll in beneath the night, silver foam in the pale moonlight, the ocean hums a quiet tune, "
     "and every wave bows to the moon."),
    ("Create a list of 5 books which are suitable as gifts for your best friend.\n\nOccasion: Birthday",
     "1. Harry Potter and the Philosopher's Stone by J.K. Rowling\n2. The Catcher in the Rye by J.D. Salinger\n"
     "3. To Kill a Mockingbird by Harper Lee\n4. Wuthering Heights by Emily Bronte\n5. Pride and Prejudice by "
     "Jane Austen"),
    ("Reverse the given string.\n\nnull", "llun"),
]


def _table(pairs):
    return records_table([p for p, _ in pairs], [a for _, a in pairs])


def test_flags_placeholder_inputs():
    scores, flags = run_check(UnusedInput, _table(PLACEHOLDERS))
    assert flags.all(), [p for (p, _), f in zip(PLACEHOLDERS, flags) if not f]
    kinds = scores["unused_input_kind"].to_pylist()
    assert kinds[:-1] == ["placeholder"] * (len(PLACEHOLDERS) - 1)
    assert kinds[-1] == "placeholder_token"


def test_inputs_the_task_uses_or_is_about_are_not_flagged():
    scores, flags = run_check(UnusedInput, _table(CLEAN))
    assert not flags.any(), [p for (p, _), f in zip(CLEAN, flags) if f]
    by_prompt = {p.split("\n")[0]: (s, k, o) for (p, _), s, k, o in zip(
        CLEAN, *(scores[c].to_pylist() for c in ("unused_input_score", "unused_input_kind", "unused_input_overlap")))}
    # a task about the placeholder word itself: recorded low, not flagged
    assert by_prompt["What does this abbreviation stand for?"][:2] == (pytest.approx(0.3), "placeholder")
    assert by_prompt["Name this punctuation mark."][0] == pytest.approx(0.3)
    # a short label shares no word with its input and is no evidence; an answer that uses its input is measured
    assert by_prompt["Classify the animal."] == (0.0, None, None)
    assert by_prompt["Write a poem about the ocean."][2] > 0


def test_an_unrelated_input_is_recorded_and_flagged_only_below_the_default_threshold():
    table = _table(CLEAN[-2:-1])
    scores, flags = run_check(UnusedInput, table)
    assert scores.to_pylist()[0] == {"unused_input_score": pytest.approx(0.6), "unused_input_kind": "unrelated",
                                     "unused_input_overlap": 0.0}
    assert not flags.any()
    assert UnusedInput({"threshold": 0.5}).decide(scores).all()
    # an instruction that points at its input needs it, shared words or not
    pointed = _table([("Create a list of 5 books for the following occasion.\n\nBirthday", CLEAN[-2][1])])
    assert run_check(UnusedInput, pointed)[0]["unused_input_score"].to_pylist() == [0.0]


def test_the_word_guard_and_answer_length_are_parameters():
    table = _table(CLEAN[1:3])
    _, flags = run_check(UnusedInput, table, {"word_guard": False})
    assert flags.all()
    short = _table([("Create a list of 5 books which are suitable as gifts.\n\nOccasion: Birthday", "Dune.")])
    assert run_check(UnusedInput, short)[0]["unused_input_kind"].to_pylist() == [None]
    assert run_check(UnusedInput, short, {"min_answer_words": 1})[0]["unused_input_kind"].to_pylist() == ["unrelated"]


def test_multi_turn_chats_have_no_input():
    table = _table([("user: Hi\nassistant: Hello!\nuser: Tell me a joke.\n\nN/A", "Why did the chicken...")])
    turn = pa.struct([("role", pa.string()), ("text", pa.string())])
    turns = pa.array([[{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello!"},
                       {"role": "user", "text": "Tell me a joke.\n\nN/A"},
                       {"role": "assistant", "text": "Why did the chicken..."}]], pa.list_(turn))
    _, flags = run_check(UnusedInput, table.append_column("turns", turns))
    assert not flags.any()
    _, flags = run_check(UnusedInput, table)  # the same prompt as one Alpaca row holds a placeholder input
    assert flags.all()


def test_scores_do_not_depend_on_the_batch_size():
    table = _table(PLACEHOLDERS + CLEAN)
    assert score_table(UnusedInput(), table).equals(score_table(UnusedInput(), table, batch_size=2))


def test_bounded_cost_on_megabyte_rows():
    big = " ".join(f"word{i}" for i in range(120_000))  # ~1 MB of distinct words
    n = 20  # read whole, these rows take ~8 s; capped at scan_chars, well under a second
    t0 = time.perf_counter()
    scores, _ = run_check(UnusedInput, records_table(["Write an essay about rivers.\n\n" + big] * n, [big] * n))
    assert time.perf_counter() - t0 < 3
    assert scores["unused_input_overlap"].to_pylist() == [1.0] * n  # measured: the answer repeats the input


def test_empty_and_null():
    out, _ = run_check(UnusedInput, records_table([], []))
    assert out.num_rows == 0
    _, flags = run_check(UnusedInput, records_table(["q\n\nsome input", None], [None, "ok"]))
    assert not np.any(flags)
