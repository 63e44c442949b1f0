"""``typos``: misspelled words in the prompt or the answer, in that field's language.

Words are checked against pyspellchecker's bundled dictionaries (en, fr, de, it, pt, nl, ru; not
Spanish, whose list lacks nearly every plural and forms as common as "soy", "fue", "está": see
:data:`SPELL_CHECKED`). A field's language is the detected one when detection is
confident, else (answers) the language the prompt asks for, else the field's
dominant language in the dataset -- which is why this check has dataset scope.
Detection is the ``lang_prompt`` / ``lang_output`` features, shared with ``wrong_language`` and
``truncated_output`` (:mod:`finesift.checks._lang`).

State (``fit`` per batch): per row a hash of the text and its spell-check language, or "the field's
dominant language" where detection is not confident (and, for answers, the prompt asks for none);
confident detections per language; the checked words and dictionary misses of each distinct
(text, language) already settled (and, in texts with a miss, their rare dictionary words), and the
unsettled texts themselves (short ones, mostly). ``finalize`` picks each field's dominant language,
checks the unsettled texts in it, and counts a miss only if it is not the dataset's vocabulary (see
``vocabulary_min_texts``) and a dictionary word is one edit away.

What counts as misspelled, besides a word no dictionary lists:

* an apostrophe that is no contraction or elision ("woon't", "do't", "q'il"), an elision before a
  consonant ("n'tes", "l'rat"), a stray letter in a French compound ("Peux-u");
* a sentence's first word, capitalized, one edit from a known word ("Tey", "J'ame", "Dno't") --
  but not after a list marker ("1. Malala Yousafzai"), where names are as common as words;
* beside a counted misspelling, a rare dictionary word (under ``rare_ppm`` per million) with a word
  one edit away ``rare_ratio`` times as frequent: a typo that made another word ("feelign sad abut it",
  "Je me sus blessé à la jabe").

Not counted: numbers and anything with digits, URLs, e-mails, code (spans, and lines that read as
code: calls, assignments, ``import``/``def``/``for ...:`` lines, comments), domain endings (".com"),
placeholder Latin ("Lorem ipsum ..."), template slots, single letters (and in English two-letter
abbreviations and units, "hr", "mm", text-speak aside), unknown capitalized or camelCase words inside a sentence (names,
acronyms, brands); a word repeated in one text counts once (a term: "12 hr to 24 hr"); a word of
the text's detected language, or of a foreign phrase around it (the two words either side are
detected as another language with a dictionary, surely or with two of their words in it:
'Translate "Ce sera chaud" into English'); a word the prompt holds (an answer quoting it); prompts
that ask to fix spelling and answers to word play (anagrams, pig latin, homophones, prefixes), dialect
or slang. Regular variants of listed
words are words: British English ("organised", "colour"), French plurals and the 1990 spelling
without circumflex ("connait", "brulé"). A known capitalized word counts as a checked word. In
English, text-speak ("u", "ur", "pls") counts as misspelled even where the dictionary lists it.

Bounded cost per row, whatever the text: only the first :data:`MAX_CHARS` characters of a field
are checked (a word cut there is dropped), so a 5 MB answer costs what a 20,000-character one
does and its rate is that of its beginning; and a letter run longer than :data:`MAX_WORD_CHARS`
characters (a base64 blob, a hash, run-together or minified text: longer than any word of the
bundled dictionaries, the longest being 46) is no word at all: it is not checked, neither a
checked word nor a misspelling, like code and URLs -- and never reaches the edit-distance search,
whose cost grows with the square of a word's length. Every word-level rule (dictionary, edit
neighbours, frequencies) is memoized per distinct word, and runs on distinct texts only.

Scores, per field (``prompt``, ``output``):

* ``typos_<field>_rate`` (0..1, higher is worse): misspelled / checked words (0 when nothing was checked).
* ``typos_<field>_count`` (0..inf): distinct misspelled words.
* ``typos_<field>_sure`` (0..inf): those of at least ``sure_min_letters`` letters, in lower case, one edit
  from a word at least ``common_ppm`` per million frequent ("plsu" for "plus"): a short or capitalized
  unknown word is as often slang, an interjection, a name or a dictionary's gap ("fac", "hé", "Rome").

A row is flagged when, in either field, at least ``min_count`` (2) misspellings make a rate of at least
``max_rate``, or ``dense_count`` (2) a rate of at least ``dense_rate``, or ``sure_count`` (1) sure ones a
rate of at least ``sure_rate`` (0.2): one typo in a sentence of five words or fewer.

Measured (``.venv/bin/python benchmarks/bench_typos_mixed.py``, rows with 2-3 corrupted words among
6,000 clean Tatoeba rows): flagged 0.967 of answers and 0.967 of prompts on the tuning seed 7, 0.940
and 0.928 on the held-out seeds 11, 13, 17, 19 pooled (before: 0.87 and 0.77); clean Tatoeba rows
flagged 0.1-0.2% (``benchmarks/bench_clean_flags.py``); Alpaca's kept rows 0.09% on the tune split
(12 of 12,687; before: 37) and 0.11% on the check split (14 of 12,583; before: 39)
(``benchmarks/bench_alpaca.py --checks typos,wrong_language --split all``), several of them real typos
the volunteers left ("follwing", "scense", "vivd", "s'mored").
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

_TEXTSPEAK = pa.array(sorted(TEXTSPEAK), pa.string())  # the value set of one pc.is_in per chunk

_CHUNK = 65536  # rows tokenized at a time (bounded memory on 1M-row datasets)
#: characters of a field that are spell-checked (its beginning): bounds the work per row
MAX_CHARS = 20_000
#: longer letter runs are not words (no dictionary word is longer): never looked up
MAX_WORD_CHARS = 50


class TyposParams(CheckParams):
    max_rate: float = decision(0.3)
    """Flag a field whose misspelling rate is at least this (0.3: one word in three, not one in four)..."""
    min_count: int = decision(2)
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
    rare_ppm: float = 10.0
    """In a field with a counted misspelling, a dictionary word rarer than this (occurrences per million
    words of the dictionary's corpus)... (scoring knob)"""
    rare_ratio: float = 50.0
    """...with a word one edit away at least this many times more frequent counts as misspelled too: a typo
    that made another, rare word ("I am feelign sad abut it", "Je me sus blessé") (scoring knob)."""
    short_words: int = 25
    """Fields of at most this many checked words are short: only there do rare words beside a misspelling
    count, and sure misspellings get counted (longer fields need several misspellings anyway; bounded
    cost) (scoring knob)."""
    common_ppm: float = 10.0
    """A misspelling one edit from a word at least this frequent (per million) is a sure one ("plsu" for
    "plus", "quaand"): the ``typos_<field>_sure`` scores (scoring knob)."""
    sure_min_letters: int = 4
    """A sure misspelling has at least this many characters and is in lower case (scoring knob)."""
    sure_count: int = decision(1)
    """...or flag a field with at least this many sure misspellings..."""
    sure_rate: float = decision(0.2)
    """...at a rate of at least this."""


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
        "typos_prompt_sure": Score(
            "misspelled words in the prompt one edit from a common word (0..inf); higher is worse", 0,
            float("inf"), worse="higher"),
        "typos_output_sure": Score(
            "misspelled words in the answer one edit from a common word (0..inf); higher is worse", 0,
            float("inf"), worse="higher"),
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
            fs.add_scanned(_scan_keys(col, hashes, lang, lang >= 0, det.langs, top, context, p.rare_ppm,
                                      p.short_words))
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
                                          fs.open_context, p.rare_ppm, p.short_words))
            row_lang = fs.lang.astype(np.int64)
            waiting = row_lang == _OPEN
            row_lang[waiting] = _settle(fs.top[waiting], dominant, spellable)
            count = np.zeros(len(fs.key), dtype=np.int64)
            sure = np.zeros(len(fs.key), dtype=np.int64)
            if len(fs.miss_key):
                # a "misspelling" that many distinct texts share is the dataset's vocabulary
                # (slang, conjugations the dictionary lacks, a name); real typos are idiosyncratic
                n_miss = len(fs.miss_key)
                all_key = np.concatenate([fs.miss_key, fs.soft_key])
                words, word_id = np.unique(np.concatenate([fs.miss_word, fs.soft_word]).astype(str),
                                           return_inverse=True)
                word_id = word_id.reshape(-1)
                pairs = _uniq(all_key * len(words) + word_id)
                df = np.bincount(pairs % len(words), minlength=len(words))
                need = max(p.vocabulary_min_texts, min(int(np.ceil(p.vocabulary_share * len(fs.key))), 10))
                code_of = np.asarray((*langs, None), dtype=object)
                keep = df[word_id[:n_miss]] < need
                if p.near_miss_only:
                    keep &= _near_miss(words, code_of[fs.key_lang[fs.miss_key]], word_id[:n_miss])
                # distinct words: a word repeated in one text is its term ("12 hr to 24 hr"), not a typo
                count = _distinct_per_key(fs.miss_key[keep], word_id[:n_miss][keep], len(words), len(fs.key))
                # in a short field only (one typo in many words is one in many): one edit from a common
                # word; a name or a rare form is near rare words only. A short or capitalized one is as
                # often an interjection, slang or a name ("eh", "mec", "Rome")
                short = fs.checked <= p.short_words
                is_sure = keep & short[fs.miss_key] & ~fs.miss_cased
                is_sure &= pc.utf8_length(pa.array(words.tolist(), pa.string())).to_numpy(
                    zero_copy_only=False)[word_id[:n_miss]] >= p.sure_min_letters
                sure_words = np.zeros(len(words), dtype=bool)
                cand = _uniq(word_id[:n_miss][is_sure])
                miss_lang_of = np.full(len(words), None, dtype=object)
                miss_lang_of[word_id[:n_miss]] = code_of[fs.key_lang[fs.miss_key]]
                sure_words[cand] = [_neighbour_ppm(w, lang) >= p.common_ppm
                                    for w, lang in zip(words[cand], miss_lang_of[cand])]
                is_sure &= sure_words[word_id[:n_miss]]
                sure = _distinct_per_key(fs.miss_key[is_sure], word_id[:n_miss][is_sure], len(words), len(fs.key))
                # rare words count beside a counted misspelling in a short field: where one typo is,
                # others hide as rarer real words ("feelign sad abut it", "Je me sus blessé à la jabe")
                soft = (count[fs.soft_key] > 0) & (df[word_id[n_miss:]] < need) & short[fs.soft_key]
                if soft.any():
                    idx = np.flatnonzero(soft)
                    soft[idx] = _suspect(fs.soft_word[idx], code_of[fs.key_lang[fs.soft_key[idx]]],
                                         p.rare_ppm, p.rare_ratio)
                    count = count + _distinct_per_key(fs.soft_key[soft], word_id[n_miss:][soft], len(words),
                                                      len(fs.key))
            rate = np.divide(count, fs.checked, out=np.zeros(len(fs.key)), where=fs.checked > 0)
            # each row's (text, language): rows with no language to check have none and score 0
            rate_row, count_row = np.zeros(len(row_lang)), np.zeros(len(row_lang), dtype=np.int64)
            sure_row = np.zeros(len(row_lang), dtype=np.int64)
            if len(fs.key):
                order = np.argsort(fs.key)
                row_key = _key(fs.hash, row_lang)
                # a search in the sorted copy: with ``sorter`` each probe jumped around memory (2x slower)
                pos = order[np.minimum(np.searchsorted(fs.key[order], row_key), len(order) - 1)]
                hit = (row_lang >= 0) & (fs.key[pos] == row_key)
                rate_row[hit], count_row[hit], sure_row[hit] = rate[pos[hit]], count[pos[hit]], sure[pos[hit]]
            out[f"typos_{fld}_rate"] = rate_row.astype(np.float32)
            out[f"typos_{fld}_count"] = count_row.astype(np.int32)
            out[f"typos_{fld}_sure"] = sure_row.astype(np.int32)
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
            sure = scores[f"typos_{fld}_sure"].to_numpy(zero_copy_only=False)
            flag |= ((rate >= p.max_rate) & (count >= p.min_count)) | ((rate >= p.dense_rate) & (count >= p.dense_count))
            flag |= (rate >= p.sure_rate) & (sure >= p.sure_count)
        return flag


