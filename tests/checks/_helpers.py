"""Shared helpers for the dataset-level check tests: a records-shaped table and score+decide."""

import pyarrow as pa

from finesift.engine.local import score_table


def records_table(prompts, outputs, systems=None, rows=None) -> pa.Table:
    """The columns dataset checks read: row, system, prompt, output."""
    n = len(prompts)
    return pa.table({
        "row": pa.array(rows if rows is not None else range(n), pa.int64()),
        "system": pa.array(systems if systems is not None else [None] * n, pa.string()),
        "prompt": pa.array(prompts, pa.string()),
        "output": pa.array(outputs, pa.string()),
    })


def run_check(cls, table: pa.Table, params=None, config=None, inputs=None):
    """Score ``table`` with a fresh ``cls(params)`` through the engine and decide: returns (scores, mask)."""
    check = cls(params)
    scores = score_table(check, table, config, inputs)
    return scores, check.decide(scores)
