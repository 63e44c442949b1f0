"""``conflict``: the same (or nearly the same) prompt has materially different answers, and this one is
the odd one out.

Groups: rows whose normalized system prompt and prompt are equal once punctuation is
dropped ("nearly the same prompt": ``Translate to French: Run!`` and ``... Run.`` group
together; for chat data the prompt column already holds the flattened conversation
prefix). Identical answers (after normalization) are one *answer* weighing as many rows as
carry it: copies are exact duplicates, not conflicts. A group is examined when it has 2 to
``max_answers`` distinct answers (more means an open-ended prompt such as "Write a poem").

How a conflict is scored, for each distinct answer ``i`` of a group:

1. **Similarity** ``sim(i, j)``, chrF-like: the mean over n = 1..4 of the Dice overlap of
   the two answers' character n-gram sets (0..1).
2. **Agreement** ``agr(i)``: row-weighted mean similarity of ``i`` to the other rows of the
   group (a copy of ``i`` counts 1), so the group majority pulls it up.
3. **Implausibility features** ``f_k(i)`` (each 0..1), mined from a seeded sample of up to
   20,000 of the dataset's own (prompt, answer) items, leaving the scored item out; nothing
   is specific to one language or task:

   * *prompt language*: mean log-odds of the answer's character trigrams under the profile
     of all answers vs the profile of all prompts, placed on a scale from a typical answer
     (0) to a typical prompt (1) - an English echo to English->French prompts. Off when the
     dataset's answers and prompts read alike.
   * *unseen*: share of the answer's words no other answer uses (beyond the typical share,
     smoothed by +2 words, 0 below 0.2 excess), or 0.6 x the same for character trigrams -
     an answer in another language.
   * *echo*: 1.5 x the share of the answer's words copied from its prompt (+2 smoothing),
     each copied word weighted by how rarely answers copy it (names and numbers are copied
     all the time, "where" is not) - "hello is bonjour".
   * *length*: robust z-score of the answer's log length against answers to prompts of
     similar length; (|z| - 2.5) / 3.
   * *truncated*: the answer is another answer of the group cut at a word boundary, and
     (when the dataset's answers usually end with . ! ? …) it does not end that way itself.
   * *misaligned*: association (phi coefficient over the sample) between answer words and
     prompt words gives each answer an alignment with its prompt. Three kinds of evidence, the
     strongest counts: (a) the same answer text aligns much better with another prompt it is
     given to elsewhere in the dataset (a translation of a different sentence); (b) in groups
     holding two answers unlike each other (similarity < 0.5), the answer's two-way alignment
     (its words to the prompt's and the prompt's to its) with its own prompt is compared with its
     alignments with 32 random sampled prompts: z = (own - mean) / sd. A translation of the
     prompt stands far above them (z ~ 4 and up); a fluent answer to something else does not
     (z ~ 0), whether or not the sentence it translates is in the dataset. Evidence
     ``(1.5 - z) / 1.5``, clipped, weighed by judged answer words (w / (w + 2)) and sample size;
     (c) weak (x0.5, discounted for short answers): it aligns much worse than the group's
     best-aligned answer.

4. **Representative** ``r``: the answer with the highest ``agr(i) - u(i)``, where ``u`` is
   the noisy-or of the features (ties: lowest row). Valid alternatives ("Cours !" /
   "Courez !", "Salut !" / "Bonjour !") are all plausible: they tie on ``u``.
5. **Score** of another answer::

       conflict_score = w * (1 - sim(i, r)) + (1 - w) * noisy_or_k(max(0, f_k(i) - f_k(r)))

   with ``w = disagreement_weight`` (0.3). Disagreement alone is capped at ``w``, below the
   default ``threshold`` (0.5): two plausible answers never flag each other. An answer is
   flagged when it differs *and* is clearly less plausible than the representative on some
   feature. The representative scores ``w * (1 - agr(r))`` and is never flagged by default.

Measured by ``benchmarks/bench_conflict.py`` (``benchmarks/results/conflict.json``; 2,000 clean
Tatoeba rows plus 140 injected wrong answers: 20 each of English echo, other language, another
row's translation, "<english> is <french>", truncated, and 40 translations of a sentence found
nowhere in the sample). Held out (no English sentence of the tuning sample; seeds 3 and 4 also
out of sample for the random-prompt baseline, which was set on seeds 1, 2): 128 and 130 of 140
flagged (translations of an outside sentence: 33 and 32 of 40, 9 and 11 before the baseline),
1 and 0 clean rows flagged. The headline experiment's noisy sets (a clean prompt repeated with
another sentence's translation): 78-80% of those conflicts flagged (15% before). Clean
multi-translation groups (500 English sentences, every distinct translation, nothing else in
the file): 0.8-2.4% of groups flagged (0.4-1.4% before); the file's first 2,000 lines
(short idioms): 41 of 508 groups (23 before). Numbers of the last run: see the JSON.

Why conflict computes its own evidence instead of reading ``echo_output``, ``truncated_output``,
``wrong_language`` or ``too_long`` columns (each row check's score is a different quantity; reading
it would change what is measured, and conflict must work when those checks are not configured):

* *echo* here weights each copied word by how rarely the dataset's answers copy that word
  (``echo_output_similarity`` is the unweighted share of the answer's 5-character shingles found in
  the prompt: a name or number copied from the prompt counts there as much as any copied text,
  here little, since answers copy names and numbers all the time).
* *truncated* here means "another answer of the same group is this answer continued"; the
  ``truncated_output`` score looks at one answer's ending alone (dangling words, brackets,
  peer length) and cannot see the longer answer beside it.
* *prompt language* / *unseen* compare an answer's character trigrams and words with the
  dataset's own answers and prompts, whatever the languages or the format; ``wrong_language``
  is a language-ID probability against an expected language, none for a format change, and a
  16-language model.
* *length* is a z-score of the normalized answer's character length among sampled
  (prompt, answer) items, copies counted once; the shared ``words_output`` / ``words_prompt``
  features count words (:data:`~finesift.checks.features.WORD`), a different unit, and
  ``too_long`` counts tokens against a budget. The word *sets* used for echo, unseen words and
  alignment are :func:`finesift.checks._shingles.words` hashes (runs of letters/digits), not counts.

What it does read from the shared text layer: ``norm_system``, ``norm_prompt``, ``norm_output``
(the normalized texts) and ``answer_hash``.

Protocol (a :class:`~finesift.checks.base.DatasetCheck`): ``fit`` keeps per row its ``row``, a
64-bit hash of the group key (normalized system prompt + prompt, punctuation dropped with
``loose_prompt``) and the answer hash, and the normalized prompt and answer only once per
(group, answer) item of the batch; ``finalize`` groups, samples (``self.seed()``) and scores every
item; ``score`` hands a batch its rows. Scores do not depend on the batch size.

Columns (rows outside examined groups: score 0, partner and group null):

* ``conflict_score`` (float32, 0..1): higher = more conflicting.
* ``conflict_of`` (int64, partner): the first row of the group's representative answer; for the
  representative itself, the first row of its most conflicting answer.
* ``conflict_group`` (int64): group id = lowest ``row`` of the group.

Flagged: ``conflict_score >= threshold``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from . import _shingles as sh
from ._groups import SEP, dense_ids, lowest_member, nullable_int, row_ids
from ._stats import robust_scale
from .base import (
    CheckParams,
    DatasetCheck,
    Score,
    Threshold,
    batch_positions,
    decision,
    register,
    text_array,
)
from .features import hash_strings

#: profile hash bins (2^20 counters per profile)
_BINS_LOG2 = 20
#: rows used to build the dataset profiles (a seeded sample beyond this)
_PROFILE_ROWS = 20_000
#: word pairs per batch of association statistics (memory bound: ~10 arrays of this length)
_PAIR_BUDGET = 2_000_000
#: word pairs per chunk of alignment work: small enough that the per-pair temporaries stay in cache
#: (3x faster than chunks of _PAIR_BUDGET); results do not depend on it
_CHUNK_PAIRS = 1 << 17
#: largest (answer word x prompt word) matrix of pair counts kept dense (2 bytes each)
_DENSE_PAIRS = 1 << 25
#: other groups with the same answer whose prompts are checked for a better alignment
_ELSEWHERE = 5
#: random sampled prompts an answer's alignment with its own prompt is compared with
BASELINE_PROMPTS = 32
#: z (own alignment above random prompts') below which an answer starts to look misaligned, and the
#: z span over which that evidence grows to 1
_Z_HI, _Z_SPAN = 1.5, 1.5
#: answers less similar than this (chrF-like) to another of their group call for the alignment baseline
_UNLIKE = 0.5
#: smallest standard deviation of the random-prompt alignments a z is scaled by
_Z_SD_FLOOR = 0.02
#: judged answer words at which a z counts half (a one-word answer's z is mostly noise)
_Z_JUDGED = 2.0
#: weight of the unseen-trigram excess
_UNSEEN = 0.6
#: weight of the alignment deficit when nothing shows the answer belongs to another prompt
_WEAK = 0.5


class ConflictParams(CheckParams):
    loose_prompt: bool = True
    """Group prompts that differ only in punctuation (otherwise: equal normalized prompts)."""
    max_answers: int = Field(20, ge=2)
    """Groups with more distinct answers than this are open-ended prompts and are skipped."""
    disagreement_weight: float = Field(0.3, ge=0.0, le=1.0)
    """Weight of plain disagreement (1 - similarity to the representative) in the score."""
    threshold: float = decision(0.5, ge=0.0, le=1.0)
    """Decide: flag rows whose conflict_score is at least this."""


def _loosen(prompts: pa.Array) -> pa.Array:
    """Punctuation dropped: "translate to french: run!" and "... run." become the same key."""
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(prompts, pattern=r"[^\p{L}\p{N}]+", replacement=" "))


def _group_keys(system: pa.Array, prompt: pa.Array, loose: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row: xxh3-64 of the prompt-group key (normalized system prompt + :data:`SEP` + prompt,
    punctuation dropped with ``loose``) and the batch-local group id. Keys are built and hashed
    once per distinct (system, prompt) pair of the batch, not once per row. A loose prompt holds no
    separator, so equal keys mean equal pairs."""
    gid, uprompts = dense_ids(prompt)
    if loose:
        lid, uprompts = dense_ids(_loosen(uprompts))
        gid = lid[gid]
    sid, usystems = dense_ids(system)
    if len(usystems) > 1:
        gid, upair = dense_ids(pa.array(sid * len(uprompts) + gid))
        upair = np.asarray(upair.to_numpy(zero_copy_only=False))
        usystems, uprompts = usystems.take(pa.array(upair // len(uprompts))), uprompts.take(pa.array(upair % len(uprompts)))
    elif len(usystems) == 1:
        usystems = pa.repeat(usystems[0], len(uprompts))
    keys = pc.binary_join_element_wise(usystems, uprompts, SEP)
    return np.asarray(hash_strings(keys).to_numpy(zero_copy_only=False))[gid], gid


def _u64(col) -> np.ndarray:
    return np.asarray(col.to_numpy(zero_copy_only=False) if isinstance(col, pa.Array)
                      else col.combine_chunks().to_numpy(zero_copy_only=False), dtype=np.uint64)


def _first_per_group(g: np.ndarray, key: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """Per group id: the index with the smallest ``key`` (ties: smallest ``tie``)."""
    order = np.lexsort((tie, key, g))
    starts = order[np.r_[True, g[order][1:] != g[order][:-1]]]
    out = np.full(int(g.max()) + 1, -1, dtype=np.int64)
    out[g[starts]] = starts
    return out


def _group_pairs(group_of_item: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs (i, j), i < j, of items in the same group (items sorted by group)."""
    starts = np.flatnonzero(np.r_[True, group_of_item[1:] != group_of_item[:-1]])
    sizes = np.diff(np.r_[starts, len(group_of_item)])
    a_list, b_list = [], []
    for k in np.unique(sizes):
        if k < 2:
            continue
        base = starts[sizes == k]
        ii, jj = np.triu_indices(k, 1)
        a_list.append((base[:, None] + ii[None, :]).ravel())
        b_list.append((base[:, None] + jj[None, :]).ravel())
    if not a_list:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a_list), np.concatenate(b_list)


def char_similarity(texts: list[str], a: np.ndarray, b: np.ndarray, ns: tuple[int, ...] = (1, 2, 3, 4)) -> np.ndarray:
    """chrF-like similarity of text pairs: mean over n of the Dice overlap of char n-gram sets."""
    v, o = sh.unique_sets(*sh.char_ngrams(texts, ns))
    k = np.repeat(np.arange(len(ns)), len(a)) * len(texts)
    return sh.dice(v, o, np.tile(a, len(ns)) + k, np.tile(b, len(ns)) + k).reshape(len(ns), -1).mean(axis=0)


def _rows(csr: tuple, lo: int, hi: int) -> tuple:
    """Items lo..hi-1 of a CSR whose leading arrays are per-element (values, ..., offsets)."""
    *values, offsets = csr
    a, b = offsets[lo], offsets[hi]
    return (*(x[a:b] for x in values), offsets[lo:hi + 1] - a)


def _concat3(parts: list[tuple]) -> tuple:
    """CSRs of (ids, counts, offsets) one after the other."""
    off = np.zeros(sum(len(p[2]) - 1 for p in parts) + 1, np.int64)
    np.cumsum(np.concatenate([np.diff(p[2]) for p in parts]), out=off[1:])
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), off


def _bins(values: np.ndarray) -> np.ndarray:
    return (values >> np.uint64(64 - _BINS_LOG2)).astype(np.int64)


class AnswerEvidence:
    """Implausibility evidence for the examined answers, mined from a sample of the dataset's items.

    Items are distinct (prompt group, answer) pairs, so copies do not weigh twice. Every
    statistic leaves the scored item itself out when it is part of the sample.
    """

    #: words per text used for association statistics (bounds pair counts on long texts)
    WORDS_CAP = 48

    def __init__(self, uans: list[str], ans_idx: np.ndarray, uprm: list[str], prm_idx: np.ndarray,
                 sample_pos: np.ndarray, ref_ans: list[str], ref_prm: list[str]):
        # examined item i has answer uans[ans_idx[i]] and prompt uprm[prm_idx[i]] (texts are
        # processed once even when they recur); ``ref_*``: the sampled items
        self.n_ref = max(len(ref_ans), 1)
        # position of each examined item in the (randomly ordered) sample, -1 if not sampled
        self.pos = sample_pos
        self.own = (sample_pos >= 0).astype(np.int64)
        self.uans, self.ans_idx = uans, ans_idx
        self.ref_ans, self.ref_prm = ref_ans, ref_prm
        self.ref_aw = sh.unique_sets(*sh.words(ref_ans))
        self.ref_pw = sh.unique_sets(*sh.words(ref_prm))
        self.aw = sh.take(sh.unique_sets(*sh.words(uans)), ans_idx)
        self.pw = sh.take(sh.unique_sets(*sh.words(uprm)), prm_idx)
        self.uprm, self.prm_idx = uprm, prm_idx
        self.ans_len = np.fromiter(map(len, uans), np.float64, len(uans))[ans_idx]
        self.prm_len = np.fromiter(map(len, uprm), np.float64, len(uprm))[prm_idx]
        self.n = len(ans_idx)

    # -- character trigrams: answer-language vs prompt-language, unseen text --------------------
    def language(self) -> tuple[np.ndarray, np.ndarray]:
        """(prompt-likeness 0..1, unseen-trigram excess 0..1) per examined answer."""
        ra, ra_off = sh.unique_sets(*sh.char_ngrams(self.ref_ans, (3,)))
        rp, rp_off = sh.unique_sets(*sh.char_ngrams(self.ref_prm, (3,)))
        size = 1 << _BINS_LOG2
        cnt_a = np.bincount(_bins(ra), minlength=size)
        cnt_p = np.bincount(_bins(rp), minlength=size)
        na, npr = self.n_ref, self.n_ref

        def log_table(counts: np.ndarray, n: int):
            # np.log((c + 0.5) / n) for every count c that occurs: a gather instead of a log per trigram
            lo, hi = (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)
            return np.log((np.arange(lo, hi + 1) + 0.5) / n), lo

        def stats(bins: np.ndarray, off: np.ndarray, own_a: np.ndarray, own_p: np.ndarray):
            doc = sh.doc_of(off)
            ca = cnt_a[bins] - own_a[doc]
            cp = cnt_p[bins] - own_p[doc]
            (ta, a0), (tp, p0) = log_table(ca, na), log_table(cp, npr)
            lo = ta[ca - a0] - tp[cp - p0]
            return sh.segment_mean(lo, off), sh.segment_mean((ca <= 0).astype(float), off)

        m = min(len(self.ref_ans), 5000)  # reference medians from typical answers / prompts
        ones, zeros = np.ones(m, np.int64), np.zeros(m, np.int64)
        xa, ua = stats(_bins(ra[: ra_off[m]]), ra_off[: m + 1], ones, zeros)
        xp, _ = stats(_bins(rp[: rp_off[m]]), rp_off[: m + 1], zeros, ones)
        has_a, has_p = np.diff(ra_off[: m + 1]) > 0, np.diff(rp_off[: m + 1]) > 0
        med_a = float(np.median(xa[has_a])) if has_a.any() else 0.0
        med_u = float(np.median(ua[has_a])) if has_a.any() else 0.0
        med_p = float(np.median(xp[has_p])) if has_p.any() else 0.0
        # once per distinct answer; again only for the sampled items, whose own trigrams are left out
        sets = sh.unique_sets(*sh.char_ngrams(self.uans, (3,)))
        n_ua = len(sets[1]) - 1
        x, unseen = stats(_bins(sets[0]), sets[1], np.zeros(n_ua, np.int64), np.zeros(n_ua, np.int64))
        x, unseen = x[self.ans_idx], unseen[self.ans_idx]
        sampled = np.flatnonzero(self.own)
        if len(sampled):
            v, off = sh.take(sets, self.ans_idx[sampled])
            x[sampled], unseen[sampled] = stats(_bins(v), off, np.ones(len(sampled), np.int64),
                                                np.zeros(len(sampled), np.int64))
        span = med_a - med_p
        # only where answers and prompts are told apart at all (a translation or format change)
        prompt_like = np.clip((med_a - x) / span, 0.0, 1.0) if span > 0.5 else np.zeros(len(x))
        unseen_excess = np.clip((unseen - med_u) / max(1.0 - med_u, 1e-6), 0.0, 1.0)
        return prompt_like, unseen_excess

    # -- words copied from the prompt that answers do not usually copy -------------------------
    def echo(self) -> np.ndarray:
        """Share of the answer's words copied from its prompt, each weighted by how rarely
        answers copy that word (names and numbers are copied all the time; "where" is not)."""
        _, ref_word = sh.common(self.ref_aw, self.ref_pw)
        both_k, both_c = sh.count(ref_word)
        inp_k, inp_c = sh.count(self.ref_pw[0])
        doc, word = sh.common(self.aw, self.pw)
        own = self.own[doc]
        both = sh.lookup(both_k, both_c, word) - own
        inp = sh.lookup(inp_k, inp_c, word) - own
        rate = np.where(inp > 0, both / np.maximum(inp, 1), 0.0)
        copied = np.bincount(doc, weights=1.0 - rate, minlength=self.n)
        size = np.diff(self.aw[1])
        # +2: a one-word answer that happens to be a loanword ("stop") is weak evidence
        return copied / (size + 2.0)

    # -- words no other answer uses ------------------------------------------------------------
    def unseen_words(self) -> np.ndarray:
        """Share of the answer's words that no other sampled answer has (smoothed: +2 words),
        beyond the share typical answers have (0..1). An answer in another language scores high."""
        keys, counts = sh.count(self.ref_aw[0])

        def share(csr, own):
            doc = sh.doc_of(csr[1])
            c = sh.lookup(keys, counts, csr[0]) - own[doc]
            return np.bincount(doc, weights=(c <= 0).astype(float), minlength=len(csr[1]) - 1) \
                / (np.diff(csr[1]) + 2.0)

        m = min(len(self.ref_ans), 5000)
        ref = share(sh.take(self.ref_aw, np.arange(m)), np.ones(m, np.int64))
        base = float(np.median(ref)) if m else 0.0
        return np.clip((share(self.aw, self.own) - base) / max(1.0 - base, 1e-6), 0.0, 1.0)

    # -- prompt-word / answer-word association (phi coefficient over the sample) ---------------
    def _association_tables(self):
        """Vocabulary, document frequencies of words on each side, and of (prompt word, answer word)
        pairs, over the first sampled items whose word pairs fit ``_PAIR_BUDGET``."""
        if getattr(self, "_tables", None) is None:
            raw, rpw = sh.cap(self.ref_aw, self.WORDS_CAP), sh.cap(self.ref_pw, self.WORDS_CAP)
            per = np.diff(raw[1]) * np.diff(rpw[1])
            m = max(int(np.searchsorted(np.cumsum(per), _PAIR_BUDGET, side="right")), min(len(per), 1))
            raw, rpw = sh.take(raw, np.arange(m)), sh.take(rpw, np.arange(m))
            vocab = np.unique(np.concatenate([raw[0], rpw[0]]))
            a_id = np.searchsorted(vocab, raw[0])
            p_id = np.searchsorted(vocab, rpw[0])
            v = np.int64(len(vocab) + 1)  # id len(vocab) = a word the sample never saw
            _, ai, pi = sh.cross(raw[1], rpw[1])
            self._tables = (m, vocab, v, np.bincount(a_id, minlength=int(v)), np.bincount(p_id, minlength=int(v)),
                            sh.Lookup(*sh.count(p_id[pi] * v + a_id[ai])))
        return self._tables

    def _pair_keys(self):
        """(answer-word key, prompt-word key per vocabulary id, counts by the sum of the two): how
        :meth:`_align_chunk` finds a (prompt word, answer word) pair's document frequency. A dense
        matrix over the words that can be judged when it fits ``_DENSE_PAIRS`` (a gather per pair,
        most frequent words first so the busy corner stays in cache), else the hash table."""
        if getattr(self, "_keys", None) is None:
            m, _, v, cnt_a, cnt_p, co = self._association_tables()
            # only these words reach a pair (see _judged_answers, _judged_prompts)
            ja, jp = cnt_a >= 2, (cnt_p >= 1) & (cnt_p < m)
            na, np_ = int(ja.sum()), int(jp.sum())
            if na * np_ > _DENSE_PAIRS:
                self._keys = (np.arange(v, dtype=np.int64), np.arange(v, dtype=np.int64) * v, co)
            else:
                a_rank, p_rank = np.zeros(v, np.int64), np.zeros(v, np.int64)
                a_rank[np.argsort(-cnt_a, kind="stable")[:na]] = np.arange(na)
                p_rank[np.flatnonzero(jp)[np.argsort(-cnt_p[jp], kind="stable")]] = np.arange(np_)
                keys, counts = co.keys_counts()
                pk, ak = keys // v, keys % v
                use = ja[ak] & jp[pk]
                dense = np.zeros(na * np_, np.uint16 if m < 1 << 16 else np.int64)
                dense[a_rank[ak[use]] * np_ + p_rank[pk[use]]] = counts[use]
                # int32 keys: fewer bytes per pair (the matrix holds under 2^31 cells)
                self._keys = ((a_rank * np_).astype(np.int32), p_rank.astype(np.int32), dense.__getitem__)
        return self._keys

    def _vocab_ids(self, words: np.ndarray) -> np.ndarray:
        vocab = self._association_tables()[1]
        if len(vocab) == 0:
            return np.zeros(len(words), dtype=np.int64)
        if getattr(self, "_vocab_index", None) is None:  # word -> 1 + its position (0: not in the vocabulary)
            self._vocab_index = sh.Lookup(vocab, np.arange(1, len(vocab) + 1, dtype=np.int64))
        pos = self._vocab_index(words) - 1
        return np.where(pos >= 0, pos, len(vocab))

    def _ids(self, words: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """A CSR of word sets as the vocabulary ids :meth:`align` works on (at most ``WORDS_CAP`` per set)."""
        values, offsets = sh.cap(words, self.WORDS_CAP)
        return self._vocab_ids(values), offsets

    def align(self, aw: tuple[np.ndarray, np.ndarray], pw: tuple[np.ndarray, np.ndarray],
              pos: np.ndarray, own_prompt: bool = True, both: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Alignment of answer i (word set ``aw[i]``) with prompt i (``pw[i]``), and how many
        answer words it is judged on. Alignment = mean over the answer's words seen in at least
        two other sampled answers of their best phi association with a prompt word (>= 0);
        NaN when no word can be judged. ``pos``: the answer's position in the sample (-1: none),
        to leave it out of the statistics; ``own_prompt``: ``pw`` is that sampled item's own prompt
        (else another prompt: only the answer's side of the item is left out)."""
        return self._align_ids(self._ids(aw), self._ids(pw), pos, own_prompt, both)

    def _align_ids(self, aw: tuple[np.ndarray, np.ndarray], pw: tuple[np.ndarray, np.ndarray],
                   pos: np.ndarray, own_prompt: bool = True, both: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`align` of word sets given as :meth:`_ids`."""
        own = self._own(pos)
        own_p = own if own_prompt else np.zeros(len(own), np.int64)
        idx = np.arange(len(own))
        return self._align_sets(self._judged_answers(aw, own), idx, self._judged_prompts(pw, own, own_p), idx,
                                own, own_prompt, both)

    def _own(self, pos: np.ndarray) -> np.ndarray:
        """1 where the item is among the sampled items the association tables count, else 0."""
        return ((pos >= 0) & (pos < self._association_tables()[0])).astype(np.int64)

    def _align_sets(self, a, ia: np.ndarray, p, ip: np.ndarray, own: np.ndarray, own_prompt: bool,
                    both: bool) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`align` of item i's answer words ``a[ia[i]]`` with its prompt words ``p[ip[i]]``, both
        judged words (:meth:`_judged_answers`, :meth:`_judged_prompts`). Items go in chunks of bounded
        word-pair counts, gathered per chunk (a set used by many items is not copied for all at once),
        sampled answers (``own``) apart from the others so that ``own`` is one number per chunk."""
        m = self._association_tables()[0]
        n_items = len(ia)
        order = np.argsort(own, kind="stable")
        n_out = int(np.count_nonzero(own == 0))
        per = np.cumsum(np.diff(a[2])[ia[order]] * np.diff(p[2])[ip[order]])
        out, cnt = np.full(n_items, np.nan), np.zeros(n_items, np.int64)
        lo = 0
        while lo < n_items:
            base = per[lo - 1] if lo else 0
            hi = max(int(np.searchsorted(per, base + _CHUNK_PAIRS, side="right")), lo + 1)
            hi = min(hi, n_out if lo < n_out else n_items)
            sel = order[lo:hi]
            o = int(own[sel[0]])
            out[sel], cnt[sel] = self._align_chunk(sh.take(a, ia[sel]), sh.take(p, ip[sel]), o,
                                                   o if own_prompt else 0, m, both)
            lo = hi
        return out, cnt

    def _judged_answers(self, aw, own: np.ndarray):
        """Answer words judged on (seen in at least two other sampled answers): (pair keys, see
        :meth:`_pair_keys`; counts in the sample leaving the item out; offsets per item)."""
        cnt_a = self._association_tables()[3]
        doc = sh.doc_of(aw[1])
        c = cnt_a[aw[0]] - own[doc]
        keep = c >= 2
        off = np.zeros(len(own) + 1, np.int64)
        np.cumsum(np.bincount(doc[keep], minlength=len(own)), out=off[1:])
        return self._pair_keys()[0][aw[0][keep]], c[keep].astype(self._count_type()), off

    def _judged_prompts(self, pw, own: np.ndarray, own_p: np.ndarray):
        """Prompt words that can associate at all (seen, not in every sampled prompt but the item's),
        as :meth:`_judged_answers`."""
        m, _, _, _, cnt_p, _ = self._association_tables()
        doc = sh.doc_of(pw[1])
        c = cnt_p[pw[0]] - own_p[doc]
        keep = (c >= 1) & (c < (m - own)[doc])
        off = np.zeros(len(own) + 1, np.int64)
        np.cumsum(np.bincount(doc[keep], minlength=len(own)), out=off[1:])
        return self._pair_keys()[1][pw[0][keep]], c[keep].astype(self._count_type()), off

    def _count_type(self):
        # phi's integer terms (products of two counts <= m) stay exact in int32 up to m = 46340
        return np.int32 if self._association_tables()[0] <= 46340 else np.int64

    def _align_chunk(self, a, p, own: int, own_p: int, m: int,
                     both: bool = False) -> tuple[np.ndarray, np.ndarray]:
        co_count = self._pair_keys()[2]
        (a_keys, ca, a_off), (p_keys, cp, p_off) = a, p
        n_items = len(a_off) - 1
        n = self._count_type()(m - own)
        cnts = np.diff(a_off)
        a_doc = sh.doc_of(a_off)
        best = np.zeros(len(a_keys))
        # each answer word meets every prompt word of its item (prompt words vary fastest: one
        # segment of pairs per answer word)
        per = np.diff(p_off)[a_doc]
        n_pairs = int(per.sum())
        if n_pairs:
            ai = np.repeat(np.arange(len(a_keys), dtype=np.int32), per)
            first = np.cumsum(per) - per
            pi = np.repeat((p_off[:-1][a_doc] - first).astype(np.int32), per)
            pi += np.arange(n_pairs, dtype=np.int32)
            c_ap = co_count(p_keys[pi] + np.repeat(a_keys, per))
            c_ap = c_ap - own_p if own_p else c_ap
            c_a, c_p = np.repeat(ca, per), cp[pi]
            num = n * c_ap - c_a * c_p
            # phi <= 0 counts as 0 (a best association is clipped at 0): the square root and division
            # only where the numerator is positive
            pos = np.flatnonzero(num > 0)
            c_a, c_p = c_a[pos], c_p[pos]
            den = np.sqrt(c_a * (n - c_a).astype(float) * (c_p * (n - c_p)))
            phi = np.where(den > 0, num[pos] / np.where(den > 0, den, 1.0), 0.0)
            ai, pi = ai[pos], pi[pos]
            if len(pos):
                seg = np.flatnonzero(np.r_[True, ai[1:] != ai[:-1]])
                best[ai[seg]] = np.maximum.reduceat(phi, seg)
        sums = np.bincount(a_doc, weights=best, minlength=n_items)
        if both:
            # the other direction too: each judged prompt word's best association with an answer
            # word (a wrong answer leaves the prompt's words unmatched as well)
            best_p = np.zeros(len(p_keys))
            if n_pairs:
                np.maximum.at(best_p, pi, phi)
            jq = cp >= 2
            p_doc_j = sh.doc_of(p_off)
            sums = sums + np.bincount(p_doc_j[jq], weights=best_p[jq], minlength=n_items)
            cnts = cnts + np.bincount(p_doc_j[jq], minlength=n_items)
        return np.where(cnts > 0, sums / np.maximum(cnts, 1), np.nan), cnts

    def _aw_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_ids` of the examined answers (computed once)."""
        if getattr(self, "_aw_id_sets", None) is None:
            self._aw_id_sets = self._ids(self.aw)
        return self._aw_id_sets

    def _pw_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_ids` of the examined items' prompts (computed once)."""
        if getattr(self, "_pw_id_sets", None) is None:
            self._pw_id_sets = self._ids(self.pw)
        return self._pw_id_sets

    def alignment(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`align` of the examined answers with their own prompts (computed once)."""
        if getattr(self, "_alignment", None) is None:
            self._alignment = self._align_ids(self._aw_ids(), self._pw_ids(), self.pos)
        return self._alignment

    def prompt_z(self, k: int, seed: int, which: np.ndarray | None = None) -> np.ndarray:
        """Per examined answer: how far its alignment with its own prompt stands above its
        alignments with ``k`` random sampled prompts (of other prompts), in standard deviations
        of the latter (both directions of :meth:`align`); NaN where it cannot be judged. A
        translation of the prompt stands far above (z ~ 4); a fluent answer to something else
        does not (z ~ 0). A z-score means the same whatever the dataset's size or vocabulary,
        where raw phi values do not. ``which``: a mask of the answers to judge (others: NaN)."""
        out = np.full(self.n, np.nan)
        sel = np.arange(self.n) if which is None else np.flatnonzero(which)
        own = np.full(self.n, np.nan)
        judged = np.zeros(self.n)
        aw, pw = self._aw_ids(), self._pw_ids()
        own[sel], judged[sel] = self._align_ids(sh.take(aw, sel), sh.take(pw, sel), self.pos[sel], both=True)
        todo = np.flatnonzero(~np.isnan(own))
        if not len(todo) or not len(self.ref_prm):
            return out, judged
        key = {t: i for i, t in enumerate(self.uprm)}
        ref_key = np.fromiter((key.get(t, -1) for t in self.ref_prm), np.int64, len(self.ref_prm))
        pick = np.random.default_rng(seed).integers(0, len(self.ref_prm), size=(len(todo), k))
        other = ref_key[pick] != self.prm_idx[todo][:, None]  # the same prompt is no baseline
        # judged words of each answer and of each sampled prompt once, each item pointing at its sets; a
        # prompt's judged words depend on whether the answer is itself sampled (own 0 or 1): both versions
        own_t = self._own(self.pos[todo])
        own_q = np.repeat(own_t, k)
        ref = self._ids(self.ref_pw)
        n_ref = len(ref[1]) - 1
        none = np.zeros(n_ref, np.int64)
        versions = _concat3([self._judged_prompts(ref, none + o, none) for o in (0, 1)])
        al, _ = self._align_sets(self._judged_answers(sh.take(aw, todo), own_t), np.repeat(np.arange(len(todo)), k),
                                 versions, pick.ravel() + n_ref * own_q, own_q, False, True)
        al = np.nan_to_num(al).reshape(len(todo), k)
        cnt = other.sum(axis=1)
        mu = (al * other).sum(axis=1) / np.maximum(cnt, 1)
        sd = np.sqrt((((al - mu[:, None]) ** 2) * other).sum(axis=1) / np.maximum(cnt, 1))
        # the sd floor: an answer that aligns with no random prompt at all is judged on its own alignment
        out[todo] = np.where(cnt >= 2, (own[todo] - mu) / np.maximum(sd, _Z_SD_FLOOR), np.nan)
        return out, judged

    # -- length ------------------------------------------------------------------------------------
    def length_z(self) -> np.ndarray:
        """Robust z-score of log answer length against sample answers to prompts of similar length."""
        la = np.log1p(np.fromiter(map(len, self.ref_ans), np.float64, len(self.ref_ans)))
        lp = np.log1p(np.fromiter(map(len, self.ref_prm), np.float64, len(self.ref_prm)))
        qa, qp = np.log1p(self.ans_len), np.log1p(self.prm_len)
        if len(la) == 0:
            return np.zeros(len(qa))
        edges = np.unique(np.quantile(lp, np.linspace(0, 1, 11)))
        nb = max(len(edges) - 1, 1)
        b_ref = np.clip(np.searchsorted(edges, lp, side="right") - 1, 0, nb - 1)
        b_q = np.clip(np.searchsorted(edges, qp, side="right") - 1, 0, nb - 1)
        med, mad = np.zeros(nb), np.ones(nb)
        for k in range(nb):
            sel = la[b_ref == k]
            if len(sel):
                med[k], mad[k] = robust_scale(sel, min_scale=0.1)
        return (qa - med[b_q]) / mad[b_q]


_END = " .!?…,;:)\"'»\u3002"
_TERMINAL = ".!?…\u3002\"'»)"


def _truncated(texts: list[str], a: np.ndarray, b: np.ndarray, ends_matter: bool) -> np.ndarray:
    """Per pair: 1 if text a is text b cut at a word boundary, -1 if b is a cut a, else 0.

    When the dataset's answers usually end with punctuation (``ends_matter``), a shorter
    answer that ends properly ("Viens !" next to "Viens chez moi !") is a complete
    alternative, not a cut one.
    """
    out = np.zeros(len(a), dtype=np.int8)
    strip = [t.rstrip(_END) for t in texts]
    for k, (i, j) in enumerate(zip(a.tolist(), b.tolist())):
        for short, long_, sign in ((i, j, 1), (j, i, -1)):
            ss, sl = strip[short], strip[long_]
            if ss and len(ss) < len(sl) and sl.startswith(ss) and not sl[len(ss)].isalnum():
                if not ends_matter or texts[short].rstrip()[-1] not in _TERMINAL:
                    out[k] = sign
    return out


def _ends_with_punctuation(texts: list[str]) -> float:
    """Share of non-empty texts ending with terminal punctuation."""
    ends = [t[-1] in _TERMINAL for t in texts if t]
    return float(np.mean(ends)) if ends else 0.0


@register
class Conflict(DatasetCheck):
    name = "conflict"
    description = "The same (or nearly the same) prompt has a materially different, less plausible answer elsewhere."
    scores = {
        "conflict_score": Score(
            "how much this answer conflicts with its prompt group's representative answer (0..1);"
            " higher = more conflicting; 0 = no conflict group", 0, 1, worse="higher"),
        "conflict_group": Score(
            "group id: lowest row among rows with the same (nearly) prompt; null = not in a group"),
    }
    default = True
    order = 30
    weight = 0.25
    relation = "conflict"
    threshold = Threshold("threshold", "conflict_score", ">=")
    config_inputs = ("seed",)
    partner_column = "conflict_of"
    Params = ConflictParams

    needs = ("norm_system", "norm_prompt", "norm_output", "answer_hash")

    def fit(self, batch: pa.Table) -> dict:
        """Per row: ``row``, prompt-group key hash, answer hash; the normalized prompt and answer
        only at the lowest row of each (group, answer) item of the batch (the one text of an item
        that scoring reads: the item's lowest row overall is the lowest in its batch)."""
        rows = row_ids(batch)
        prompt, answer = text_array(batch["norm_prompt"]), text_array(batch["norm_output"])
        gkey, gl = _group_keys(text_array(batch["norm_system"]), prompt, self.params.loose_prompt)
        akey = _u64(batch["answer_hash"])
        keep = np.zeros(0, np.int64)
        if len(rows):
            al, ua = dense_ids(pa.array(akey))
            item, local = dense_ids(pa.array(gl * len(ua) + al))
            keep = np.sort(lowest_member(item, rows, len(local)))
        idx = pa.array(keep, pa.int64())
        return {"rows": rows, "gkey": gkey, "akey": akey, "text_rows": rows[keep],
                "prompt": prompt.take(idx), "answer": answer.take(idx)}

    def finalize(self, state: dict) -> dict:
        rows = np.asarray(state.get("rows", np.zeros(0, np.int64)), dtype=np.int64)
        n = len(rows)
        score = np.zeros(n, dtype=np.float32)
        partner = np.zeros(n, dtype=np.int64)
        group = np.zeros(n, dtype=np.int64)
        hit = np.zeros(n, dtype=bool)
        if n >= 2:
            self._score_rows(state, rows, score, partner, group, hit)
        order = np.argsort(rows, kind="stable")  # batch_positions looks rows up in sorted order
        if n and (order == np.arange(n)).all():
            order = slice(None)
        return {"rows": rows[order], "score": score[order], "partner": partner[order],
                "group": group[order], "hit": hit[order]}

    def score(self, batch: pa.Table, state: dict) -> pa.Table:
        pos = batch_positions(batch, state["rows"])
        hit = state["hit"][pos]
        return pa.table({
            "conflict_score": pa.array(state["score"][pos], pa.float32()),
            "conflict_group": nullable_int(state["group"][pos], hit),
            self.partner_column: nullable_int(state["partner"][pos], hit),
        })

    def _score_rows(self, state: dict, rows: np.ndarray, score: np.ndarray,
                    partner: np.ndarray, group: np.ndarray, hit: np.ndarray) -> None:
        """Fill the per-row outputs for rows in examined groups (see the module docstring)."""
        p = self.params
        # ids in order of first appearance, as the joined texts would give them (64-bit keys: no collisions
        # at any size this tool sees)
        gid = dense_ids(pa.array(state["gkey"], pa.uint64()))[0]
        aid, answer_keys = dense_ids(pa.array(state["akey"], pa.uint64()))
        n_ans = len(answer_keys)
        # items = distinct (group, answer); weight = rows carrying that answer in that group
        ukeys, item_of_row, weight = np.unique(gid * n_ans + aid, return_inverse=True, return_counts=True)
        item_of_row = item_of_row.ravel()
        item_group, item_answer = ukeys // n_ans, ukeys % n_ans
        n_answers = np.bincount(item_group)
        examine = (n_answers[item_group] >= 2) & (n_answers[item_group] <= p.max_answers)
        if not examine.any():
            return
        item_first = lowest_member(item_of_row, rows, len(ukeys))  # position of each item's lowest row
        # the texts fit() kept: one per item, at its lowest row
        text_rows = np.asarray(state["text_rows"], dtype=np.int64)
        text_order = np.argsort(text_rows, kind="stable")
        sorted_text_rows = text_rows[text_order]
        prompts, answers = state["prompt"], state["answer"]

        def texts(col: pa.Array, pos: np.ndarray) -> list[str]:
            at = text_order[np.searchsorted(sorted_text_rows, rows[pos])]
            return col.take(pa.array(at, pa.int64())).to_pylist()

        items = np.flatnonzero(examine)  # sorted by group (ukeys are sorted)
        g = item_group[items]
        w = weight[items].astype(np.float64)
        first_row = rows[item_first[items]]
        # distinct answer texts and group prompts are processed once
        _, ans_first, ans_idx = np.unique(item_answer[items], return_index=True, return_inverse=True)
        ans_idx = ans_idx.ravel()
        uans = texts(answers, item_first[items][ans_first])
        n_ua = len(uans)
        _, prm_idx = np.unique(g, return_inverse=True)
        prm_idx = prm_idx.ravel()
        group_first = item_first[items][np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]]
        uprm = texts(prompts, group_first)

        # 1-2. pairwise similarity (once per distinct pair of texts) and row-weighted agreement
        pa_, pb_ = _group_pairs(g)
        x, y = ans_idx[pa_], ans_idx[pb_]
        pkey, pinv = np.unique(np.minimum(x, y) * n_ua + np.maximum(x, y), return_inverse=True)
        sim = char_similarity(uans, pkey // n_ua, pkey % n_ua)[pinv.ravel()]
        group_rows = np.bincount(g, weights=w)[g]
        agree = np.bincount(pa_, weights=sim * w[pb_], minlength=len(items)) \
            + np.bincount(pb_, weights=sim * w[pa_], minlength=len(items)) + (w - 1)
        agree = agree / np.maximum(group_rows - 1, 1)

        # 3. implausibility evidence, mined from a seeded sample of the dataset's items
        # (a seeded random order, so that any prefix of the sample is a random sample too)
        sample = np.random.default_rng(self.seed()).permutation(len(ukeys))[:_PROFILE_ROWS]
        sample_pos = np.full(len(ukeys), -1, dtype=np.int64)
        sample_pos[sample] = np.arange(len(sample))
        ev = AnswerEvidence(uans, ans_idx, uprm, prm_idx, sample_pos[items],
                       texts(answers, item_first[sample]), texts(prompts, item_first[sample]))
        elsewhere = self._align_elsewhere(ev, g, items, item_group, item_answer, sample_pos,
                                          lambda item: texts(prompts, item_first[item]))
        # the random-prompt baseline costs BASELINE_PROMPTS alignments per answer: only for groups
        # holding two answers unlike each other (variants of one answer need no alignment evidence)
        unlike = np.bincount(g, weights=np.bincount(np.r_[pa_, pb_][np.r_[sim, sim] < _UNLIKE],
                                                    minlength=len(items)), minlength=int(g.max()) + 1)[g] > 0
        feats = list(self._features(ev, g, pa_, pb_, elsewhere, self.seed(), unlike).values())
        u = 1.0 - np.prod([1.0 - f for f in feats], axis=0)

        # 4. representative per group: highest agreement - implausibility, ties by lowest row
        rep = _first_per_group(g, -(agree - u), first_row)[g]
        is_rep = rep == np.arange(len(items))

        # 5. scores; per-feature evidence beyond the representative's, combined by noisy-or
        sim_rep = np.ones(len(items))
        to_rep = (pa_ == rep[pb_]) | (pb_ == rep[pa_])
        sim_rep[np.where(pa_ == rep[pb_], pb_, pa_)[to_rep]] = sim[to_rep]
        rel = 1.0 - np.prod([1.0 - np.clip(f - f[rep], 0.0, 1.0) for f in feats], axis=0)
        wgt = p.disagreement_weight
        item_score = wgt * (1.0 - sim_rep) + (1.0 - wgt) * rel
        item_score[is_rep] = wgt * (1.0 - agree[is_rep])
        # the representative's partner: its most conflicting answer (ties: lowest row)
        worst = _first_per_group(g, np.where(is_rep, np.inf, -item_score), first_row)
        item_partner = np.where(is_rep, first_row[worst[g]], first_row[rep])
        group_id = np.full(int(g.max()) + 1, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(group_id, g, first_row)

        # items -> rows
        slot = np.full(len(ukeys), -1, dtype=np.int64)
        slot[items] = np.arange(len(items))
        k = slot[item_of_row]
        hit[:] = k >= 0
        score[hit] = item_score[k[hit]]
        partner[hit] = item_partner[k[hit]]
        group[hit] = group_id[g[k[hit]]]

    @staticmethod
    def _align_elsewhere(ev: AnswerEvidence, g: np.ndarray, items: np.ndarray, item_group: np.ndarray,
                         item_answer: np.ndarray, sample_pos: np.ndarray, prompt_of) -> np.ndarray:
        """Best alignment of each examined answer with the prompts of other groups that have the
        very same answer (at most ``_ELSEWHERE`` of them); NaN where it appears nowhere else or
        where it aligns with its own prompt about as well as the best answer of its group."""
        out = np.full(len(items), np.nan)
        align, _ = ev.alignment()
        best = np.full(int(g.max()) + 1, -np.inf)
        np.maximum.at(best, g, np.where(np.isnan(align), -np.inf, align))
        lagging = ~np.isnan(align) & (best[g] - align > 0.1)
        order = np.argsort(item_answer, kind="stable")
        sorted_ans = item_answer[order]
        lo = np.searchsorted(sorted_ans, item_answer[items], side="left")
        hi = np.searchsorted(sorted_ans, item_answer[items], side="right")
        multi = np.flatnonzero((hi - lo > 1) & lagging)
        # the first _ELSEWHERE items of other groups with the same answer: an item is a distinct
        # (group, answer), so among the first _ELSEWHERE + 1 of the answer's items at most one is
        # of the same group (the item itself)
        span = np.minimum(hi[multi] - lo[multi], _ELSEWHERE + 1)
        q_e = np.repeat(multi, span)
        q_other = order[np.repeat(lo[multi] - (np.cumsum(span) - span), span) + np.arange(int(span.sum()))]
        keep = item_group[q_other] != item_group[items[q_e]]
        q_e, q_other = q_e[keep], q_other[keep]
        rank = np.arange(len(q_e)) - np.searchsorted(q_e, q_e)
        q_e, q_other = q_e[rank < _ELSEWHERE], q_other[rank < _ELSEWHERE]
        if not len(q_e):
            return out
        # each other group's prompt is read and split into words once, however many answers it is checked for
        _, first, which = np.unique(item_group[q_other], return_index=True, return_inverse=True)
        pw = sh.take(ev._ids(sh.unique_sets(*sh.words(prompt_of(q_other[first])))), which.ravel())
        al, _ = ev._align_ids(sh.take(ev._aw_ids(), q_e), pw, sample_pos[q_other])
        np.fmax.at(out, q_e, al)
        return out

    @staticmethod
    def _features(ev: AnswerEvidence, g: np.ndarray, pa_: np.ndarray, pb_: np.ndarray,
                  elsewhere: np.ndarray, seed: int = 0, unlike: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Implausibility features of each examined answer, each scaled to 0..1."""
        prompt_like, unseen = ev.language()
        # rare words are unseen too: trigram evidence alone is damped; a sentence of unseen words is not
        unseen = np.maximum(_UNSEEN * unseen, np.clip((ev.unseen_words() - 0.2) / 0.5, 0.0, 1.0))
        echo = np.clip(ev.echo() * 1.5, 0.0, 1.0)
        align = ev.alignment()
        length = np.clip((np.abs(ev.length_z()) - 2.5) / 3.0, 0.0, 1.0)
        tr = _truncated(ev.uans, ev.ans_idx[pa_], ev.ans_idx[pb_], _ends_with_punctuation(ev.ref_ans[:5000]) >= 0.5)
        trunc = np.zeros(ev.n)
        trunc[pa_[tr == 1]] = 1.0
        trunc[pb_[tr == -1]] = 1.0
        # misalignment: the answer's words associate much worse with the prompt's than those of
        # the best-aligned answer of its group (weak alone: idioms align badly too), or the same
        # answer aligns much better with another prompt it is given to elsewhere (strong)
        align, judged = ev.alignment()
        best = np.full(int(g.max()) + 1 if len(g) else 0, -np.inf)
        np.maximum.at(best, g, np.where(np.isnan(align), -np.inf, align))
        a0 = np.nan_to_num(align)
        deficit = np.where(np.isnan(align) | ~np.isfinite(best[g]), 0.0, best[g] - a0)
        weak = np.clip((deficit - 0.1) / 0.3, 0.0, 1.0) * judged / (judged + 2.0)
        strong = np.where(np.isnan(elsewhere) | np.isnan(align), 0.0,
                          np.clip((np.nan_to_num(elsewhere) - a0 - 0.1) / 0.3, 0.0, 1.0))
        z, _ = ev.prompt_z(BASELINE_PROMPTS, seed, unlike)
        m = ev._association_tables()[0]
        # few judged words (a one-word greeting) or a small sample make a z noisy: less weight
        ranked = np.where(np.isnan(z), 0.0, np.clip((_Z_HI - np.nan_to_num(z)) / _Z_SPAN, 0.0, 1.0)) \
            * judged / (judged + _Z_JUDGED) * m / (m + 200.0)
        misaligned = np.maximum(np.maximum(_WEAK * weak, strong), ranked)
        return {"prompt_like": prompt_like, "unseen": unseen, "echo": echo, "length": length,
                "truncated": trunc, "misaligned": misaligned}

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["conflict_score"].to_numpy(zero_copy_only=False) >= self.params.threshold
