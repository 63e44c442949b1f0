"""``typos``: misspelled words in the prompt or the answer, in that field's language.

Words are checked against pyspellchecker's bundled dictionaries (en, fr, de, es,
it, pt, nl, ru). A field's language is the detected one when detection is
confident, else (answers) the language the prompt asks for, else the field's
dominant language in the dataset -- which is why this check has dataset scope.
Detection is the ``lang_prompt`` / ``lang_output`` features, shared with ``wrong_language`` and
``truncated_output`` (:mod:`finesift.checks._lang`).

State (``fit`` per batch): per row a hash of the text and its spell-check language, or "the field's
dominant language" where detection is not confident (and, for answers, the prompt asks for none);
confident detections per language; the checked words and dictionary misses of each distinct
(text, language) already settled, and the unsettled texts themselves (short ones, mostly).
``finalize`` picks each field's dominant language, checks the unsettled texts in it, and counts a
miss only if it is not the dataset's vocabulary (see ``vocabulary_min_texts``).

Not counted: numbers and anything with digits, URLs, e-mails, code spans,
template slots, single letters, and unknown capitalized or camelCase words --
names inside a sentence, and at its start too, where a name ("Titleist,
Taylormade, Callaway") is far more common than a typo; acronyms, brands and code.
A known capitalized word still counts as a checked word. French/Italian elisions are split off ("j'aime" -> "aime"),
hyphenated words pass when every part is known. In English, text-speak
("u", "ur", "pls") counts as misspelled even where the dictionary lists it.

Bounded cost per row, whatever the text: only the first :data:`MAX_CHARS` characters of a field
are checked (a word cut there is dropped), so a 5 MB answer costs what a 20,000-character one
does and its rate is that of its beginning; and a letter run longer than :data:`MAX_WORD_CHARS`
characters (a base64 blob, a hash, run-together or minified text: longer than any word of the
bundled dictionaries, the longest being 46) is no word at all: it is not checked, neither a
checked word nor a misspelling, like code and URLs -- and never reaches the edit-distance search,
whose cost grows with the square of a word's length.

Scores, per field (``prompt``, ``output``):

* ``typos_<field>_rate`` (0..1, higher is worse): misspelled / checked words (0 when nothing was checked).
* ``typos_<field>_count`` (0..inf): misspelled words.

A row is flagged when, in either field, the rate is at least ``max_rate`` with at least ``min_count`` misspellings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _lang
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

#: spellings that dictionaries accept as letters or rare words but that are text-speak in English prompts
TEXTSPEAK = frozenset({"u", "ur", "r", "pls", "plz", "thx", "thnx", "cuz", "coz", "ppl", "wat", "wut",
                       "im", "ive", "dont", "didnt", "doesnt", "isnt", "youre", "thats", "whats", "gud", "luv"})

_CHUNK = 65536  # rows tokenized at a time (bounded memory on 1M-row datasets)
#: characters of a field that are spell-checked (its beginning): bounds the work per row
MAX_CHARS = 20_000
#: longer letter runs are not words (no dictionary word is longer): never looked up
MAX_WORD_CHARS = 50


class TyposParams(CheckParams):
    max_rate: float = decision(0.3)
    """Flag a field whose misspelling rate is at least this (0.3: one word in three, not one in four)..."""
    min_count: int = decision(1)
    """...with at least this many misspelled words."""
    confident: float = 0.9
    """Detection probability (with >= ``confident_words`` words) needed to trust a field's detected language."""
    confident_words: int = 3
    """Letter words a text needs before its detected language is trusted over the prompt or the dataset."""
    min_dominant_share: float = 0.6
    """A field's dominant language is used as the default only if it covers this share of confident texts."""
    vocabulary_min_texts: int = 3
    """A dictionary miss found in at least this many distinct texts of the field is not counted (scoring knob)..."""
    vocabulary_share: float = 0.001
    """...nor fewer than this share of the field's distinct texts (up to 10): in a large dataset a common
    word's typo ("verry") recurs a few times without being its vocabulary (scoring knob)."""
    dense_count: int = decision(2)
    """...or flag a field with at least this many misspelled words...: two typos in a ten-word sentence..."""
    dense_rate: float = decision(0.15)
    """...at a rate of at least this (a long text holds a few rare words one edit from a dictionary word)."""
    near_miss_only: bool = True
    """Count a dictionary miss only if a dictionary word is one edit away (scoring knob): names,
    slang and rare words rarely are, typos usually are."""


