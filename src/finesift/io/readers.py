"""Readers. PLACEHOLDER: JSONL + Alpaca only; the io work item replaces this with every format/shape."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa

from ..errors import InputError
from ..records import SCHEMA, Dataset


def read(path: str, *, fmt: str | None = None, field_map: dict[str, str] | None = None,
         on_error: str = "raise") -> Dataset:
    rows = []
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON: {exc}", line=lineno, expected="one JSON object per line")
            instr, inp, out = rec.get("instruction", ""), rec.get("input", ""), rec.get("output", "")
            prompt = instr + ("\n\n" + inp if inp else "")
            meta = {k: v for k, v in rec.items() if k not in ("instruction", "input", "output")}
            rows.append({
                "row": len(rows), "id": str(rec.get("id", len(rows))), "system": None,
                "turns": [{"role": "user", "text": prompt}, {"role": "assistant", "text": out}],
                "prompt": prompt, "output": out, "metadata": orjson.dumps(meta).decode(),
                "raw": orjson.dumps(rec),
            })
    return Dataset(pa.Table.from_pylist(rows, schema=SCHEMA), source=str(Path(path)), format="jsonl", shape="alpaca")