FIELDS = ("prompt", "output")
#: a row language still to settle: the field's dominant language if it has one, else the detected one
_OPEN = -2
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _key(hashes: np.ndarray, lang: np.ndarray) -> np.ndarray:
    """One 64-bit key per (text hash, language): what the work and the vocabulary counts are done per."""
    return hashes.astype(np.uint64) ^ ((np.asarray(lang).astype(np.int64) + 3).astype(np.uint64) * _GOLDEN)


#: languages whose bundled dictionary is complete enough to call a word misspelled: pyspellchecker's
#: Spanish list lacks nearly every plural and many of the commonest forms ("soy", "fue", "está",
#: "buenos", "días"), so a correct Spanish sentence reads as misspelled (its words still excuse a
#: Spanish phrase inside another language's text)
SPELL_CHECKED: tuple[str, ...] = tuple(c for c in _lang.SPELL_LANGUAGES if c != "es")


def _distinct_per_key(keys: np.ndarray, word_ids: np.ndarray, n_words: int, n_keys: int) -> np.ndarray:
    """Distinct words per key (``keys``: key index of each word occurrence, ``word_ids``: its word)."""
    pairs = _uniq(keys.astype(np.int64) * n_words + word_ids)
    return np.bincount(pairs // max(n_words, 1), minlength=n_keys)


def _spellable(langs: tuple[str, ...]) -> np.ndarray:
    """Per language position (and a trailing -1): is its spelling checked (:data:`SPELL_CHECKED`)?"""
    return np.array([c in SPELL_CHECKED for c in langs] + [False])


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
    #: per miss: capitalized in the text (a sentence's first word: a name as often as a typo)
    miss_cased: np.ndarray
    #: rare dictionary words of texts with a dictionary miss: they count only beside a counted misspelling
    soft_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    soft_word: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))


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
    miss_cased: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    soft_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    soft_word: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
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
        self.miss_cased = np.concatenate([self.miss_cased, s.miss_cased])
        self.soft_key = np.concatenate([self.soft_key, s.soft_key + offset])
        self.soft_word = np.concatenate([self.soft_word, s.soft_word])

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
        soft_key = np.concatenate([p.soft_key + o for p, o in zip(parts, offsets)])
        soft_kept = new_index[soft_key] >= 0
        out.add_scanned(_Scanned(keys[first], np.concatenate([p.key_lang for p in parts])[first],
                                 np.concatenate([p.checked for p in parts])[first], new_index[miss_key[kept]],
                                 np.concatenate([p.miss_word for p in parts])[kept],
                                 np.concatenate([p.miss_cased for p in parts])[kept],
                                 new_index[soft_key[soft_kept]],
                                 np.concatenate([p.soft_word for p in parts])[soft_kept]))
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
               langs: tuple[str, ...], top: np.ndarray, context: pa.Array | None = None,
               rare_ppm: float = 10.0, short_words: int = 25) -> _Scanned:
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
    bad_text, bad_word, bad_cased = [np.zeros(0, np.int64)], [np.zeros(0, dtype=object)], [np.zeros(0, bool)]
    soft_text, soft_word = [np.zeros(0, np.int64)], [np.zeros(0, dtype=object)]  # rare words beside them
    texts = col.take(pa.array(pick, pa.int64()))
    ctx = None if context is None else context.take(pa.array(pick, pa.int64()))
    for start in range(0, m, _CHUNK):
        stop = min(m, start + _CHUNK)
        chk, (t_idx, words, t_win, t_cased), (s_idx, s_words, s_win, _) = _scan_chunk(
            texts.slice(start, stop - start), codes[start:stop], rare_ppm, short_words)
        part_ctx = None if ctx is None else ctx.slice(start, stop - start)
        if len(words):
            keep = _not_excused(words, t_idx, alt[start:stop], codes[start:stop], part_ctx, t_win)
            t_idx, words, t_cased = t_idx[keep], words[keep], t_cased[keep]
        near = np.isin(s_idx, t_idx)  # a rare word counts only beside a misspelling
        s_idx, s_words, s_win = s_idx[near], s_words[near], s_win[near]
        if len(s_words):
            keep = _not_excused(s_words, s_idx, alt[start:stop], codes[start:stop], part_ctx, s_win)
            s_idx, s_words = s_idx[keep], s_words[keep]
        checked[start:stop] = chk
        bad_text.append(t_idx + start)
        bad_word.append(words)
        bad_cased.append(t_cased)
        soft_text.append(s_idx + start)
        soft_word.append(s_words)
    return _Scanned(keys[first], lang[pick].astype(np.int16), checked, np.concatenate(bad_text),
                    np.concatenate(bad_word), np.concatenate(bad_cased), np.concatenate(soft_text),
                    np.concatenate(soft_word))


