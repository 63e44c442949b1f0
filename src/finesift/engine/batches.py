"""Batch-at-a-time iteration over the records table (bounded memory for row-level checks)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def iter_batches(table: pa.Table, batch_size: int) -> Iterator[pa.Table]:
    """Yield zero-copy slices of ``table`` of at most ``batch_size`` rows, in order."""
    n = table.num_rows
    for start in range(0, n, batch_size):
        yield table.slice(start, min(batch_size, n - start))
