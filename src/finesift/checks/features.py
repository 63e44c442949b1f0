"""The text-features layer: derived columns computed once per batch and read by every check.

A check names the features it reads in ``needs``; the engine adds each named feature to every
batch once (features a feature needs come first), whatever number of checks read it. Checks
never re-derive them and share no cache: a feature is a pure function of the batch's columns
and the audit config, so a batch gives the same feature values whichever engine computes them.

Core features (more are registered with :func:`feature` beside the code they wrap):

* ``norm_system``, ``norm_prompt``, ``norm_output``: Unicode NFKC, lower case, whitespace
  collapsed and stripped (:func:`finesift.checks.base.normalize_text`); nulls are "".
* ``words_prompt``, ``words_output``: number of words (:data:`WORD`) in the field.
* ``answer_hash``, ``pair_hash``, ``content_hash``: xxh3-64 of the normalized answer, of prompt and
  answer, of system prompt, prompt and answer (keys that stand for the text in groupings and counts).
* ``format_faults``: formatting faults of prompt and answer (:data:`FORMAT_FAULTS`), curate's tie-break
  between equal-quality copies of a row.

:data:`WORD` is the one definition of "a word" for counting: a run of letters, digits or
underscores, with inner apostrophes and hyphens (``don't``, ``e-mail``) kept in the word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import normalize_text, string_bytes, text_array

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
    #: ``accelerated(config)``: computing it under ``config`` runs a torch model that a GPU speeds up
    #: (the Ray engine then gives the features stage a GPU where the cluster has them); None: never
    accelerated: Callable[[Any], bool] | None = None


FEATURES: dict[str, Feature] = {}


def feature(name: str, *, needs: tuple[str, ...] = (), doc: str = "",
            accelerated: Callable[[Any], bool] | None = None):
    """Decorator: register ``fn(batch, config) -> pa.Array`` as the feature ``name``."""

    def wrap(fn: Callable[[pa.Table, Any], pa.Array]) -> Callable[[pa.Table, Any], pa.Array]:
        if name in FEATURES and FEATURES[name].compute is not fn:
            raise ValueError(f"duplicate feature {name!r}")
        FEATURES[name] = Feature(name, fn, tuple(needs), doc or (fn.__doc__ or "").strip().split("\n")[0],
                                 accelerated)
        return fn

    return wrap


def accelerated(names: Iterable[str], config: Any = None) -> bool:
    """Whether computing ``names`` (and what they need) under ``config`` runs a model a GPU speeds up."""
    return any(FEATURES[n].accelerated is not None and FEATURES[n].accelerated(config) for n in resolve(names))


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

def per_distinct(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``fn`` computed once per distinct value of ``arr`` and spread back to every row (data repeats)."""
    enc = pc.dictionary_encode(arr)
    return pc.take(fn(enc.dictionary), enc.indices)


for _field in ("prompt", "output"):
    def _words(batch: pa.Table, config: Any, _f: str = _field) -> pa.Array:
        return per_distinct(_column(batch, _f), count_words)

    feature(f"words_{_field}", doc=f"number of words in the {_field}")(_words)


