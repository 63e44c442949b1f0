"""Execution engines: the local one (this process, batch by batch) and Ray Data (``--engine ray``).

Both run the same checks through the check protocol (:mod:`finesift.checks.base`); the pipeline
calls :func:`run_checks`, which goes to the engine active in this context (:func:`active`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .batches import iter_batches

__all__ = ["iter_batches", "run_checks", "using", "active"]

#: the engine's ``run_checks`` for audits started in this context (None: the local engine)
_ACTIVE: ContextVar[Callable[..., Any] | None] = ContextVar("finesift_engine", default=None)


def active() -> Callable[..., Any]:
    """The ``run_checks`` of the engine in use here."""
    fn = _ACTIVE.get()
    if fn is None:
        from .local import run_checks as fn
    return fn


@contextmanager
def using(run: Callable[..., Any]) -> Iterator[None]:
    """Route :func:`run_checks` to ``run`` (an engine's ``run_checks``) inside the block."""
    token = _ACTIVE.set(run)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def run_checks(*args: Any, **kwargs: Any):
    """Score a table with checks on the active engine (:func:`finesift.engine.local.run_checks`'s
    arguments and result)."""
    return active()(*args, **kwargs)
