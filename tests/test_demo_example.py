"""The bundled example (what `make demo` audits) has something for every default check to find."""

from pathlib import Path

import finesift
from finesift.config import DEFAULT_CHECKS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "translate_fr.jsonl"


def test_every_default_check_finds_something_in_the_example(tmp_path):
    result = finesift.audit(EXAMPLE, out=tmp_path, max_tokens=256)
    missing = [code for code in DEFAULT_CHECKS if result.summary["counts"].get(code, 0) == 0]
    assert not missing
    # the clean handwritten rows stay clean
    flags = result.table["flags"].to_pylist()
    assert sum(1 for f in flags[:26] if f) <= 1
