import pyarrow as pa

from finesift.engine.local import score_table
from finesift.checks.empty_output import EmptyOutput


def _table(outputs):
    return pa.table({"prompt": ["q"] * len(outputs), "output": pa.array(outputs, pa.string())})


def test_fires_on_empty_whitespace_punctuation_and_null():
    check = EmptyOutput()
    scores = score_table(check, _table(["", "   ", "...", None]))
    assert check.decide(scores).tolist() == [True, True, True, True]


def test_quiet_on_real_answers():
    check = EmptyOutput()
    scores = score_table(check, _table(["Bonjour", "42", "Oui."]))
    assert not check.decide(scores).any()


def test_emoji_morse_code_and_ascii_art_are_answers():
    check = EmptyOutput()
    scores = score_table(check, _table(["😆", "..   .-.. --- .--. .", "+---+\n/   \\\n+---+", "★", "?!", "- -"]))
    assert check.decide(scores).tolist() == [False, False, False, False, True, True]