@register
class Typos(DatasetCheck):
    name = "typos"
    description = "Many misspelled words in the prompt or the answer (in that field's language)."
    scope = "dataset"
    cost = "model"
    scores = {
        "typos_prompt_rate": Score(
            "misspelled / checked words in the prompt (0..1); higher is worse", 0, 1, worse="higher"),
        "typos_output_rate": Score(
            "misspelled / checked words in the answer (0..1); higher is worse", 0, 1, worse="higher"),
        "typos_prompt_count": Score(
            "misspelled words in the prompt (0..inf); higher is worse", 0, float("inf"), worse="higher"),
        "typos_output_count": Score(
            "misspelled words in the answer (0..inf); higher is worse", 0, float("inf"), worse="higher"),
    }
    default = True
    order = 90
    drop = False
    weight = 0.15
    threshold = Threshold("max_rate", "typos_output_rate", ">=")
    # the lang_* features tell apart one more language when the config expects one outside LANGUAGES
    config_inputs = ("expected_language",)
    Params = TyposParams

    needs = ("lang_prompt", "lang_output", "lang_requested")

    def fit(self, batch: pa.Table) -> dict[str, Any]:
        """Per field: each row's text hash and spell-check language (or "the dataset's dominant one"), the
        confident detections per language, and the checked words and dictionary misses of each distinct
        (text, language) whose language is already known; the texts whose language is not (yet) are kept."""
        p: TyposParams = self.params  # type: ignore[assignment]
        requested = _lang.code_index(batch["lang_requested"], _lang.detection_languages(self.config))
        state: dict[str, Any] = {"rows": np.asarray(batch["row"].to_numpy(zero_copy_only=False), dtype=np.int64)}
        for fld in FIELDS:
            det = _lang.detection(batch, fld, self.config)
            top, conf = det.top_index()
            sure = (conf >= p.confident) & (det.words >= p.confident_words) & (top >= 0)
            lang = np.where(sure, top, _OPEN)
            if fld == "output":  # the language the prompt asks for, before the dataset's
                asked = ~sure & (requested >= 0)
                lang[asked] = requested[asked]
                # word play and letter surgery make non-words on purpose ("sberk", "Th qck brwn fx")
                lang[_letter_play(batch["prompt"])] = -1
            else:  # a prompt that asks to find or fix misspellings holds them on purpose
                lang[_spelling_task(batch["prompt"])] = -1
            spellable = _spellable(det.langs)
            decided = lang >= 0
            lang[decided & ~spellable[np.maximum(lang, 0)]] = -1
            col = text_array(batch[fld])
            hashes = hash_strings(col).to_numpy(zero_copy_only=False)
            fs = _FieldState(hash=hashes, lang=lang.astype(np.int16), top=top.astype(np.int16),
                             counts=np.bincount(top[sure], minlength=len(det.langs)).astype(np.int64))
            # an answer's words quoted from its prompt are the prompt's spelling ("Misspelled words: swimmed"),
            # when both are in one language: a translation that keeps a prompt word left it untranslated
            context = None
            if fld == "output":
                prompt_top = _lang.detection(batch, "prompt", self.config).top_index()[0]
                same = prompt_top == np.where(lang >= 0, lang, top)
                context = pc.if_else(pa.array(same), text_array(batch["prompt"]), pa.nulls(len(same), pa.string()))
            fs.add_scanned(_scan_keys(col, hashes, lang, lang >= 0, det.langs, top, context))
            # texts whose language waits for the dataset's dominant one: kept once each
            open_rows = np.flatnonzero(lang == _OPEN)
            if len(open_rows):
                _, first = np.unique(hashes[open_rows], return_index=True)
                pick = open_rows[np.sort(first)]
                fs.open_hash, fs.open_top = hashes[pick], top[pick].astype(np.int16)
                fs.open_text = col.take(pa.array(pick))
                fs.open_context = None if context is None else context.take(pa.array(pick))
            state[fld] = fs
        return state

    def merge(self, states: list[dict[str, Any]]) -> dict[str, Any]:
        if len(states) == 1:
            return states[0]
        out: dict[str, Any] = {"rows": np.concatenate([s["rows"] for s in states])}
        for fld in FIELDS:
            out[fld] = _FieldState.merged([s[fld] for s in states])
        return out

    def finalize(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        """Each field's dominant language, the languages of the remaining texts, then the misspellings
        that count (not the dataset's vocabulary, one edit from a word) and every row's scores."""
        p: TyposParams = self.params  # type: ignore[assignment]
        langs = _lang.detection_languages(self.config)
        out: dict[str, np.ndarray] = {"rows": state["rows"]}
        for fld in FIELDS:
            fs: _FieldState = state[fld]
            sure = int(fs.counts.sum())
            dominant = -1
            if sure:
                best = int(fs.counts.argmax())
                if fs.counts[best] >= p.min_dominant_share * sure:
                    dominant = best
            spellable = _spellable(langs)

            if len(fs.open_hash):
                open_lang = _settle(fs.open_top, dominant, spellable)
                todo = (open_lang >= 0) & ~np.isin(_key(fs.open_hash, open_lang), fs.key)
                fs.add_scanned(_scan_keys(fs.open_text, fs.open_hash, open_lang, todo, langs, fs.open_top,
                                          fs.open_context))
            row_lang = fs.lang.astype(np.int64)
            waiting = row_lang == _OPEN
            row_lang[waiting] = _settle(fs.top[waiting], dominant, spellable)
            count = np.zeros(len(fs.key), dtype=np.int64)
            if len(fs.miss_key):
                # a "misspelling" that many distinct texts share is the dataset's vocabulary
                # (slang, conjugations the dictionary lacks); real typos are idiosyncratic
                words, word_id = np.unique(fs.miss_word.astype(str), return_inverse=True)
                pairs = _uniq(fs.miss_key * len(words) + word_id)
                df = np.bincount(pairs % len(words), minlength=len(words))
                need = max(p.vocabulary_min_texts, min(int(np.ceil(p.vocabulary_share * len(fs.key))), 10))
                keep = df[word_id] < need
                if p.near_miss_only:
                    miss_lang = np.asarray((*langs, None), dtype=object)[fs.key_lang[fs.miss_key]]
                    keep &= _near_miss(words, miss_lang, word_id)
                count = np.bincount(fs.miss_key[keep], minlength=len(fs.key))
            rate = np.divide(count, fs.checked, out=np.zeros(len(fs.key)), where=fs.checked > 0)
            # each row's (text, language): rows with no language to check have none and score 0
            rate_row, count_row = np.zeros(len(row_lang)), np.zeros(len(row_lang), dtype=np.int64)
            if len(fs.key):
                order = np.argsort(fs.key)
                row_key = _key(fs.hash, row_lang)
                pos = order[np.minimum(np.searchsorted(fs.key, row_key, sorter=order), len(order) - 1)]
                hit = (row_lang >= 0) & (fs.key[pos] == row_key)
                rate_row[hit], count_row[hit] = rate[pos[hit]], count[pos[hit]]
            out[f"typos_{fld}_rate"] = rate_row.astype(np.float32)
            out[f"typos_{fld}_count"] = count_row.astype(np.int32)
        return out

    def score(self, batch: pa.Table, state: dict[str, np.ndarray]) -> pa.Table:  # type: ignore[override]
        pos = batch_positions(batch, state["rows"])
        return pa.table({c: pa.array(state[c][pos]) for c in self.score_columns})

    def decide(self, scores: pa.Table) -> np.ndarray:
        p: TyposParams = self.params  # type: ignore[assignment]
        flag = np.zeros(scores.num_rows, dtype=bool)
        for fld in ("prompt", "output"):
            rate = scores[f"typos_{fld}_rate"].to_numpy(zero_copy_only=False)
            count = scores[f"typos_{fld}_count"].to_numpy(zero_copy_only=False)
            flag |= ((rate >= p.max_rate) & (count >= p.min_count)) | ((rate >= p.dense_rate) & (count >= p.dense_count))
        return flag


FIELDS = ("prompt", "output")
#: a row language still to settle: the field's dominant language if it has one, else the detected one
_OPEN = -2
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _key(hashes: np.ndarray, lang: np.ndarray) -> np.ndarray:
    """One 64-bit key per (text hash, language): what the work and the vocabulary counts are done per."""
    return hashes.astype(np.uint64) ^ ((np.asarray(lang).astype(np.int64) + 3).astype(np.uint64) * _GOLDEN)


def _spellable(langs: tuple[str, ...]) -> np.ndarray:
    """Per language position (and a trailing -1): has a bundled dictionary."""
    return np.array([c in _lang.SPELL_LANGUAGES for c in langs] + [False])


def _settle(top: np.ndarray, dominant: int, spellable: np.ndarray) -> np.ndarray:
    """Spell-check language of texts waiting for the dataset: its dominant one, else their detected one."""
    lang = np.full(len(top), dominant, dtype=np.int64) if dominant >= 0 else top.astype(np.int64)
    lang[~spellable[lang]] = -1  # -1 indexes the trailing False
    return lang


@dataclass
class _Scanned:
    """Checked words and dictionary misses of distinct (text, language) keys; ``miss_key`` indexes ``key``."""

    key: np.ndarray
    lang: np.ndarray
    checked: np.ndarray
    miss_key: np.ndarray
    miss_word: np.ndarray


@dataclass
class _FieldState:
    """One field's share of the typos state (per row: hash, language, detected language; per key: counts)."""

    hash: np.ndarray
    lang: np.ndarray
    top: np.ndarray
    counts: np.ndarray
    key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    key_lang: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    checked: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    miss_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    miss_word: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    open_hash: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    open_top: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    open_text: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    open_context: pa.Array | None = None

    def add_scanned(self, s: _Scanned) -> None:
        offset = len(self.key)
        self.key = np.concatenate([self.key, s.key])
        self.key_lang = np.concatenate([self.key_lang, s.lang.astype(np.int16)])
        self.checked = np.concatenate([self.checked, s.checked])
        self.miss_key = np.concatenate([self.miss_key, s.miss_key + offset])
        self.miss_word = np.concatenate([self.miss_word, s.miss_word])

    @classmethod
    def merged(cls, parts: list[_FieldState]) -> _FieldState:
        """Parts in input order; a key or a waiting text met in several parts is kept once (the first)."""
        out = cls(hash=np.concatenate([p.hash for p in parts]), lang=np.concatenate([p.lang for p in parts]),
                  top=np.concatenate([p.top for p in parts]), counts=np.sum([p.counts for p in parts], axis=0))
        keys = np.concatenate([p.key for p in parts])
        offsets = np.cumsum([0] + [len(p.key) for p in parts[:-1]])
        miss_key = np.concatenate([p.miss_key + o for p, o in zip(parts, offsets)])
        first = np.sort(np.unique(keys, return_index=True)[1])
        new_index = np.full(len(keys), -1, dtype=np.int64)
        new_index[first] = np.arange(len(first))
        kept = new_index[miss_key] >= 0
        out.add_scanned(_Scanned(keys[first], np.concatenate([p.key_lang for p in parts])[first],
                                 np.concatenate([p.checked for p in parts])[first], new_index[miss_key[kept]],
                                 np.concatenate([p.miss_word for p in parts])[kept]))
        open_hash = np.concatenate([p.open_hash for p in parts])
        if len(open_hash):
            first = np.sort(np.unique(open_hash, return_index=True)[1])
            out.open_hash = open_hash[first]
            out.open_top = np.concatenate([p.open_top for p in parts])[first]
            texts = [p.open_text for p in parts if len(p.open_text)]
            out.open_text = pa.chunked_array(texts, type=texts[0].type).combine_chunks().take(pa.array(first))
            ctx = [p.open_context for p in parts if len(p.open_text)]
            if all(c is not None for c in ctx):
                out.open_context = pa.chunked_array(ctx, type=pa.string()).combine_chunks().take(pa.array(first))
        return out


def _scan_keys(col: pa.Array, hashes: np.ndarray, lang: np.ndarray, mask: np.ndarray,
               langs: tuple[str, ...], top: np.ndarray, context: pa.Array | None = None) -> _Scanned:
    """Scan each distinct (text, language) of the ``mask`` rows once (``col``: the texts, one per row;
    ``top``: each row's detected language; ``context``: the prompts, whose words an answer may quote).
    A repeated text is judged with its first row's detected language and prompt."""
    rows = np.flatnonzero(mask)
    keys = _key(hashes[rows], lang[rows])
    _, first = np.unique(keys, return_index=True)
    pick = rows[first]
    names = np.asarray((*langs, None), dtype=object)
    codes = names[lang[pick]]
    alt = names[np.asarray(top, dtype=np.int64)[pick]]
    m = len(pick)
    checked = np.zeros(m, dtype=np.int64)
    bad_text, bad_word = [np.zeros(0, np.int64)], [np.zeros(0, dtype=object)]  # dictionary misses
    texts = col.take(pa.array(pick, pa.int64()))
    ctx = None if context is None else context.take(pa.array(pick, pa.int64()))
    for start in range(0, m, _CHUNK):
        stop = min(m, start + _CHUNK)
        chk, t_idx, words = _scan_chunk(texts.slice(start, stop - start), codes[start:stop])
        if len(words):
            keep = _not_excused(words, t_idx, alt[start:stop], codes[start:stop],
                                None if ctx is None else ctx.slice(start, stop - start))
            t_idx, words = t_idx[keep], words[keep]
        checked[start:stop] = chk
        bad_text.append(t_idx + start)
        bad_word.append(words)
    return _Scanned(keys[first], lang[pick].astype(np.int16), checked, np.concatenate(bad_text),
                    np.concatenate(bad_word))


# Text with no spelling to check: code, URLs, e-mails, template slots, markup.
_NOISE = r"(?s)```.*?(?:```|$)|`[^`\n]*`|(?m:^[^\n]*(?:\w\(|[={}]|;[ \t]*$)[^\n]*$)|https?://\S+|www\.\S+|\S+@\S+|\{\{[^}]*\}\}|<[^>\n]*>|\[[^\]\n]*\]\([^)\n]*\)"


def _scan_chunk(col: pa.Array, langs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked words per text, and the (text index, lower-case word) of every dictionary miss."""
    n = len(col)
    none = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    text = prefix(col)
    text = pc.replace_substring_regex(text, pattern=_NOISE, replacement=" ")
    lists = pc.utf8_split_whitespace(text)
    flat = pc.list_flatten(lists)
    if len(flat) == 0:
        return np.zeros(n, np.int64), *none
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    # token features are computed once per distinct raw token, then gathered
    enc = flat.dictionary_encode()
    ids = enc.indices.to_numpy(zero_copy_only=False)
    uniq = enc.dictionary

    def has(arr, pattern: str) -> np.ndarray:
        return pc.match_substring_regex(arr, pattern=pattern).to_numpy(zero_copy_only=False)

    core = pc.replace_substring_regex(uniq, pattern=r"^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$", replacement="")
    lower = pc.utf8_lower(core)
    lower_list = np.asarray(lower.to_pylist(), dtype=object)
    wordlike = has(core, r"^[\pL\pM]+(?:['’-][\pL\pM]+)*$")  # RE2: \w and \d are ASCII-only
    length = pc.utf8_length(core).to_numpy(zero_copy_only=False)
    single = length < 2
    wordlike = wordlike & (length <= MAX_WORD_CHARS)
    # capitalized (names, acronyms) or camelCase (code, brands): not checked
    cased = has(core, r"^\p{Lu}|\p{Ll}\p{Lu}")
    # ...except a sentence's first word of 4+ letters one edit from a known word ("Voous savez",
    # "Acccidents happen"): a typo there is as likely as anywhere (the near-miss and vocabulary
    # rules still excuse names that recur, and words no dictionary word is near)
    titled = has(core, r"^\p{Lu}\p{Ll}{3,}$")
    offsets = lists.offsets.to_numpy(zero_copy_only=False)
    starts = np.zeros(len(ids), dtype=bool)
    starts[offsets[:-1][offsets[:-1] < len(ids)]] = True
    ends_sentence = has(uniq, r"[.!?:]$")[ids]
    starts[1:] |= ends_sentence[:-1]
    textspeak = np.fromiter((w in TEXTSPEAK for w in lower_list), dtype=bool, count=len(lower_list))

    tok_ok = wordlike[ids]
    tok_lang = langs[parents]
    tok_ok &= tok_lang != None  # noqa: E711
    unknown = np.zeros(len(ids), dtype=bool)
    for lang in sorted({str(x) for x in langs if x is not None}):
        sel = tok_ok & (tok_lang == lang)
        if lang == "en":
            sel &= ~single[ids] | textspeak[ids]
        else:
            sel &= ~single[ids]
        tok_ok[(tok_lang == lang) & ~sel] = False
        if not sel.any():
            continue
        uids = _uniq(ids[sel])
        known = np.zeros(len(uniq), dtype=bool)
        known[uids] = _known(lower_list[uids], lang)
        if lang == "en":
            known[uids] &= ~textspeak[uids]
        # a capitalized word counts when it is a known word ("Regarde le koala"), never as a typo
        initial = cased[ids] & ~known[ids] & sel & starts & titled[ids]
        if initial.any():  # no near word: a name, neither checked nor a typo
            near = np.zeros(len(uniq), dtype=bool)
            cand = _uniq(ids[initial])
            near[cand] = [_is_near(w, lang) for w in lower_list[cand]]
            initial &= near[ids]
        skip = cased[ids] & ~known[ids] & sel & ~initial
        tok_ok[skip] = False
        sel &= ~skip
        unknown[sel] = ~known[ids[sel]]
    return np.bincount(parents[tok_ok], minlength=n), parents[unknown], lower_list[ids[unknown]]


def prefix(col: pa.Array) -> pa.Array:
    """The first :data:`MAX_CHARS` characters of each text; a text cut inside a word loses that word."""
    long = pc.greater(pc.utf8_length(col), MAX_CHARS)
    if not pc.any(long).as_py():
        return col
    cut = pc.utf8_slice_codeunits(col, 0, MAX_CHARS)
    # the character after the cut is not kept: a cut word is dropped unless the next character is a space
    nxt = pc.utf8_slice_codeunits(col, MAX_CHARS, MAX_CHARS + 1)
    inside = pc.and_(long, pc.invert(pc.utf8_is_space(nxt)))
    dropped = pc.replace_substring_regex(cut, pattern=r"\S+$", replacement="")
    return pc.if_else(inside, dropped, cut)


def _uniq(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort + mask: np.unique's hash path is far slower on ints in numpy 2.4)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


_WORDS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_PLAY = (r"(?i)anagram|scrambl|jumbl|pig latin|cipher|encrypt|encod|decod|palindrom|misspel|typo|"
         r"spell(?:ed|ing)? (?:out|backwards|correct|mistake|error)|backwards|revers|rhym|\bpuns?\b|play on words|"
         r"wordplay|made[- ]up word|nonsense word|invent(?:ed)? (?:a )?(?:new )?word|portmanteau|"
         r"\w-letter word|(?:remov|delet|drop|omit|swap|replac|shift|rotat|sort|rearrang|duplicat|repeat)"
         r"[^.?!\n]{0,40}(?:letter|character|vowel|consonant)s?")


def _letter_play(prompts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Prompts that ask for word play or letter surgery (anagrams, reversed or scrambled text, vowels
    removed, misspellings, puns, made-up words), whose answers hold non-words on purpose (vectorized)."""
    head = pc.utf8_slice_codeunits(pc.fill_null(text_array(prompts), ""), 0, 400)
    return pc.match_substring_regex(head, pattern=_PLAY).to_numpy(zero_copy_only=False)


_SPELLING_TASK = (r"(?i)spell|typo|orthograph|proofread|grammar|mistake|errors?\b|correct (?:the|this|it)|"
                  r"misspel")


def _spelling_task(prompts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Prompts that ask to find or fix spelling and grammar mistakes in the text they give (vectorized)."""
    head = pc.utf8_slice_codeunits(pc.fill_null(text_array(prompts), ""), 0, 400)
    return pc.match_substring_regex(head, pattern=_SPELLING_TASK).to_numpy(zero_copy_only=False)


def _not_excused(words: np.ndarray, t_idx: np.ndarray, alt: np.ndarray, codes: np.ndarray,
                 context: pa.Array | None) -> np.ndarray:
    """Per dictionary miss: does it count? Not if it is a word of the text's detected language (a short
    Spanish answer checked in the dataset's English: "Tengo tres perros"), nor if the prompt holds it
    (an answer quoting its input: "Misspelled words: swimmed", YAML keys, lorem ipsum)."""
    keep = np.ones(len(words), dtype=bool)
    for i, (w, t) in enumerate(zip(words, t_idx)):
        other = alt[t]
        if other is not None and other != codes[t] and other in _lang.SPELL_LANGUAGES and _is_known(w, other):
            keep[i] = False
    if context is not None and keep.any():
        texts = context.take(pa.array(np.unique(t_idx[keep]))).to_pylist()
        vocab = {t: set(_WORDS.findall((s or "")[:MAX_CHARS].lower()))
                 for t, s in zip(np.unique(t_idx[keep]).tolist(), texts)}
        for i in np.flatnonzero(keep):
            keep[i] = words[i] not in vocab[int(t_idx[i])]
    return keep


@lru_cache(maxsize=1 << 18)
def _is_near(word: str, lang: str) -> bool:
    if (lang == "en" and word in TEXTSPEAK) or _lang.near_known_word(word, lang):
        return True
    # an elided or hyphenated word ("j'aiime", "passsera-t-il"): one of its parts is the typo
    elision = _lang._ELISION.get(lang)
    if elision is not None and elision.match(word):
        rest = elision.sub("", word, count=1)
        return bool(rest) and _is_near(rest, lang)
    if lang == "en":  # a contraction's stem ("dno't", "yu're")
        for suffix in ("n't", "'s", "'ll", "'ve", "'re", "'d", "'m"):
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                return _lang.near_known_word(word[:-len(suffix)], lang)
    parts = [q for q in re.split(r"[-'’]", word) if len(q) > 1]
    if len(parts) > 1:
        bad = [q for q in parts if not _lang.is_known_word(q, lang)]
        return len(bad) == 1 and _lang.near_known_word(bad[0], lang)
    return False


@lru_cache(maxsize=1 << 18)
def _is_known(word: str, lang: str) -> bool:
    return _lang.is_known_word(word, lang)


def _near_miss(words: np.ndarray, langs: np.ndarray, word_id: np.ndarray) -> np.ndarray:
    """Per dictionary miss: is it one edit from a dictionary word (or English text-speak)? Memoized per word
    process-wide (bounded: a dataset's vocabulary repeats, a long tail of names does not)."""
    return np.fromiter((_is_near(w, lang) for w, lang in zip(words[word_id], langs)), dtype=bool,
                       count=len(word_id))


def _known(words: np.ndarray, lang: str) -> np.ndarray:
    """Dictionary membership of each word, memoized per (word, language) process-wide (bounded)."""
    return np.fromiter((_is_known(w, lang) for w in words), dtype=bool, count=len(words))