#: RE2's \w: ASCII letters, digits and "_" (a byte of a longer UTF-8 character is none of them)
_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[[ord(c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"]] = True


def count_words(values: pa.Array) -> pa.Array:
    """Matches of :data:`WORD` per text (int32; null stays null), counted with numpy on the UTF-8 bytes.

    The greedy pattern takes a run of word bytes and every further run joined by one ``'``, ``-`` or
    ``’``: its matches are the runs less the joins (a joiner with a word byte on either side). The
    regex cost ~2 us per text."""
    if values.null_count or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return pc.count_substring_regex(values, pattern=WORD).cast(pa.int32())
    n = len(values)
    offsets, data = string_bytes(values)
    word = _WORD_BYTE[data]
    start = word.copy()
    start[1:] &= ~word[:-1]
    first = offsets[:-1][np.diff(offsets) > 0]
    start[first] = word[first]  # a text's first byte starts a run whatever precedes it
    upto = np.zeros(len(data) + 1, dtype=np.int64)  # runs started before each byte
    np.cumsum(start, out=upto[1:])
    runs = np.diff(upto[offsets])
    # joiners: one byte ("'", "-") or the three of "’" (E2 80 99), a word byte just before and after, in one text
    joins = []
    for size, at in ((1, np.flatnonzero((data == 0x27) | (data == 0x2D))),
                     (3, np.flatnonzero(data[:-2] == 0xE2) if len(data) > 2 else np.zeros(0, np.int64))):
        if size == 3:
            at = at[(data[at + 1] == 0x80) & (data[at + 2] == 0x99)]
        owner = np.searchsorted(offsets, at, side="right") - 1
        inside = (at > offsets[owner]) & (at + size < offsets[owner + 1])
        at, owner = at[inside], owner[inside]
        joins.append(owner[word[at - 1] & word[at + size]])
    count = runs - np.bincount(np.concatenate(joins), minlength=n)
    return pa.array(count.astype(np.int32), pa.int32())


def hash_strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """xxh3-64 of each string's UTF-8 bytes (uint64): a key that stands for the text in groupings.

    Each distinct text is hashed once (:func:`per_distinct`: templates, copies, shared prompts repeat).
    """
    arr = text_array(arr)
    return per_distinct(arr if arr.type == pa.string() else arr.cast(pa.string()), _xxh3_64)


def _xxh3_64(values: pa.Array) -> pa.Array:
    import numpy as np
    import xxhash

    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1,
                            offset=values.offset * 4).tolist()
    data = memoryview(values.buffers()[2] or b"")
    digest = xxhash.xxh3_64_intdigest
    return pa.array(np.fromiter((digest(data[a:b]) for a, b in zip(offsets, offsets[1:])), dtype=np.uint64,
                                count=len(values)), pa.uint64())


def _joined_hash(batch: pa.Table, names: tuple[str, ...]) -> pa.Array:
    # \x1f cannot survive normalization inside a field (it is whitespace to NFKC + split): an unambiguous join
    return hash_strings(pc.binary_join_element_wise(*[batch[n] for n in names], "\x1f"))


@feature("answer_hash", needs=("norm_output",), doc="xxh3-64 of the normalized answer (votes among answers)")
def _answer_hash(batch: pa.Table, config: Any) -> pa.Array:
    return hash_strings(batch["norm_output"])


@feature("pair_hash", needs=("norm_prompt", "norm_output"),
         doc="xxh3-64 of the normalized prompt and answer (counts distinct rows without keeping their text)")
def _pair_hash(batch: pa.Table, config: Any) -> pa.Array:
    return _joined_hash(batch, ("norm_prompt", "norm_output"))


@feature("content_hash", needs=("norm_system", "norm_prompt", "norm_output"),
         doc="xxh3-64 of the normalized system prompt, prompt and answer (identical rows)")
def _content_hash(batch: pa.Table, config: Any) -> pa.Array:
    return _joined_hash(batch, ("norm_system", "norm_prompt", "norm_output"))


#: formatting faults a clean copy of a text does not have (each counted once per field): stray edge
#: whitespace, doubled blanks or tabs, a space before "," or ".", a lower-case start, all capitals, no final
#: mark. A tie-break between otherwise equal copies of one row, not a defect of its own.
FORMAT_FAULTS = (r"^\s|\s$", r"  |\t", r" [,.]", r"^\p{Ll}", r"^[^\p{Ll}]*\p{Lu}[^\p{Ll}]*\p{Lu}[^\p{Ll}]*$",
                 r"[\p{L}\p{N}]$")


@feature("format_faults", doc="formatting faults of prompt and answer (edge or doubled spaces, case, final mark)")
def _format_faults(batch: pa.Table, config: Any) -> pa.Array:
    import numpy as np

    def faults(values: pa.Array) -> pa.Array:
        total = np.zeros(len(values), dtype=np.int32)
        for pattern in FORMAT_FAULTS:
            hit = pc.fill_null(pc.match_substring_regex(values, pattern=pattern), False)
            total += np.asarray(hit.to_numpy(zero_copy_only=False), dtype=np.int32)
        return pa.array(total, pa.int32())

    return pc.add(per_distinct(_column(batch, "prompt"), faults), per_distinct(_column(batch, "output"), faults))
