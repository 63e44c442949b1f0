"""Helpers for curate tests: read the JSONL outputs back."""

from __future__ import annotations

from pathlib import Path

import orjson


def read_jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip()]