# Text with no spelling to check: code, URLs, e-mails, template slots, markup.
# Lines of code: a call, an assignment, braces, a trailing semicolon, or a line that starts like one
# ("import pandas as pd", "def f(x):", "# loop over nums", "@app.route"); domain endings (".com, .org");
# placeholder Latin ("Lorem ipsum dolor sit amet", to the end of the text).
_NOISE = (r"(?s)```.*?(?:```|$)|`[^`\n]*`|(?m:^[^\n]*(?:\w\(|[={}]|;[ \t]*$)[^\n]*$)|"
          r"(?m:^[ \t]*(?:import\s|from\s+\S+\s+import\s|def\s|class\s|return\b|#|//|@\w)[^\n]*$)|"
          r"(?m:^[ \t]*(?:for|if|elif|else|while|with|try|except|switch|case)\b[^\n]*:[ \t]*$)|"
          r"(?:^|\s)\.[\pL\pN]+|(?i:lorem ipsum.*)|"
          r"https?://\S+|www\.\S+|\S+@\S+|\{\{[^}]*\}\}|<[^>\n]*>|\[[^\]\n]*\]\([^)\n]*\)")


def _scan_chunk(col: pa.Array, langs: np.ndarray, rare_ppm: float = 10.0, short_words: int = 25) -> tuple[Any, ...]:
    """Checked words per text; the (text index, lower-case word, its words around, capitalized) of every
    dictionary miss; the same of every dictionary word rarer than ``rare_ppm`` per million in a text
    of at most ``short_words`` checked words with a miss."""
    n = len(col)
    nothing = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object), np.zeros(0, dtype=object), np.zeros(0, bool)
    text = prefix(col)
    text = pc.replace_substring_regex(text, pattern=_NOISE, replacement=" ")
    lists = pc.utf8_split_whitespace(text)
    flat = pc.list_flatten(lists)
    if len(flat) == 0:
        return np.zeros(n, np.int64), nothing, nothing
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
    # ...except a sentence's first word one edit from a known word ("Voous savez", "Dno't touch",
    # "J'ame", "Tey left"): a typo there is as likely as anywhere (the near-miss and vocabulary
    # rules still excuse names that recur, and words no dictionary word is near)
    titled = has(core, r"^\p{Lu}\p{Ll}*(?:['’-]\p{Ll}+)*$")
    offsets = lists.offsets.to_numpy(zero_copy_only=False)
    starts = np.zeros(len(ids), dtype=bool)
    starts[offsets[:-1][offsets[:-1] < len(ids)]] = True
    ends_sentence = has(uniq, r"[.!?:]$")[ids]
    starts[1:] |= ends_sentence[:-1]
    # a list item ("1. Barack Obama", "b) Pad Thai") starts with a name as often as with a word
    after_marker = np.zeros(len(ids), dtype=bool)
    after_marker[1:] = has(uniq, r"^(?:\d+|\pL)[.)]$")[ids][:-1]
    textspeak = pc.is_in(lower, value_set=_TEXTSPEAK).to_numpy(zero_copy_only=False)

    # languages as small ints per token: comparing an object array of codes per token and language
    # cost more than the dictionary lookups
    names = sorted({str(x) for x in set(langs.tolist()) if x is not None})
    text_lang = np.full(n, -1, dtype=np.int8)
    for i, lang in enumerate(names):
        text_lang[langs == lang] = i
    tok_lang = text_lang[parents]
    # per-token gathers of the distinct tokens' features, done once for every language
    cased_t, titled_t, single_t = cased[ids], titled[ids], single[ids]
    textspeak_t, short_t = textspeak[ids], length[ids] <= 2
    tok_ok = wordlike[ids]
    tok_ok &= tok_lang >= 0
    unknown = np.zeros(len(ids), dtype=bool)
    plain = np.zeros(len(ids), dtype=bool)
    rare = np.zeros(len(ids), dtype=bool)
    for code, lang in enumerate(names):
        in_lang = tok_lang == code
        sel = tok_ok & in_lang
        if lang == "en":
            sel &= ~single_t | textspeak_t
        else:
            sel &= ~single_t
        tok_ok[in_lang & ~sel] = False
        if not sel.any():
            continue
        uids = _present(ids[sel], len(uniq))
        known = np.zeros(len(uniq), dtype=bool)
        known[uids] = _known(lower_list[uids], lang)
        if lang == "en":
            known[uids] &= ~textspeak[uids]
        known_t = known[ids]
        # a capitalized word counts when it is a known word ("Regarde le koala"), never as a typo
        initial = cased_t & ~known_t & sel & starts & ~after_marker & titled_t
        if initial.any():  # no near word: a name, neither checked nor a typo
            near = np.zeros(len(uniq), dtype=bool)
            cand = _present(ids[initial], len(uniq))
            near[cand] = [_is_near(w, lang) for w in lower_list[cand]]
            initial &= near[ids]
        skip = cased_t & ~known_t & sel & ~initial
        tok_ok[skip] = False
        sel &= ~skip
        unknown[sel] = ~known_t[sel]
        if lang == "en":  # two letters: an abbreviation or a unit ("hr", "mm", "pd") unless text-speak
            unknown &= ~(in_lang & short_t & ~textspeak_t)
        # dictionary words in lower case or first in a sentence (inside one, a capitalized word is a name)
        plain |= sel & known_t & (~cased_t | (starts & ~after_marker))
    checked = np.bincount(parents[tok_ok], minlength=n)
    # the rare ones of short texts with a miss: what a typo beside them makes suspect
    with_miss = np.zeros(n, dtype=bool)
    with_miss[parents[unknown]] = True
    plain &= (with_miss & (checked <= short_words))[parents]
    for code in np.unique(tok_lang[plain]).tolist():
        lang = names[code]
        sel = plain & (tok_lang == code)
        is_rare = np.zeros(len(uniq), dtype=bool)
        cand = _present(ids[sel], len(uniq))
        is_rare[cand] = _rare(lower_list[cand], lang, rare_ppm)
        rare |= sel & is_rare[ids]
    miss, soft = np.flatnonzero(unknown), np.flatnonzero(rare)
    if not len(miss):
        return checked, nothing, nothing
    # the words around each one (two either side, in its own text): a foreign phrase there
    # ("Translate 'Ce sera chaud' into English") is quoted, not misspelled

    def windows(at: np.ndarray) -> np.ndarray:
        if not len(at):
            return np.zeros(0, dtype=object)
        lo, hi = np.maximum(offsets[parents[at]], at - 2), np.minimum(offsets[parents[at] + 1], at + 3)
        sizes = hi - lo
        take = np.repeat(lo - np.cumsum(np.r_[0, sizes[:-1]]), sizes) + np.arange(sizes.sum())
        tokens = flat.take(pa.array(take)).to_pylist()
        ends = np.cumsum(sizes)
        return np.asarray([" ".join(tokens[e - k:e]) for e, k in zip(ends.tolist(), sizes.tolist())], dtype=object)

    return (checked,
            (parents[miss], lower_list[ids[miss]], windows(miss), cased[ids[miss]]),
            (parents[soft], lower_list[ids[soft]], windows(soft), cased[ids[soft]]))


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


