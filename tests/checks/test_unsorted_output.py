"""unsorted_output: sort requests answered out of order; sorted, prose, code and hidden-key answers stay quiet."""

import time

import numpy as np
import pytest

from finesift.checks.unsorted_output import UnsortedOutput, check_order
from finesift.engine.local import score_table

from ._helpers import records_table, run_check

UNSORTED = [
    ("Put the following words in alphabetical order: writing, waiting, walking", "walking, waiting, writing"),
    ("Sort the following words alphabetically and output the sorted list.\n\nCar, Cat, Ball, Bag",
     "Ball, Bag, Car, Cat"),
    ("Take the given sentence and sort its words in alphabetical order.\n\nThe world is a beautiful place",
     "A beautiful place The world is."),
    ("Reverse the following list alphabetically.\n\napple, carrot, banana, potato", "potato, banana, carrot, apple"),
    ("Arrange 4 books in alphabetical order.\n\nTwilight, 1984, Moby Dick, Dracula",
     "Dracula, Moby Dick, 1984, Twilight"),
    ("Sort the following words by the first letter of their spelling in the English alphabet.\n\n"
     "Yahoo, Xanthum, Wolf, Zebra", "Xanthum, Wolf, Yahoo, Zebra"),
    ("Sort the given list into ascending order.\n\n4, 32, 6, 87", "The sorted list in ascending order is: 4, 32, 6, 87."),
    ("Sort this list of numbers in descending order\n\n7, 4, 5, 9", "9, 5, 7, 4"),
    ("Rank the following numbers from least to greatest.\n\n2, 3, 5, 4", "2, 4, 3, 5."),
    ("List these rivers in alphabetical order.", "1. Rhine\n2. Danube\n3. Elbe"),
]
CLEAN = [
    ("Put the following words in alphabetical order: writing, waiting, walking", "waiting, walking, writing"),
    ("Sort the words in the sentence in alphabetical order.\n\nI like to play chess.", "chess I like play to"),
    ("Take the given sentence and sort its words in alphabetical order.\n\nThe world is a beautiful place",
     "a beautiful is place The world."),
    ("Arrange 10 books in alphabetical order.", "1984, Catcher in the Rye, Dracula, Émile, Zorba"),
    ("Put the following words in alphabetical order: Elephant, Clock, Dog",
     "The words in alphabetical order are Clock, Dog, Elephant."),
    ("Sort the following numbers in non decreasing order.\n\n7, 8, 4, 3", "3, 4, 7, 8"),
    ("Sort this list of numbers in descending order\n\n7, 4, 5, 9", "9, 7, 5, 4"),
    ("Reverse the following list alphabetically.\n\napple, carrot, banana, potato", "potato, carrot, banana, apple"),
    # sections, each sorted ("Melee classes: ... Ranged classes: ...")
    ("Group the classes and list them in alphabetical order.",
     "Here they are, in alphabetical order:\n\nMelee classes:\n- Barbarian\n- Monk\n- Rogue\n\nRanged classes:\n"
     "- Ranger\n- Wizard"),
    # the order is by something the items do not show
    ("Put that list of books in alphabetical order by author.\n\n1984, The Great Gatsby, Harry Potter",
     "1984, The Great Gatsby, Harry Potter"),
    # numeric words, not numbers: the order of formality is not checked
    ("Regroup the following words from lowest to highest based on their level of formality.\n\n"
     "yelling, speaking, shouting", "speaking, shouting, yelling"),
    # no sort asked: "increasing" names a sequence, not an order
    ("Given a list of elements, find the longest increasing sequence in the array\n\n5, 4, 3, 2, 7, 6, 1",
     "3, 2, 7, 6"),
    # code and algorithms that sort are not lists
    ("Write an algorithm that outputs the sentence in alphabetical order.\n\nWe must try our best",
     "Step 1: Split the sentence\nStep 2: Sort the words\nStep 3: Join them"),
    ("Generate a function to sort a list of strings alphabetically", "def sort(lst):\n    return sorted(lst)"),
    # prose is no list
    ("Why do dictionaries list words in alphabetical order?",
     "Because readers can then find any word quickly, without reading the whole book from the start to the end."),
    ("Sort these two words alphabetically: pear, apple", "pear, apple"),  # two items: below min_items
    ("Sort the words alphabetically.", ""),
]


def _table(pairs):
    return records_table([p for p, _ in pairs], [a for _, a in pairs])


def test_flags_lists_out_of_the_order_asked_for():
    scores, flags = run_check(UnsortedOutput, _table(UNSORTED))
    assert flags.all(), [a for (_, a), f in zip(UNSORTED, flags) if not f]
    assert (scores["unsorted_output_items"].to_numpy() >= 3).all()


def test_quiet_on_sorted_lists_prose_code_and_orders_it_cannot_see():
    scores, flags = run_check(UnsortedOutput, _table(CLEAN))
    assert not flags.any(), [a for (_, a), f in zip(CLEAN, flags) if f]


def test_score_is_the_share_of_neighbours_out_of_order():
    assert check_order("b, a, c, d, e", alphabetical=True, reverse=False) == (0.25, 5)
    assert check_order("e, d, c, b, a", alphabetical=True, reverse=True) == (0.0, 5)
    assert check_order("1000, 20, 3", alphabetical=False, reverse=True) == (0.0, 3)
    assert check_order("3, ten, 20", alphabetical=False, reverse=False) == (0.0, 0)  # not all numbers


def test_threshold_is_a_decision():
    scores, _ = run_check(UnsortedOutput, _table(UNSORTED[:1]))
    assert not UnsortedOutput({"threshold": 0.6}).decide(scores).any()


def test_batch_size_does_not_change_scores():
    table = _table(UNSORTED + CLEAN)
    check = UnsortedOutput()
    whole = score_table(check, table)
    for size in (3, 7):
        assert score_table(UnsortedOutput(), table, batch_size=size).equals(whole)


def test_only_the_start_of_a_huge_answer_is_read():
    prompt = "Sort the following words in alphabetical order."
    huge = ", ".join(["zeta", "alpha"] * 100_000)  # 1.1 MB
    t0 = time.perf_counter()
    scores, flags = run_check(UnsortedOutput, records_table([prompt, prompt], [huge, huge[:2000]]))
    assert time.perf_counter() - t0 < 5
    assert flags.all()
    assert scores["unsorted_output_score"][0] == scores["unsorted_output_score"][1]


@pytest.mark.parametrize("prompts,outputs", [([], []), (["Sort alphabetically: b, a, c", None], [None, "b, a, c"])])
def test_empty_batch_and_nulls(prompts, outputs):
    scores, flags = run_check(UnsortedOutput, records_table(prompts, outputs))
    assert scores.num_rows == len(prompts)
    assert not np.any(flags)
