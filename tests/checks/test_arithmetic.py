"""arithmetic: wrong stated arithmetic and wrong results for an asked calculation; right, rounded,
variable-holding, quoted and code answers stay quiet; parsing is bounded."""

import time

import numpy as np
import pytest

from finesift.checks.arithmetic import Arithmetic, NotArithmetic, evaluate

from ._helpers import records_table, run_check

WRONG = [
    ("Explain the sum.", "2 + 3 = 6"),
    ("What is 15% of 80?", "15% of 80 is 14."),
    ("Add the numbers.", "The sum of 4, 5 and 6 is 16."),
    ("Solve for x.", "x = 12 / 4 = 4"),
    ("What is 17 * 23?", "The answer is 401."),
    ("Calculate the area of a circle of radius 3", "The area is 18.84 square units."),
    ("Calculate and output the result of the following arithmetic expression.\n\n8+4*9", "72"),
    ("Evaluate the expression 3x - 3 when x = 4.", "3x - 3 = 3 * 4 - 3 = 12."),
    ("Calculate the average of the numbers 9, 5, and 6.", "6.33"),
    ("Find the sum of two fractions: 3/4 + 7/8", "The sum of 3/4 and 7/8 is 11/8."),
    ("Divide 20 by 3.", "20 divided by 3 is 6.3"),
    ("Calculate 3 * 4 * 5 * 6 * 7 * 8 * 9.", "3 * 4 * 5 * 6 * 7 * 8 * 9 = 5,040"),
    ("Calculate the value.\n\nEquation: $(7+1)\\times5$", "The value is 45."),
]
RIGHT = [
    ("Explain the sum.", "2 + 3 = 5, and 5 + 5 = 10."),
    ("What is 17 * 23?", "17 * 23 = 391"),
    ("Calculate the area of a circle of radius 3", "The area is approximately 28.27 square units."),
    ("Find the average.", "(5 + 2 + 8 + 4 + 9 + 7) / 6 = 5.83"),
    ("Convert.", "1/3 = 0.33..."),
    ("Compound interest?", "Compound interest = 1000(1 + 0.05)^10 = $1,628.89."),
    ("Factorials.", "5! = 120 and 3² = 9"),
    ("What is 15% of 80?", "12"),
    ("Find the sum of the two fractions.\n\n3/4 + 2/3", "17/12"),
    # a variable or a function outside the run: the chain is checked from where it is evaluable
    ("Solve it.", "x + y = 10 + 7 = 17, and 1/2 * abs(-4 +5) = 1/2 * 1 = 0.5"),
    # ranges, dates, phone numbers, ratings and matrices are no calculations
    ("Rate the movie on a scale of 1-10.", "8"),
    ("Find the sum of all odd numbers from 1-50.", "The sum is 625."),
    ("Given a start date, calculate the end date.\n\nStart date: 03/07/2020\nDuration: 2 months", "May 7th"),
    ("Given the matrix A = [2 -3; 5 6], find the determinant", "27"),
    ("Find the words with two vowels.\n\nThe House voted 218-208 Thursday.", "House, voted"),
    # other rules, quoted claims, code
    ("Add in binary.", "In binary, 1 + 1 = 10."),
    ("Is this correct: 3 + 8 = 10?", "No: 3 + 8 = 10 is false, 3 + 8 = 11."),
    ("Write code that prints the product of 3 and 4", "def product():\n    print(3 * 4)"),
    ("toolformer: enabled\n\nWhat is 35% of 120?", "35% of 120 is python('0.35 * 120')"),
    ("Increase the difficulty of this math problem.\n\nWhat is 2 + 2?", "What is 2 + 2 * 3?"),
    ("q", ""),
]


def _table(pairs):
    return records_table([p for p, _ in pairs], [a for _, a in pairs])


def test_flags_wrong_claims_and_wrong_results():
    scores, flags = run_check(Arithmetic, _table(WRONG))
    assert flags.all(), [a for (_, a), f in zip(WRONG, flags) if not f]
    assert scores["arithmetic_error"][0].as_py() == pytest.approx(0.2)  # 6 for 5


def test_quiet_on_right_rounded_and_non_arithmetic_numbers():
    scores, flags = run_check(Arithmetic, _table(RIGHT))
    assert not flags.any(), [a for (_, a), f in zip(RIGHT, flags) if f]
    assert scores["arithmetic_claims"].to_pylist()[:2] == [2, 2]  # "17 * 23 = 391" is stated and asked


def test_the_threshold_is_a_relative_error():
    scores, _ = run_check(Arithmetic, _table([("What is 1000 + 1?", "1000 + 1 = 1002")]))
    assert scores["arithmetic_error"][0].as_py() == pytest.approx(1 / 1001)
    assert not Arithmetic().decide(scores).any()
    assert Arithmetic({"threshold": 0.0005}).decide(scores).all()


def test_approximate_claims_get_a_margin():
    pairs = [("q", "22 / 7 ≈ 3.2"), ("q", "22 / 7 = 3.2")]
    _, flags = run_check(Arithmetic, _table(pairs))
    assert flags.tolist() == [False, True]


def test_parser_refuses_what_it_should_not_compute():
    assert evaluate("2^10") == 1024
    assert evaluate("8/2(2+2)") == 16
    for text in ("2**99999999", "9^9^9^9", "1000!", "5 / 0", "__import__('os')", "2x", "1" * 300):
        with pytest.raises(NotArithmetic):
            evaluate(text)


def test_bounded_cost_on_huge_and_adversarial_text():
    big = ("2**99999999 = 1 and 9^9^9^9 = 2, " + "(" * 50 + "1 + 2 = 3; ") * 3000 + "7 x 8 = 14"
    table = _table([("Calculate 2**99999999", big[:1_000_000]), ("q", "1" * 1_000_000 + " + 1 = 2")])
    t0 = time.perf_counter()
    scores, _ = run_check(Arithmetic, table)
    assert time.perf_counter() - t0 < 10
    assert scores.num_rows == 2


def test_batch_size_does_not_change_scores():
    from finesift.engine.local import score_table

    table = _table(WRONG + RIGHT)
    check = Arithmetic()
    whole = score_table(check, table)
    parts = [score_table(check, table.slice(i, 3)) for i in range(0, table.num_rows, 3)]
    assert np.concatenate([p["arithmetic_error"].to_numpy() for p in parts]).tolist() == \
        whole["arithmetic_error"].to_numpy().tolist()


def test_empty_and_null():
    out, _ = run_check(Arithmetic, records_table([], []))
    assert out.num_rows == 0
    _, flags = run_check(Arithmetic, records_table(["What is 2 + 2?", None], [None, "2 + 2 = 5"]))
    assert flags.tolist() == [False, True]