def _present(ids: np.ndarray, n: int) -> np.ndarray:
    """Sorted distinct values of ``ids``, all in ``range(n)``: :func:`_uniq` without a sort (one pass)."""
    seen = np.zeros(n, dtype=bool)
    seen[ids] = True
    return np.flatnonzero(seen)


def _uniq(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort + mask: np.unique's hash path is far slower on ints in numpy 2.4)."""
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


_WORDS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_PLAY = (r"(?i)anagram|scrambl|jumbl|pig ?latin|homophon|syllabl|prefix|suffix|cipher|encrypt|encod|decod|palindrom|misspel|typo|"
         r"spell(?:ed|ing)? (?:out|backwards|correct|mistake|error)|backwards|revers|rhym|\bpuns?\b|play on words|"
         r"wordplay|made[- ]up word|nonsense word|invent(?:ed)? (?:a )?(?:new )?word|portmanteau|"
         # non-standard spelling on purpose: dialect, slang, a pirate's or Shakespeare's English
         r"dialect|slang|accent|pirate|shakespear|old english|middle english|phonetic|"
         r"(?:wrong|incorrect|bad) spelling|"
         r"\w-letter word|(?:remov|delet|drop|omit|swap|replac|shift|rotat|sort|rearrang|duplicat|repeat)"
         r"[^.?!\n]{0,40}(?:letter|character|vowel|consonant)s?")


def _letter_play(prompts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Prompts that ask for word play or letter surgery (anagrams, reversed or scrambled text, vowels
    removed, misspellings, puns, made-up words), whose answers hold non-words on purpose (vectorized)."""
    head = pc.utf8_slice_codeunits(pc.fill_null(text_array(prompts), ""), 0, 400)
    return pc.match_substring_regex(head, pattern=_PLAY).to_numpy(zero_copy_only=False)


_SPELLING_TASK = (r"(?i)spell|typo|orthograph|proofread|grammar|mistake|errors?\b|correct (?:the|this|it)|"
                  r"misspel|(?:proper|standard|correct|formal) english|\bfix\b")


def _spelling_task(prompts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Prompts that ask to find or fix spelling and grammar mistakes in the text they give (vectorized)."""
    head = pc.utf8_slice_codeunits(pc.fill_null(text_array(prompts), ""), 0, 400)
    return pc.match_substring_regex(head, pattern=_SPELLING_TASK).to_numpy(zero_copy_only=False)


def _not_excused(words: np.ndarray, t_idx: np.ndarray, alt: np.ndarray, codes: np.ndarray,
                 context: pa.Array | None, around: np.ndarray | None = None) -> np.ndarray:
    """Per dictionary miss: does it count? Not if it is a word of the text's detected language (a short
    Spanish answer checked in the dataset's English: "Tengo tres perros"), nor of a foreign phrase
    around it (``around``: the words either side; "Identify the language: Il est incroyable"), nor if
    the prompt holds it (an answer quoting its input: "Misspelled words: swimmed", YAML keys, lorem ipsum)."""
    keep = np.ones(len(words), dtype=bool)
    for i, (w, t) in enumerate(zip(words, t_idx)):
        other = alt[t]
        if other is not None and other != codes[t] and other in _lang.SPELL_LANGUAGES and _is_known(w, other):
            keep[i] = False
    if around is not None and keep.any():
        idx = np.flatnonzero(keep)
        found = _lang.detect(pa.array(around[idx].tolist(), pa.string()))
        top, conf = found.top_index()
        for i, tl, cf in zip(idx, top, conf):
            # the detector names one of the dictionaries' languages, sure of it (the Spanish list lacks
            # "días") or with two words of the phrase (this one too) words of it
            other = found.langs[tl] if tl >= 0 else None
            if other is None or other == codes[t_idx[i]] or other not in _lang.SPELL_LANGUAGES:
                continue  # typos make text look like anything ("Open yoru eyyes": Turkish)
            if cf >= 0.9 or (_is_known(words[i], other) and sum(
                    _is_known(x, other) for x in _WORDS.findall(around[i].lower())) >= 2):
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
        if rest and rest[0] not in _VOWELS.get(lang, rest[0]) and _is_known(rest, lang):
            return True  # elided before a consonant: a letter of the word went missing ("n'tes", "l'rat")
        return bool(rest) and _is_near(rest, lang)
    if elision is not None and "'" in word.replace("’", "'"):  # a mistyped elision: "q'il", "dl'eau"
        head, _, rest = word.replace("’", "'").partition("'")
        return (len(head) <= 6 and _is_known(rest, lang)
                and any(elision.fullmatch(e + "'") for e in _edits(head, lang) if e))
    if lang == "en":  # a contraction's stem ("dno't", "yu're")
        for suffix in ("n't", "'s", "'ll", "'ve", "'re", "'d", "'m"):
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                return _lang.near_known_word(word[:-len(suffix)], lang)
    parts = [q for q in re.split(r"[-'’]", word) if q]
    if len(parts) > 1:
        bad = [q for q in parts if (len(q) > 1 and not _is_known(q, lang))
               or (lang == "fr" and "-" in word and _stray_letter(q))]
        # one misspelled part: a word one edit from a word ("passsera-t-il"), or a stray letter ("Peux-u")
        return len(bad) == 1 and (len(bad[0]) == 1 or _lang.near_known_word(bad[0], lang))
    return False


#: British spellings of words the bundled (American) English list has ("organise", "colour", "centre",
#: "analyse", "travelling"): (British ending, American ending)
_BRITISH = (("isation", "ization"), ("isations", "izations"), ("ise", "ize"), ("ised", "ized"), ("ises", "izes"),
            ("ising", "izing"), ("iser", "izer"), ("isers", "izers"), ("our", "or"), ("ours", "ors"),
            ("oured", "ored"), ("ouring", "oring"), ("ourite", "orite"), ("ourites", "orites"), ("tre", "ter"),
            ("tres", "ters"), ("yse", "yze"), ("ysed", "yzed"), ("ysing", "yzing"), ("lled", "led"),
            ("lling", "ling"), ("ller", "ler"), ("ogue", "og"), ("ence", "ense"))


def _variant_known(word: str, lang: str) -> bool:
    """A regular spelling variant of a listed word: British English ("organised"); in French, a plural
    ("mecs") and the 1990 spelling without a circumflex on i and u ("connait", "brulé", "plait")."""
    words = _lang.spell_dictionary(lang)
    if lang == "en":
        return any(word.endswith(b) and len(word) > len(b) + 2 and word[:-len(b)] + a in words for b, a in _BRITISH)
    if lang == "fr":
        if word[-1:] in ("s", "x") and len(word) > 3 and _lang.is_known_word(word[:-1], lang):
            return True
        return any(c in "iu" and word[:i] + ("î" if c == "i" else "û") + word[i + 1:] in words
                   for i, c in enumerate(word))
    return False


@lru_cache(maxsize=1 << 18)
def _is_known(word: str, lang: str) -> bool:
    if not _lang.is_known_word(word, lang):
        return "'" not in word and "-" not in word and _variant_known(word, lang)
    if lang == "fr" and "-" in word and word not in _lang.spell_dictionary(lang) and any(
            _stray_letter(q) for q in word.split("-")):
        return False  # a stray letter is no French word part: "Peux-u", "reviens-u"
    if "'" not in word and "’" not in word:
        return True
    # an apostrophe is a contraction or an elision, not any split: "woon't", "do't", "q'il" are typos
    # although "woo", "do" and "il" are words
    word = word.replace("’", "'")
    if word in _lang.spell_dictionary(lang):
        return True
    if lang == "en":
        stem, _, suffix = word.rpartition("'")
        # "n't" forms are a closed set, all in the dictionary; a name or a noun takes "'s", "'ll", "'d"
        return "'" not in stem and suffix in {"s", "ll", "d", "re", "ve", "m"}
    elision = _lang._ELISION.get(lang)
    if elision is not None:
        m = elision.match(word)
        # elision happens before a vowel or a mute h only: "l'rat", "n'tes", "s'set" are typos
        return m is not None and (m.end() == len(word) or (word[m.end()] in _VOWELS.get(lang, "")
                                                           and _is_known(word[m.end():], lang)))
    return True


#: letters an elided word may start with ("l'arbre", "l'homme", "j'y", "dell'uomo")
_VOWELS = {"fr": "aeiouyhàâäéèêëîïôöùûüœæ", "it": "aeiouhàèéìíòóù"}
#: one-letter parts of a French hyphenated word besides one-letter words ("a-t-il", "vas-y")
_FR_LETTER_PARTS = frozenset("ty")


def _stray_letter(part: str) -> bool:
    """A one-letter part of a French hyphenated word that is neither a word nor the euphonic t."""
    return len(part) == 1 and part not in _FR_LETTER_PARTS and part not in _lang.spell_dictionary("fr")


def _edits(word: str, lang: str) -> set[str]:
    """Every string one edit (delete, swap of neighbours, replace, insert) from ``word``."""
    letters = _lang._ALPHABETS.get(lang, "abcdefghijklmnopqrstuvwxyz")
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    out |= {a + c + b for a, b in splits for c in letters}
    out.discard(word)
    return out


@lru_cache(maxsize=8)
def _per_million(lang: str) -> float:
    """Dictionary count of one occurrence per million words of its corpus."""
    return sum(_lang.spell_dictionary(lang).values()) / 1e6


def _parts(word: str, lang: str) -> list[str]:
    """The word a frequency speaks of: without its elision ("j'aime"); none for a compound ("non-profit",
    "one-liner": its parts are often rare prefixes) or a contraction."""
    word = word.replace("’", "'")
    elision = _lang._ELISION.get(lang)
    if elision is not None:
        word = elision.sub("", word, count=1)
    return [] if len(word) < 2 or "-" in word or "'" in word else [word]


@lru_cache(maxsize=1 << 18)
def _rare_word(word: str, lang: str, rare_ppm: float) -> bool:
    words = _lang.spell_dictionary(lang)
    limit = rare_ppm * _per_million(lang)
    return any(words.get(q, limit) < limit for q in _parts(word, lang))


def _rare(words: np.ndarray, lang: str, rare_ppm: float) -> np.ndarray:
    """Per dictionary word: is it (or a part of it) rarer than ``rare_ppm`` per million (memoized per word)?"""
    return np.fromiter((_rare_word(w, lang, rare_ppm) for w in words), dtype=bool, count=len(words))


@lru_cache(maxsize=1 << 16)
def _neighbour_ppm(word: str, lang: str) -> float:
    """Frequency (per million) of the most frequent dictionary word one edit from a misspelling, or from
    its misspelled part (an elided or hyphenated word, an English contraction's stem)."""
    words = _lang.spell_dictionary(lang)
    word = word.replace("’", "'")
    forms = [word]
    elision = _lang._ELISION.get(lang)
    if elision is not None and elision.match(word):
        forms.append(elision.sub("", word, count=1))
    forms += [q for q in re.split(r"[-']", word) if len(q) > 1 and not _is_known(q, lang)]
    best = max((words.get(e, 0) for f in forms if len(f) <= _lang.MAX_NEAR_CHARS for e in _edits(f, lang)),
               default=0)
    return best / _per_million(lang)


@lru_cache(maxsize=1 << 16)
def _far_more_common_neighbour(word: str, lang: str, rare_ppm: float, ratio: float) -> bool:
    """Whether a rare part of ``word`` has a dictionary word one edit away ``ratio`` times as frequent."""
    words = _lang.spell_dictionary(lang)
    limit = rare_ppm * _per_million(lang)
    for q in _parts(word, lang):
        f = words.get(q)
        if f is None or f >= limit or len(q) > _lang.MAX_NEAR_CHARS:
            continue
        if any(words.get(e, 0) >= ratio * f for e in _edits(q, lang)):
            return True
    return False


def _suspect(words: np.ndarray, langs: np.ndarray, rare_ppm: float, ratio: float) -> np.ndarray:
    """Per rare word beside a misspelling: does it count? Where a far more frequent word is one edit
    away: a typo that made a real word ("abut" for "about")."""
    return np.fromiter((_far_more_common_neighbour(w, lang, rare_ppm, ratio) for w, lang in zip(words, langs)),
                       dtype=bool, count=len(words))


def _near_miss(words: np.ndarray, langs: np.ndarray, word_id: np.ndarray) -> np.ndarray:
    """Per dictionary miss: is it one edit from a dictionary word (or English text-speak)? Memoized per word
    process-wide (bounded: a dataset's vocabulary repeats, a long tail of names does not)."""
    return np.fromiter((_is_near(w, lang) for w, lang in zip(words[word_id], langs)), dtype=bool,
                       count=len(word_id))


def _known(words: np.ndarray, lang: str) -> np.ndarray:
    """Dictionary membership of each word, memoized per (word, language) process-wide (bounded)."""
    return np.fromiter((_is_known(w, lang) for w in words), dtype=bool, count=len(words))
