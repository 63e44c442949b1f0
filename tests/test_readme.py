"""README.md's check table is the one the checks' metadata generates (finesift checks --markdown)."""

import re
from pathlib import Path

from finesift.checks.base import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_check_table_is_generated_from_the_metadata():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- checks-table:start -->\n(.*?)<!-- checks-table:end -->", text, re.S)
    assert m, "README.md lacks the checks-table markers"
    assert m.group(1) == markdown_table(), "regenerate it: finesift checks --markdown"
