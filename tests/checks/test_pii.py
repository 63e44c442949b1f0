import random

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.pii import Pii, luhn
from finesift.engine.local import score_table


def _score(outputs, prompts=None):
    prompts = prompts or ["q"] * len(outputs)
    check = Pii()
    scores = score_table(check, pa.table({"prompt": pa.array(prompts, pa.string()),
                                          "output": pa.array(outputs, pa.string())}))
    return check, scores


FINDINGS = {
    "Write to john.doe@gmail.com": ["email"],
    "Call me at +33 6 12 34 56 78": ["phone"],
    "My number is (415) 867-5309.": ["phone"],
    "Appelle le 06 12 34 56 78.": ["phone"],
    "Card: 4539 1488 0343 6467": ["card"],
    "AKIAIOSFODNN7EXAMPLE": ["aws_key"],
    "export OPENAI_API_KEY=sk-proj-abcDEF1234567890abcdefGHIJ": ["api_key"],
    "token ghp_abcdefghijklmnopqrstuvwxyz0123456789AB": ["api_key"],
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEow": ["private_key"],
    'api_key = "a8f5f167f44f4964e6c998dee827110c"': ["secret"],
    "password: hunter2hunter2x9": ["secret"],
    "Mail a@b.fr or call 06 12 34 56 78": ["email", "phone"],
}


def test_fires_on_each_kind_and_lists_the_kinds():
    check, scores = _score(list(FINDINGS))
    assert scores["pii_kinds"].to_pylist() == list(FINDINGS.values())
    assert scores["pii_hits"].to_pylist() == [len(v) for v in FINDINGS.values()]
    assert check.decide(scores).all()


def test_scans_the_prompt_too():
    check, scores = _score(["Sure."], prompts=["My email is jane@corp.io, reply there"])
    assert check.decide(scores).tolist() == [True]


def test_quiet_on_placeholders_fakes_and_ordinary_numbers():
    clean = ["Email user@example.com for help", "Call (415) 555-2671", "Card: 4539 1488 0343 6468",
             'api_key = "YOUR_API_KEY"', 'password = os.environ["PW"]', "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
             "I was born in 1990 and moved in 2005.", "The population is 1,234,567,890.", "Version 1.2.3.4567",
             "ISBN 978-3-16-148410-0", "Tom a 30 ans.", None, ""]
    check, scores = _score(clean)
    assert scores["pii_hits"].to_pylist() == [0] * len(clean)
    assert not check.decide(scores).any()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=12, max_size=18), st.integers(0, 10_000))
def test_luhn_accepts_valid_numbers_and_rejects_single_digit_errors(body, seed):
    digits = "".join(map(str, body))
    check_digit = next(d for d in "0123456789" if luhn(digits + d))
    valid = digits + check_digit
    assert luhn(valid)
    i = random.Random(seed).randrange(len(valid))
    wrong = valid[:i] + str((int(valid[i]) + 1) % 10) + valid[i + 1:]
    assert not luhn(wrong)


def test_a_huge_blob_is_scanned_only_by_the_finders_its_gate_allows(monkeypatch):
    # a 1 MB base64 blob or minified script holding "AIza" once went through every Python finder
    # (20-70 ms per finder per MB: 24-38x the cost per byte of ordinary rows)
    from finesift.checks import pii

    calls = []

    class Spy:
        def __init__(self, name, rx):
            self.name, self.rx = name, rx

        def finditer(self, text):
            calls.append(self.name)
            return self.rx.finditer(text)

        def search(self, text):
            return self.rx.search(text)

    for name in ("_EMAIL", "_PHONE", "_CARD", "_SECRET"):
        monkeypatch.setattr(pii, name, Spy(name, getattr(pii, name)))
    rng = random.Random(0)
    blob = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/", k=200_000)) + "AIza"
    check, scores = _score([blob, "Mail me at jane.doe@gmail.com"])
    assert calls.count("_EMAIL") == 1 and not {"_PHONE", "_CARD", "_SECRET"} & set(calls)
    assert check.decide(scores).tolist() == [False, True]


def test_quiet_on_decimals_placeholder_digits_toll_free_lines_and_values_the_prompt_asks_to_make_up():
    outputs = ["50.26548245743669 cm", "Phone: (123) 456-7890", "('Jane Doe', '098-765-4321')",
               "Poison Control: 1-800-222-1222", "(244) 890-4578", "Username: Sunshine_2020\nPassword: X78s0j^xgP",
               "Example: 4242 4242 4242 4242"]
    prompts = ["Compute the circumference.", "Edit this resume.", "Search a list.", "List emergency numbers.",
               "Create a new telephone number in the format (xxx) xxx-xxxx",
               "Generate an appropriate username and password combination.",
               "Give an example of a valid credit card number."]
    check, scores = _score(outputs, prompts)
    assert scores["pii_hits"].to_pylist() == [0] * len(outputs), scores["pii_kinds"].to_pylist()
    # the same values with no such request are still findings
    _, again = _score(outputs[4:6], ["Who is this?", "What is in the file?"])
    assert again["pii_hits"].to_pylist() == [1, 1]


def test_a_table_of_spaced_numbers_is_no_card_but_grouped_and_unbroken_cards_are():
    # "4 8 12 16 20 24 28 32 36 40" reads as the Luhn-valid 481216202428323640 if single digits may group
    table = "1 2 3 4 5 6 7 8 9 10\n4 8 12 16 20 24 28 32 36 40\n5 10 15 20 25 30 35 40 45 50"
    assert luhn("481216202428323640")
    check, scores = _score([table, "Card 4539-1488-0343-6467", "Card 4539148803436467", "Amex 3782 822463 10005"])
    assert scores["pii_kinds"].to_pylist() == [[], ["card"], ["card"], ["card"]]


def test_role_addresses_and_fictional_555_numbers_written_unbroken_are_not_personal():
    check, scores = _score(["Sender: offers@amazon.com", "Write to support@acme-tools.com", "+12145558444",
                            "2145558444", "Write to jane.roe@amazon.com", "+12148678444"])
    assert scores["pii_kinds"].to_pylist() == [[], [], [], [], ["email"], ["phone"]]
