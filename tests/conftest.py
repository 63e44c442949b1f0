"""Shared test helpers: tiny datasets written inside the test, and the path to ../shared/data."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def write_jsonl(tmp_path):
    """Write a list of dicts as JSONL and return the path."""

    def _write(rows, name="data.jsonl"):
        path = tmp_path / name
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        return path

    return _write


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"{SHARED_DATA} is missing: tests read the real datasets from ../shared/data")
    return SHARED_DATA
