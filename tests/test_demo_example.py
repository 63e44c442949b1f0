"""The bundled example (what `make demo` audits) has something for the default checks to find.

The checks it was written for (pinned: the default checks when the example was made) must each
fire on it. A check added later needs no row here: its own test file shows it firing (the second
test requires one per check), so a new default check is one module plus one test file.
"""

from pathlib import Path

import finesift
from finesift.checks.base import default_checks, registry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "translate_fr.jsonl"
TESTS = Path(__file__).resolve().parent / "checks"

#: the default checks the example has rows for
DEMO_CHECKS = ("exact_duplicate", "near_duplicate", "conflict", "empty_output", "placeholder_output",
               "truncated_output", "echo_output", "wrong_language", "typos", "format_outlier", "missing_context",
               "pii", "too_long")


def test_every_demo_check_finds_something_in_the_example(tmp_path):
    result = finesift.audit(EXAMPLE, out=tmp_path, max_tokens=256)
    assert set(DEMO_CHECKS) <= set(default_checks())  # the default audit still runs them all
    missing = [code for code in DEMO_CHECKS if result.summary["counts"].get(code, 0) == 0]
    assert not missing
    # the clean handwritten rows stay clean, whatever default checks were added since
    flags = result.table["flags"].to_pylist()
    assert sum(1 for f in flags[:26] if f) <= 1


def test_every_check_has_its_own_test_file():
    missing = [name for name in registry() if not (TESTS / f"test_{name}.py").is_file()]
    assert not missing
