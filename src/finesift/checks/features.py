"""The text-features layer: derived columns computed once per batch and read by every check.

A check names the features it reads in ``needs``; the engine adds each named feature to every
batch once (features a feature needs come first), whatever number of checks read it. Checks
never re-derive them and share no cache: a feature is a pure function of the batch's columns
and the audit config, so a batch gives the same feature values whichever engine computes them.

Core features (more are registered with :func:`feature` beside the code they wrap):

* ``norm_system``, ``norm_prompt``, ``norm_output``: Unicode NFKC, lower case, whitespace
  collapsed and stripped (:func:`finesift.checks.base.normalize_text`); nulls are "".
* ``words_prompt``, ``words_output``: number of words (:data:`WORD`) in the field.

:data:`WORD` is the one definition of "a word" for counting: a run of letters, digits or
underscores, with inner apostrophes and hyphens (``don't``, ``e-mail``) kept in the word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .base import normalize_text, text_array

#: one word, for counting and tokenizing prose (code and URLs are split at their punctuation)
WORD = r"\w+(?:['’-]\w+)*"


@dataclass(frozen=True)
class Feature:
    """A derived column: ``compute(batch, config)`` returns one value per row of ``batch``.

    ``batch`` already holds every feature named in ``needs``.
    """

    name: str
    compute: Callable[[pa.Table, Any], pa.Array]
    needs: tuple[str, ...] = ()
    doc: str = ""


FEATURES: dict[str, Feature] = {}


def feature(name: str, *, needs: tuple[str, ...] = (), doc: str = ""):
    """Decorator: register ``fn(batch, config) -> pa.Array`` as the feature ``name``."""

    def wrap(fn: Callable[[pa.Table, Any], pa.Array]) -> Callable[[pa.Table, Any], pa.Array]:
        if name in FEATURES and FEATURES[name].compute is not fn:
            raise ValueError(f"duplicate feature {name!r}")
        FEATURES[name] = Feature(name, fn, tuple(needs), doc or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return wrap


def resolve(names: Iterable[str]) -> list[str]:
    """``names`` and the features they need, each after what it needs (stable, first-named first)."""
    from . import _all  # noqa: F401  (check modules register the features they wrap)

    out: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in path:
            raise ValueError(f"feature cycle: {' -> '.join(path + (name,))}")
        if name not in FEATURES:
            raise KeyError(f"unknown feature {name!r} (known: {', '.join(sorted(FEATURES))})")
        for dep in FEATURES[name].needs:
            visit(dep, path + (name,))
        seen.add(name)
        out.append(name)

    for n in names:
        visit(n, ())
    return out


def add_features(batch: pa.Table, names: Iterable[str], config: Any = None) -> pa.Table:
    """``batch`` with every feature in ``names`` (and what they need) appended, each computed once."""
    for name in resolve(names):
        if name in batch.column_names:
            continue
        values = FEATURES[name].compute(batch, config)
        if len(values) != batch.num_rows:
            raise RuntimeError(f"feature {name} gave {len(values)} values for {batch.num_rows} rows")
        batch = batch.append_column(name, values)
    return batch


def _column(batch: pa.Table, name: str) -> pa.Array:
    if name in batch.column_names:
        return text_array(batch[name])
    return pa.array([""] * batch.num_rows, pa.string())


for _field in ("system", "prompt", "output"):
    def _norm(batch: pa.Table, config: Any, _f: str = _field) -> pa.Array:
        return normalize_text(_column(batch, _f))

    feature(f"norm_{_field}", doc=f"normalized {_field} text (NFKC, lower case, whitespace collapsed)")(_norm)

for _field in ("prompt", "output"):
    def _words(batch: pa.Table, config: Any, _f: str = _field) -> pa.Array:
        return pc.count_substring_regex(_column(batch, _f), pattern=WORD).cast(pa.int32())

    feature(f"words_{_field}", doc=f"number of words in the {_field}")(_words)
