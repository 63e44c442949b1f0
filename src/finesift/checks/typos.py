"""``typos``: misspelled words in the prompt or the answer, in that field's language.

Words are checked against pyspellchecker's bundled dictionaries (en, fr, de, es,
it, pt, nl, ru). A field's language is the detected one when detection is
confident, else (answers) the language the prompt asks for, else the field's
dominant language in the dataset -- which is why this check has dataset scope
(it still works through the table in chunks). Detection is shared with
``wrong_language`` (:mod:`finesift.checks._lang`).

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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _lang
from .base import Check, CheckParams, Context, Score, Threshold, decision, register

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
    """A dictionary miss found in at least this many distinct texts of the field is not counted (scoring knob)."""
    near_miss_only: bool = True
    """Count a dictionary miss only if a dictionary word is one edit away (scoring knob): names,
    slang and rare words rarely are, typos usually are."""


@register
class Typos(Check):
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
    Params = TyposParams

    def score(self, table: pa.Table, ctx: Context) -> pa.Table:
        requested = _lang.code_index(_lang.requested_language(table["prompt"]), _lang.LANGUAGES)
        out: dict[str, pa.Array] = {}
        for fld in ("prompt", "output"):
            langs = self._field_languages(table[fld], requested if fld == "output" else None, ctx)
            rate, count = self._misspellings(table[fld], langs, ctx)
            out[f"typos_{fld}_rate"] = pa.array(rate.astype(np.float32))
            out[f"typos_{fld}_count"] = pa.array(count.astype(np.int32))
        return pa.table({c: out[c] for c in self.score_columns})

    def _field_languages(self, texts, requested: np.ndarray | None, ctx: Context) -> np.ndarray:
        """Spell-check language per row, as a position in ``_lang.LANGUAGES`` (-1: none or no dictionary)."""
        p: TyposParams = self.params  # type: ignore[assignment]
        det = _lang.detect(texts, ctx)
        top, conf = det.top_index()
        sure = (conf >= p.confident) & (det.words >= p.confident_words) & (top >= 0)
        langs = top.copy()
        unsure = ~sure
        if sure.any():
            counts = np.bincount(top[sure])
            best = int(counts.argmax())
            if counts[best] >= p.min_dominant_share * sure.sum():
                langs[unsure] = best
        if requested is not None:
            asked = unsure & (requested >= 0)
            langs[asked] = requested[asked]
        spellable = np.array([c in _lang.SPELL_LANGUAGES for c in det.langs] + [False])
        langs[~spellable[langs]] = -1  # -1 indexes the trailing False
        return langs

    def _misspellings(self, texts, langs: np.ndarray, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """(rate, count) per row. Work is done once per distinct (text, language)."""
        col = pc.fill_null(texts, "")
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        n = len(col)
        if n == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        enc = col.dictionary_encode()
        width = len(_lang.LANGUAGES) + 1
        key = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64) * width + (langs + 1)
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        uniq_text = col.take(pa.array(first))
        uniq_lang = np.asarray((*_lang.LANGUAGES, None), dtype=object)[langs[first]]
        m = len(first)
        checked = np.zeros(m, dtype=np.int64)
        bad_text, bad_word = [], []  # dictionary misses: (distinct text, word)
        for start in range(0, m, _CHUNK):
            stop = min(m, start + _CHUNK)
            chk, t_idx, words = _scan_chunk(uniq_text.slice(start, stop - start), uniq_lang[start:stop], ctx)
            checked[start:stop] = chk
            bad_text.append(t_idx + start)
            bad_word.append(words)
        bad_text_a = np.concatenate(bad_text)
        bad_lang_a = uniq_lang[bad_text_a]
        bad_word_a = np.concatenate(bad_word) if bad_word else np.zeros(0, dtype=object)
        count = np.zeros(m, dtype=np.int64)
        if len(bad_text_a):
            # a "misspelling" that many distinct texts share is the dataset's vocabulary
            # (slang, conjugations the dictionary lacks); real typos are idiosyncratic
            words, word_id = np.unique(bad_word_a.astype(str), return_inverse=True)
            pairs = _uniq(bad_text_a * len(words) + word_id)
            df = np.bincount(pairs % len(words), minlength=len(words))
            keep = df[word_id] < self.params.vocabulary_min_texts  # type: ignore[attr-defined]
            if self.params.near_miss_only:  # type: ignore[attr-defined]
                keep &= _near_miss(words, bad_lang_a, word_id, ctx)
            count = np.bincount(bad_text_a[keep], minlength=m)
        rate = np.divide(count, checked, out=np.zeros(m), where=checked > 0)
        return rate[inverse], count[inverse]

    def decide(self, scores: pa.Table) -> np.ndarray:
        p: TyposParams = self.params  # type: ignore[assignment]
        flag = np.zeros(scores.num_rows, dtype=bool)
        for fld in ("prompt", "output"):
            rate = scores[f"typos_{fld}_rate"].to_numpy(zero_copy_only=False)
            count = scores[f"typos_{fld}_count"].to_numpy(zero_copy_only=False)
            flag |= (rate >= p.max_rate) & (count >= p.min_count)
        return flag


# Text with no spelling to check: code, URLs, e-mails, template slots, markup.
_NOISE = r"(?s)```.*?(?:```|$)|`[^`\n]*`|https?://\S+|www\.\S+|\S+@\S+|\{\{[^}]*\}\}|<[^>\n]*>|\[[^\]\n]*\]\([^)\n]*\)"


def _scan_chunk(col: pa.Array, langs: np.ndarray, ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        known[uids] = _known(lower_list[uids], lang, ctx)
        if lang == "en":
            known[uids] &= ~textspeak[uids]
        # a capitalized word counts when it is a known word ("Regarde le koala"), never as a typo
        skip = cased[ids] & ~known[ids] & sel
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


def _near_miss(words: np.ndarray, langs: np.ndarray, word_id: np.ndarray, ctx: Context) -> np.ndarray:
    """Per dictionary miss: is it one edit from a dictionary word (or English text-speak)? Memoized per word."""
    memo: dict[tuple[str, str], bool] = ctx.cached(("typos.near", "all"), dict) if ctx is not None else {}
    out = np.empty(len(word_id), dtype=bool)
    for i, (w, lang) in enumerate(zip(words[word_id], langs)):
        key = (lang, w)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = (lang == "en" and w in TEXTSPEAK) or _lang.near_known_word(w, lang)
        out[i] = hit
    return out


def _known(words: np.ndarray, lang: str, ctx: Context) -> np.ndarray:
    """Dictionary membership of each word, memoized per audit (a dataset's vocabulary repeats)."""
    memo: dict[str, bool] = ctx.cached(("typos.known", lang), dict) if ctx is not None else {}
    out = np.empty(len(words), dtype=bool)
    for i, w in enumerate(words):
        hit = memo.get(w)
        if hit is None:
            hit = memo[w] = _lang.is_known_word(w, lang)
        out[i] = hit
    return out
