"""``near_duplicate``: nearly the same prompt and answer as an earlier row (MinHash-LSH, verified).

What is compared (defaults measured with ``benchmarks/bench_near_duplicate.py`` against a
third party's near-duplicate decisions on GPTeacher Toolformer, and on 2,000 clean
Tatoeba rows, where near duplicates should be rare):

=================================  =====  =====  =====  ================  ==================
setting                            prec.  rec.   F1     Tatoeba sample    Tatoeba first 2k
=================================  =====  =====  =====  ================  ==================
defaults                           0.867  0.823  0.844  10 flagged        120 flagged
``min_shingles=0``                 0.865  0.826  0.845  57                311
``prompt_threshold=0``             0.863  0.835  0.848  16                218
``threshold=0.4``                  0.767  0.878  0.819  13                120
``threshold=0.6``                  0.940  0.647  0.767  3                 118
``shingle_size=3``                 0.939  0.601  0.733  3                 101
``fields=["prompt", "output"]``    0.415  0.992  0.585  87                831
``grouping="union_find"``          0.745  0.909  0.819  10                120
=================================  =====  =====  =====  ================  ==================

(The first 2k Tatoeba rows are its shortest sentences, many translated several ways: 32 of the 120 are
answers that differ only in punctuation, "Ferme la fenêtre." / "Ferme la fenêtre !", linked by the
canonical key below.)

* ``fields`` = the normalized answer, as a set of word 2-grams (``shingle_size``; words =
  runs of letters or digits). The whole row is much worse: GPTeacher prompts share a long
  tool description.
* ``threshold`` = 0.5: answers are linked when the exact Jaccard similarity of their
  shingle sets is >= 0.5.
* ``prompt_threshold`` = 0.5: the prompts (with the system prompt) must be at least that
  similar too, so two different questions with the same answer ("I'm sick." / "I'm ill." ->
  "Je suis malade.") are not near duplicates unless the questions are alike.
* ``min_shingles`` = 6: answers with fewer distinct shingles (about 7 words or fewer) only
  group when their canonical keys are equal: in a short answer one word is the whole difference
  ("C'est mon chat." / "C'est mon chien." share half their 2-grams).
* Canonical key (any length): the normalized text (NFKC, lower case) with punctuation, symbols and
  all whitespace dropped (:func:`canonical_keys`; letters, digits and marks kept, accents too: "ou" /
  "où" are different words). Texts with equal keys are linked with similarity 1 whatever their
  shingles say, and prompts with equal keys pass the prompt gate. Shingles alone miss these
  formatting-only copies of short rows: a missing final period or a French space before "?" makes
  another normalized text, too short to be indexed, and a dropped or inserted space ("Je
  suismalade.", "ma lade") changes the words themselves. ``benchmarks/bench_variants.py``: of 400
  case/whitespace/punctuation copies of held-out Tatoeba rows, 72% were linked before (all by
  ``exact_duplicate`` or shingles), 100% now; clean held-out false flags 0.65% -> 0.73%
  (``bench_clean_flags.py``; the new flags are "Bonne chance." / "Bonne chance !" for one prompt).

  Why ``near_duplicate`` and not ``exact_duplicate``: punctuation can be content. "Tu viens." and
  "Tu viens ?" (a statement and a question), "Let's eat, grandma" and "Let's eat grandma" share a
  key; here the prompts must also be alike (the prompt gate), the relation is one of similarity,
  and the row keeps its own text for the reader to compare. ``exact_duplicate`` keeps its
  promise (the same example once case and whitespace runs are normalized: what the
  ``content_hash`` feature, the unique-row count and curate's "identical rows" rely on). Curate
  treats both the same way: each group keeps its best-quality member.

How (a dataset check: ``fit`` per batch, ``merge``, ``finalize`` once, ``score`` per batch): ``fit``
keeps per row its ``row`` and 64-bit xxh3 hashes of the compared text, of its canonical key, of the
(system, prompt) and of the whole example (the ``content_hash`` feature), and per distinct compared text of the batch its
shingle set (hashed word n-grams, shingled with numpy straight from the Arrow buffers); when the
prompts gate, the distinct prompts (their text: shingle sets of 8 bytes per word are bigger, and only
prompts of linked answers are ever shingled). ``merge`` keeps the first copy of a text seen in several
batches. ``finalize``: only the distinct answers go into the index (copies of one text are one node,
so a million-row dataset costs what its distinct texts cost). rensa ``RMinHash`` signatures
(``num_perm`` permutations, seeded by the audit seed) are banded into ``num_bands``
bands (default: chosen for ``threshold``, favouring recall): rensa's one-shot band check
(``RMinHashLSH.query_duplicate_flags_matrix_one_shot``) says which texts share a band with any
other, and for those the candidate pairs - texts whose signatures agree on a whole band, what an
``RMinHashLSH`` query returns - are enumerated with numpy sorts, with no Python list per query
(:mod:`finesift.checks._minhash`, shared with ``leakage``).
Candidates are unverified: those whose MinHash estimate is more than 0.15 below the threshold
(over 3 standard deviations) are dropped, every other one is verified with the exact Jaccard
similarity of the shingle sets (merged sorted hash arrays). Linked answers are expanded to the rows carrying them, gated
by prompt similarity (exact, or the MinHash estimate when clear-cut for long prompts), and
grouped:

* ``grouping="keep_first"`` (default): in row order, a row is a near duplicate of the most
  similar earlier row that is itself kept. Every flagged row is within ``threshold`` of its
  partner, and partners are never flagged.
* ``grouping="union_find"``: connected components (:func:`finesift.checks._groups.component_partner`,
  the package's one union-find); every member points at the component's lowest row. Groups do not depend on row order, but chains link rows that are not alike
  (a member can have similarity 0 with its partner; precision drops to 0.74).

Rows that are exact duplicates (same normalized system prompt, prompt and answer as the kept
copy) are left to ``exact_duplicate`` and not flagged again. Texts without words (no letter or
digit) are never grouped.

Columns:

* ``near_duplicate_similarity`` (float32, 0..1): exact Jaccard similarity of this row's answer
  shingles with those of the row in ``near_duplicate_of``, 1 where their canonical keys are equal;
  higher = more similar; 0 where there is no partner.
* ``near_duplicate_of`` (int64, partner): ``row`` of the kept row; null for kept rows, unique
  rows and exact duplicates.

Flagged: rows with a partner whose similarity is >= ``min_similarity`` (default 0: all of them).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from . import _shingles as sh
from ._groups import (
    SEP,
    component_partner,
    first_ids,
    lowest_member,
    nullable_int,
    positions_of,
    row_ids,
)
from ._minhash import (  # noqa: F401
    MinHashLSH,
    auto_bands,
    lsh_index,
    shingle_sets,
    similar_enough,
    verified_edges,
)
from .base import CheckParams, DatasetCheck, Score, Threshold, decision, register
from ..engine.memory import release_memory
from .features import hash_strings


class NearDuplicateParams(CheckParams):
    fields: list[str] = Field(default_factory=lambda: ["output"])
    """Normalized columns compared (joined): "output", "prompt", "system"."""
    shingle_size: int = Field(2, ge=1, le=8)
    """Words per shingle."""
    threshold: float = Field(0.5, gt=0.0, le=1.0)
    """Verified Jaccard similarity of shingle sets at or above which two texts are linked."""
    num_perm: int = Field(128, ge=8, le=1024)
    """MinHash permutations."""
    num_bands: int | None = None
    """LSH bands (must divide num_perm); default: chosen for ``threshold`` to favour recall."""
    prompt_threshold: float = Field(0.5, ge=0.0, le=1.0)
    """The prompts (with the system prompt) must also be at least this similar (word-shingle Jaccard);
    0 = compare only ``fields``. Ignored when ``fields`` includes the prompt."""
    max_copies: int = Field(16, ge=1)
    """Rows with the same compared text but different prompts: at most this many per text are compared."""
    min_shingles: int = Field(6, ge=0)
    """Texts with fewer distinct shingles are only compared exactly (short texts differ by one word)."""
    max_candidates: int = Field(256, ge=1)
    """Most earlier LSH candidates verified per text (bounds work on huge clusters of near-identical texts)."""
    grouping: Literal["union_find", "keep_first"] = "keep_first"
    """union_find: connected components of verified pairs (order-independent groups, transitive);
    keep_first: in row order, a row duplicates the most similar earlier kept row (no chains)."""
    min_similarity: float = decision(0.0, ge=0.0, le=1.0)
    """Decide: flag only members at least this similar to the kept member."""

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in ("system", "prompt", "output")]
        if bad or not v:
            raise ValueError(f"fields must be a non-empty subset of system, prompt, output (got {v})")
        return v

    @model_validator(mode="after")
    def _bands_divide(self):
        if self.num_bands is not None and (self.num_bands < 1 or self.num_perm % self.num_bands):
            raise ValueError(f"num_bands ({self.num_bands}) must divide num_perm ({self.num_perm})")
        return self


def keep_first(rank: np.ndarray, a: np.ndarray, b: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Greedy keep-first grouping of nodes linked by edges (a, b, similarity j).

    In ``rank`` order a node is a duplicate of the most similar earlier node that is itself
    kept (ties: the earlier one); otherwise it is kept. Returns the partner per node (-1 = kept).
    """
    n = len(rank)
    partner = np.full(n, -1, dtype=np.int64)
    if len(a) == 0:
        return partner
    swap = rank[a] > rank[b]
    early, late = np.where(swap, b, a), np.where(swap, a, b)
    order = np.lexsort((rank[early], -j, rank[late]))
    removed = np.zeros(n, dtype=bool)
    # sequential by nature (a node's status depends on earlier ones): one pass over the edges, as
    # Python ints a slice at a time (all at once: ~70 bytes per edge, 150 MB on 200k templated rows)
    step = 1 << 16
    for lo in range(0, len(order), step):
        sel = order[lo:lo + step]
        for e, l in zip(early[sel].tolist(), late[sel].tolist()):
            if not removed[l] and not removed[e]:
                removed[l] = True
                partner[l] = e
    return partner


