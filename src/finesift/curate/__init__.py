"""Curate: from a large noisy set to a small, diverse, high-quality one, with every removal explained.

``recipe`` (what drops a row, thresholds, conflict policy, models, selection), ``grouping``
(duplicate/conflict groups keep their best member), ``select`` (quality-first, diversity-aware
selection to a target size), ``pipeline`` (the whole run and its outputs), ``quality`` (the
per-row quality score and diversity figures).
"""

from __future__ import annotations

from .._callable import make_callable

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pipeline import CurateResult, curate
    from .recipe import Recipe, load_recipe, recipe_yaml

__all__ = ["curate", "CurateResult", "Recipe", "load_recipe", "recipe_yaml"]

_LAZY = {
    "curate": ".pipeline",
    "CurateResult": ".pipeline",
    "Recipe": ".recipe",
    "load_recipe": ".recipe",
    "recipe_yaml": ".recipe",
}


def __getattr__(name: str) -> Any:
    # lazy: importing finesift.curate.quality (or the CLI) should not load the whole pipeline
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _api_curate():
    from ..api import curate

    return curate


make_callable(__name__, _api_curate)
