"""Execution: batch iteration and progress now; a Ray Data backend later (same check API)."""

from .batches import iter_batches

__all__ = ["iter_batches"]