def union_find(rank: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the edges; every node points at its component's first node by rank."""
    return component_partner(rank, a, b)


def _expand(node_of_item: np.ndarray, a: np.ndarray, b: np.ndarray, cap: int) -> tuple[np.ndarray, ...]:
    """Item pairs behind node pairs: (item, item, index of the node pair), plus pairs of items
    that share a node (index -1). At most ``cap`` items per node take part: the first by id."""
    order = np.argsort(node_of_item, kind="stable").astype(a.dtype)
    n_nodes = int(node_of_item.max()) + 1 if len(node_of_item) else 0
    count = np.minimum(np.bincount(node_of_item, minlength=n_nodes), cap)
    start = np.searchsorted(node_of_item[order], np.arange(n_nodes))
    # across linked nodes
    ca, cb = count[a], count[b]
    per = ca * cb
    e = np.repeat(np.arange(len(a), dtype=a.dtype), per)
    loc = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    ia = order[start[a][e] + loc % np.maximum(ca[e], 1)]
    ib = order[start[b][e] + loc // np.maximum(ca[e], 1)]
    # inside one node (same compared text, different prompts)
    multi = np.flatnonzero(count > 1)
    si, sj = [], []
    for k in np.unique(count[multi]):
        base = start[multi[count[multi] == k]]
        x, y = np.triu_indices(int(k), 1)
        si.append((base[:, None] + x[None, :]).ravel())
        sj.append((base[:, None] + y[None, :]).ravel())
    si = order[np.concatenate(si)] if si else np.zeros(0, order.dtype)
    sj = order[np.concatenate(sj)] if sj else np.zeros(0, order.dtype)
    return np.r_[ia, si], np.r_[ib, sj], np.r_[e, np.full(len(si), -1, dtype=e.dtype)]


@register
class NearDuplicate(DatasetCheck):
    name = "near_duplicate"
    description = "Nearly the same prompt and answer as an earlier row (MinHash-LSH, verified Jaccard)."
    scores = {
        "near_duplicate_similarity": Score(
            "exact Jaccard of the compared fields' word-shingle sets with the row in "
            "near_duplicate_of (0..1; 1 when equal once case, whitespace and punctuation are dropped); "
            "higher = more similar; 0 = no near duplicate", 0, 1, worse="higher"),
    }
    default = True
    order = 20
    weight = 0.0
    relation = "duplicate"
    threshold = Threshold("min_similarity", "near_duplicate_similarity", ">=")
    config_inputs = ("seed",)
    partner_column = "near_duplicate_of"
    Params = NearDuplicateParams
    needs = ("norm_system", "norm_prompt", "norm_output", "content_hash")
    #: builds the MinHash-LSH index (the benchmark swaps in datasketch through this hook)
    index = staticmethod(lsh_index)

    def _gate(self) -> bool:
        return self.params.prompt_threshold > 0 and "prompt" not in self.params.fields

    def fit(self, batch: pa.Table) -> dict[str, Any]:
        """Per row: ``row``, hashes of the compared text, of the prompt and of the whole example; per
        distinct compared text (and prompt, when they gate) of the batch: its hash and shingle set."""
        p = self.params
        state: dict[str, Any] = {
            "rows": row_ids(batch),
            "exact": np.asarray(batch["content_hash"].to_numpy(zero_copy_only=False), dtype=np.uint64)}
        state["node"], state["texts"], state["canon"] = _keyed(_joined(batch, p.fields), p.shingle_size)
        if self._gate():
            # the distinct prompts themselves, not their shingle sets: a set takes 8 bytes per word (more than
            # the text) and only the prompts of linked answers are ever shingled (in finalize)
            state["prompt"], state["prompts"], _ = _keyed(_joined(batch, ("system", "prompt")), None)
        return state

    def merge(self, states: list[dict[str, Any]]) -> dict[str, Any]:
        if len(states) == 1:
            return states[0]
        out = {key: np.concatenate([s[key] for s in states]) for key in ("rows", "exact", "node", "canon", "prompt")
               if key in states[0]}
        out["texts"] = KeyedSets.concat([s["texts"] for s in states])
        if "prompts" in states[0]:
            out["prompts"] = KeyedTexts.concat([s["prompts"] for s in states])
        return out

    def finalize(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        rows = state["rows"]
        n = len(rows)
        partner_row, member = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        sim = np.zeros(n, dtype=np.float32)
        if n:
            partner_row, member, sim = self._group(state)
        return {"rows": rows, "partner": partner_row, "member": member, "sim": sim}

    def score(self, batch: pa.Table, state: dict[str, np.ndarray]) -> pa.Table:
        pos = positions_of(row_ids(batch), state["rows"])
        return pa.table({
            "near_duplicate_similarity": pa.array(state["sim"][pos], pa.float32()),
            self.partner_column: nullable_int(state["partner"][pos], state["member"][pos]),
        })

    def _group(self, state: dict[str, Any]):
        p = self.params
        rows = state["rows"]
        n = len(rows)
        seed = self.seed()
        exact, exact_keys = first_ids(state["exact"])
        is_copy = lowest_member(exact, rows, len(exact_keys))[exact] != np.arange(n)
        # nodes: distinct compared texts (ids in order of first appearance); only these are shingled and indexed
        node, node_keys = first_ids(state["node"])
        values, offsets = state["texts"].sets_of(node_keys)
        sizes = np.diff(offsets)
        idx_sizes = np.where(sizes < p.min_shingles, 0, sizes)  # too short to judge by overlap
        idx_offsets = np.zeros_like(offsets)
        np.cumsum(idx_sizes, out=idx_offsets[1:])
        # the short sets' items dropped (no copy when there are none: 110 MB on 200k templated texts)
        idx_values = values[np.repeat(idx_sizes > 0, sizes)] if (idx_sizes != sizes).any() else values
        index = self.index(idx_values, idx_offsets, p.num_perm, p.num_bands or auto_bands(p.num_perm, p.threshold),
                           p.threshold, seed)
        na, nb, nj = verified_edges(idx_values, idx_offsets, index, p.threshold, p.max_candidates)
        del index  # its signatures (num_perm x 2 bytes per text) are not needed past verification
        release_memory()  # nor the pages the index and the candidate batches held (the next stages reuse none)
        # texts equal once case, whitespace and punctuation are dropped: linked to the first such text
        node_canon = _per_node(node, len(node_keys), state["canon"])
        ca, cb = _canonical_edges(node_canon)
        if len(ca):
            na, nb = np.r_[na, ca].astype(na.dtype, copy=False), np.r_[nb, cb].astype(nb.dtype, copy=False)
            nj = np.r_[nj, np.ones(len(ca))]
        gate = self._gate()
        if gate:
            # items: distinct (compared text, prompt), in (text, prompt) order
            pnode, prompt_keys = first_ids(state["prompt"])
            n_prompts = len(prompt_keys)
            ukeys, item = np.unique(node * n_prompts + pnode, return_inverse=True)
            item = item.ravel()
            # int32 ids while they fit: the arrays below have one entry per linked pair of items (~10 per
            # text, 2M on 200k templated texts), and each int64 array of them cost 16 MB there
            idt = np.int32 if len(ukeys) < 1 << 31 else np.int64
            item_node, item_prompt = (ukeys // n_prompts).astype(idt), (ukeys % n_prompts).astype(idt)
            first_row = rows[lowest_member(item, rows, len(ukeys))]
            del ukeys
            ia, ib, e = _expand(item_node, na.astype(idt), nb.astype(idt), p.max_copies)
            del na, nb
            j_out = np.ones(len(e))
            linked = e >= 0
            j_out[linked] = nj[e[linked]]
            # pairs inside one node (same compared text) need a text with words
            ok = linked | (sizes[item_node[ia]] > 0)
            del e, linked, nj
            release_memory()
            pa_, pb_ = item_prompt[ia], item_prompt[ib]
            diff = np.flatnonzero(pa_ != pb_)
            if len(diff):
                # shingle only the prompts that take part (once), and compare each pair of prompts once per
                # chunk of pairs: all pairs at once held a hash table and several arrays per pair (2M pairs
                # on 200k templated rows: +250 MB)
                mark = np.zeros(n_prompts, dtype=bool)
                mark[pa_[diff]] = True
                mark[pb_[diff]] = True
                used = np.flatnonzero(mark)
                rank = (np.cumsum(mark) - 1).astype(idt)
                del mark
                used_texts = state["prompts"].texts_of(prompt_keys[used])
                pv, po = shingle_sets(used_texts, p.shingle_size)
                # prompts equal once case, whitespace and punctuation are dropped are the same question (their
                # keys from the kept prompt texts, only for the prompts of linked answers)
                pcanon = canonical_keys(used_texts)
                del used_texts
                for lo in range(0, len(diff), _GATE_CHUNK):
                    sel = diff[lo:lo + _GATE_CHUNK]
                    x, y = rank[pa_[sel]].astype(np.int64), rank[pb_[sel]].astype(np.int64)
                    pairs = pc.dictionary_encode(pa.array(np.minimum(x, y) * len(used) + np.maximum(x, y)))
                    del x, y
                    key = pairs.dictionary.to_numpy()
                    ka, kb = key // len(used), key % len(used)
                    ok_pair = similar_enough(pv, po, ka, kb, p.prompt_threshold, p.num_perm, seed)
                    ok_pair |= (pcanon[ka] == pcanon[kb]) & (pcanon[ka] != _EMPTY)
                    ok[sel] &= ok_pair[pairs.indices.to_numpy()]
                del rank, pv, po, pcanon
            del pa_, pb_, diff
            ia, ib, j_out = ia[ok], ib[ok], j_out[ok]
        else:
            item, item_node = node, np.arange(len(node_keys))
            ia, ib, j_out = na, nb, nj
            first_row = rows[lowest_member(item, rows, len(item_node))]
        n_items = len(item_node)
        release_memory()  # the prompt gate's chunks
        if p.grouping == "keep_first":
            item_partner = keep_first(first_row, ia, ib, j_out)
        else:
            item_partner = union_find(first_row, ia, ib)
        # a row's target item: its partner, else its own item (copies point at the item's first row)
        target = np.where(item_partner >= 0, item_partner, np.arange(n_items))
        # similarity of each item's text with its target's (per item, then per row)
        item_sim = np.ones(n_items)
        d = np.flatnonzero(item_node != item_node[target])
        item_sim[d] = sh.jaccard(values, offsets, item_node[d], item_node[target[d]])
        same = node_canon[item_node[d]] == node_canon[item_node[target[d]]]
        item_sim[d[same & (node_canon[item_node[d]] != _EMPTY)]] = 1.0
        t = target[item]
        partner_row = first_row[t]
        member = (partner_row != rows) & ~is_copy
        if not gate:
            # texts without words are never grouped (a canonical key needs a letter or digit)
            member &= (sizes[item_node[item]] > 0) | (node_canon[item_node[item]] != _EMPTY)
        sim = np.zeros(n, dtype=np.float32)
        sim[member] = item_sim[item[member]]
        return partner_row, member, sim

    def decide(self, scores: pa.Table) -> np.ndarray:
        has_partner = scores[self.partner_column].is_valid().to_numpy(zero_copy_only=False)
        sim = scores["near_duplicate_similarity"].to_numpy(zero_copy_only=False)
        return has_partner & (sim >= self.params.min_similarity)


def _joined(batch: pa.Table, fields) -> pa.Array:
    """The normalized text of ``fields`` joined with :data:`SEP` (normalization turns SEP into a space,
    so equal joined texts mean equal fields)."""
    cols = [batch[f"norm_{f}"] for f in fields]
    out = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, SEP)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


class KeyedSets:
    """Shingle sets of distinct texts, keyed by the texts' 64-bit hashes, in order of first appearance."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, sizes: np.ndarray):
        self.keys, self.values, self.sizes = keys, values, sizes

    @classmethod
    def concat(cls, parts: list[KeyedSets]) -> KeyedSets:
        """The sets of several batches in order; a text seen in an earlier batch keeps its first copy."""
        keys = np.concatenate([p.keys for p in parts])
        sizes = np.concatenate([p.sizes for p in parts])
        _, first = np.unique(keys, return_index=True)
        keep = np.zeros(len(keys), dtype=bool)
        keep[first] = True
        values = np.concatenate([p.values for p in parts])
        if keep.all():
            return cls(keys, values, sizes)
        return cls(keys[keep], values[np.repeat(keep, sizes)], sizes[keep])

    def sets_of(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sets of ``keys`` in that order (CSR); no copy when they are this collection's own order."""
        offsets = np.zeros(len(self.sizes) + 1, dtype=np.int64)
        np.cumsum(self.sizes, out=offsets[1:])
        if np.array_equal(keys, self.keys):  # always: first appearance in merged batches = first appearance
            return self.values, offsets
        order = np.argsort(self.keys, kind="stable")
        return sh.take((self.values, offsets), order[np.searchsorted(self.keys[order], keys)])


class KeyedTexts:
    """Distinct texts keyed by their 64-bit hashes, in order of first appearance."""

    def __init__(self, keys: np.ndarray, texts: pa.Array):
        self.keys, self.texts = keys, texts

    @classmethod
    def concat(cls, parts: list[KeyedTexts]) -> KeyedTexts:
        keys = np.concatenate([p.keys for p in parts])
        texts = pa.concat_arrays([p.texts for p in parts])
        first = np.sort(np.unique(keys, return_index=True)[1])
        if len(first) == len(keys):
            return cls(keys, texts)
        return cls(keys[first], texts.take(pa.array(first)))

    def texts_of(self, keys: np.ndarray) -> pa.Array:
        order = np.argsort(self.keys, kind="stable")
        return self.texts.take(pa.array(order[np.searchsorted(self.keys[order], keys)]))


#: pairs of prompts gated at once (bounds the gate's temporaries; each chunk's distinct pairs are compared once)
_GATE_CHUNK = 1 << 18

#: the canonical key of a text without letters or digits (such texts are never linked by it)
_EMPTY = sh.EMPTY_KEY


def canonical_keys(texts: pa.Array) -> np.ndarray:
    """Per normalized text, the hash of its canonical key: the text with punctuation, symbols and all
    whitespace dropped (letters, digits, marks and the field separator kept), so "je suis  malade !",
    "je suismalade" and "je suis malade" share one (:func:`finesift.checks._shingles.content_keys`)."""
    return sh.content_keys(texts)


def _per_node(node: np.ndarray, n_nodes: int, per_row: np.ndarray) -> np.ndarray:
    """A per-row value that is a function of the row's node, per node."""
    out = np.full(n_nodes, _EMPTY, dtype=np.uint64)
    out[node] = per_row
    return out


def _canonical_edges(canon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node pairs (later node, first node) of nodes sharing a non-empty canonical key: a star per key, as
    the key is an equivalence (every member of a star is as close to its centre as to each other)."""
    gid, keys = first_ids(canon)
    nodes = np.arange(len(canon), dtype=np.int64)
    first = lowest_member(gid, nodes, len(keys))
    head = first[gid]
    sel = np.flatnonzero((head != nodes) & (canon != _EMPTY))
    return sel, head[sel]


def _keyed(texts: pa.Array, shingle_size: int | None) -> tuple[np.ndarray, KeyedSets | KeyedTexts, np.ndarray | None]:
    """Hash per text, the distinct texts keyed by hash (first appearance order): their shingle sets
    (``shingle_size`` words per shingle) and the hash of each row's :func:`canonical` key, or the
    texts themselves (``None``; no canonical hashes: they are made from the kept texts when needed)."""
    enc = pc.dictionary_encode(texts)
    keys = np.asarray(hash_strings(enc.dictionary).to_numpy(zero_copy_only=False), dtype=np.uint64)
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    if shingle_size is None:
        return keys[idx], KeyedTexts(keys, enc.dictionary), None
    canon = canonical_keys(enc.dictionary)
    values, offsets = shingle_sets(enc.dictionary, shingle_size)
    return keys[idx], KeyedSets(keys, values, np.diff(offsets)), canon[idx]
