"""Language helpers shared by ``wrong_language``, ``typos`` and ``truncated_output``.

* the ``lang_prompt`` / ``lang_output`` features (:func:`detection` reads them back) and
  ``lang_requested``: what every check reading languages ``needs``, computed once per batch.
* :func:`detect` -- language identification of a text column, once per distinct text, with a
  bounded process-wide memo keyed by text hash (1M-row datasets repeat a lot). It runs py3langid's
  packaged naive-Bayes model, restricted to :data:`LANGUAGES`, but walks the
  model's byte automaton for a whole batch of texts at once with numpy instead
  of one Python loop per byte: same probabilities as
  ``py3langid.LanguageIdentifier(norm_probs=True).rank`` (tested), 3-7x faster per text
  (~6 us vs 21-48 us here).
* :func:`requested_language` -- the answer language a prompt asks for
  ("Translate to French:", "en français", "auf Deutsch", "French:" at the end).
* :func:`word_counts` -- how much linguistic evidence a text holds (words that are not names).
* :func:`spell_dictionary`, :func:`is_known_word`, :func:`near_known_word`, :func:`is_word_prefix`
  -- pyspellchecker's bundled word lists, with the few rules they need (elisions, inflections).

Languages are handled as positions in a tuple of ISO 639-1 codes (:func:`code_index`) so that
no per-row Python runs on million-row columns.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MissingDependencyError
from .base import string_bytes, text_array
from .features import feature

#: Candidate languages for detection (ISO 639-1). A fixed, common set: a larger
#: set makes short Latin-script texts easier to confuse (Tatoeba French misread as
#: Italian), a set sampled from the data would make results depend on the sample.
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt", "nl", "ru",
                              "pl", "tr", "sv", "zh", "ja", "ko", "ar", "hi")

#: Languages pyspellchecker ships a dictionary for.
SPELL_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt", "nl", "ru")

#: Only the first characters are used for detection: plenty of evidence, bounded cost and memo size.
MAX_DETECT_CHARS = 400

# Language names as prompts write them (English, native, French, German, Spanish), accents stripped.
_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("english", "anglais", "englisch", "ingles", "inglese"),
    "fr": ("french", "francais", "franzosisch", "frances", "francese", "franzoesisch"),
    "de": ("german", "deutsch", "allemand", "aleman", "tedesco", "alemao"),
    "es": ("spanish", "espanol", "espagnol", "spanisch", "spagnolo", "castellano", "espanhol"),
    "it": ("italian", "italiano", "italien", "italienisch"),
    "pt": ("portuguese", "portugues", "portugais", "portugiesisch", "portoghese"),
    "nl": ("dutch", "nederlands", "neerlandais", "niederlandisch", "hollandais"),
    "ru": ("russian", "russe", "russisch", "ruso", "russo", "русский", "по-русски"),
    "pl": ("polish", "polski", "polonais", "polnisch", "polaco"),
    "tr": ("turkish", "turkce", "turc", "turkisch", "turco"),
    "sv": ("swedish", "svenska", "suedois", "schwedisch", "sueco"),
    "zh": ("chinese", "mandarin", "chinois", "chinesisch", "chino", "中文", "汉语", "漢語"),
    "ja": ("japanese", "japonais", "japanisch", "japones", "日本語"),
    "ko": ("korean", "coreen", "koreanisch", "coreano", "한국어"),
    "ar": ("arabic", "arabe", "arabisch", "العربية"),
    "hi": ("hindi", "हिन्दी", "हिंदी"),
}
NAME_TO_CODE: dict[str, str] = {name: code for code, names in _NAMES.items() for name in names}


def _fold(s: str) -> str:
    """Lower case without accents (prompts write "francais" as often as "français")."""
    return "".join(c for c in unicodedata.normalize("NFKD", s.lower()) if not unicodedata.combining(c))


# Accent-insensitive alternation of every name: each accented letter also matches its bare form.
def _name_pattern() -> str:
    accents = {"a": "aàáâãä", "e": "eéèêë", "i": "iíîï", "o": "oóôõö", "u": "uúûü", "c": "cç", "n": "nñ"}
    alts = []
    for name in sorted(NAME_TO_CODE, key=len, reverse=True):
        alts.append("".join(f"[{accents[ch]}]" if ch in accents else re.escape(ch) for ch in name))
    return "(?:" + "|".join(alts) + ")"


_LANG = _name_pattern()
_TRANSLATE = r"(?:translat[\pL]*|tradu[iczs][\pL]*|[üu]e?bersetz[\pL]*|traducci[\pL]*)"
#: Ordered by strength: the first pattern that matches a prompt decides.
# a label the answer completes: "English: Hello\nFrench:" (matched against the whole prompt)
_LABEL = rf"(?i)(?:^|[^\pL\pN_])(?P<lang>{_LANG})\s*(?:translation)?\s*:\s*$"
_WHOLE_PROMPT = (_LABEL,)
# RE2's \b and \w are ASCII-only ("écris", "русский"): word edges are spelled out and consume one
# character, so two edges never meet (the verb/translate stems end greedily instead)
_B = r"(?:^|[^\pL\pN_])"
_E = r"(?:[^\pL\pN_]|$)"
REQUEST_PATTERNS: tuple[str, ...] = (
    # "Translate (from English) to/into French", "traduis en français", "übersetze ins Deutsche"
    rf"(?i){_TRANSLATE}[^\n]{{0,80}}?{_B}(?:to|into|in|en|vers|ins|auf|al|a|para|em)\s+(?:the\s+|l'|le\s+)?"
    rf"(?P<lang>{_LANG})",
    # an answer-language directive: "Answer in French", "réponds en français", "antworte auf Deutsch"
    rf"(?i){_B}(?:answer|respond|reply|write|rewrite|say it|speak|response|output|explain|summari[sz]e|"
    rf"r[ée]pon[\pL]*|[ée]cri[\pL]*|antwort[\pL]*|schreib[\pL]*|respond[\pL]*|escrib[\pL]*)[^.?!\n]{{0,40}}?"
    rf"{_B}(?:in|en|auf|em)\s+(?P<lang>{_LANG}){_E}",
    # "en français", "auf Deutsch", "in English please" standing on their own at the start or end
    rf"(?i)(?:^|[.:!?\n]\s*)(?:in|en|auf|em)\s+(?P<lang>{_LANG})\s*[.:!?]?\s*"
    rf"(?:please|svp|s'il (?:te|vous) pla[iî]t|bitte)?\s*[.!]?\s*$",
    rf"(?i)^\s*(?:in|en|auf|em)\s+(?P<lang>{_LANG}){_E}",
    _LABEL,
    # terse "translate french hello", "French translation of ..."
    rf"(?i){_TRANSLATE}\s+(?P<lang>{_LANG}){_E}",
    rf"(?i){_B}(?P<lang>{_LANG})\s+translation{_E}",
)
_ANY_NAME = rf"(?i){_LANG}"


def requested_language(prompts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """ISO 639-1 code of the answer language each prompt asks for, or null (vectorized, once per distinct prompt)."""
    text = text_array(prompts)
    if len(text) == 0:
        return pa.array([], pa.string())
    enc = text.dictionary_encode()
    whole = enc.dictionary
    # the instruction: up to the first line break or ": ". A passage after it may well say
    # "translator ... in Spanish"; only the trailing-label pattern looks at the whole prompt.
    head = pc.struct_field(pc.extract_regex(whole, r"^(?P<head>(?:[^:\n]|:\S)*)"), "head")
    # distinct prompts often share their instruction ("Translate to French: <sentence>"): the head
    # patterns run once per distinct head, not once per prompt
    head_enc = pc.dictionary_encode(pc.fill_null(head, ""))
    head_of, heads = head_enc.indices.to_numpy(zero_copy_only=False), head_enc.dictionary
    codes = np.full(len(whole), None, dtype=object)
    # most prompts name no language: run the real patterns only where one is named
    todo = np.flatnonzero(pc.match_substring_regex(whole, _ANY_NAME).to_numpy(zero_copy_only=False))
    for pattern in REQUEST_PATTERNS:
        if not len(todo):
            break
        if pattern in _WHOLE_PROMPT:
            found = pc.struct_field(pc.extract_regex(whole.take(pa.array(todo)), pattern), "lang")
        else:
            # the distinct heads of the todo prompts, in order, and each prompt's position among them
            # (a mask, not np.unique: no sort of every prompt once per pattern)
            wanted = np.zeros(len(heads), dtype=bool)
            wanted[head_of[todo]] = True
            uh = np.flatnonzero(wanted)
            inv = (np.cumsum(wanted) - 1)[head_of[todo]]
            on_heads = pc.struct_field(pc.extract_regex(heads.take(pa.array(uh)), pattern), "lang")
            found = on_heads.take(pa.array(inv))
        hit = found.is_valid().to_numpy(zero_copy_only=False)
        if hit.any():
            # few distinct spellings: fold each once, not once per prompt
            names = found.filter(pa.array(hit)).dictionary_encode()
            lookup = np.array([NAME_TO_CODE.get(_fold(n)) for n in names.dictionary.to_pylist()] + [None],
                              dtype=object)
            codes[todo[hit]] = lookup[names.indices.to_numpy(zero_copy_only=False)]
            todo = todo[~hit]
    return pa.array(codes, pa.string()).take(enc.indices)


def code_index(codes: pa.Array | pa.ChunkedArray | np.ndarray, langs: tuple[str, ...]) -> np.ndarray:
    """Position of each ISO code in ``langs``; -1 for null or a code not in ``langs`` (vectorized)."""
    arr = codes if isinstance(codes, (pa.Array, pa.ChunkedArray)) else pa.array(codes, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    enc = arr.dictionary_encode()
    table = np.array([langs.index(c) if c in langs else -1 for c in enc.dictionary.to_pylist()] + [-1])
    idx = enc.indices.fill_null(len(enc.dictionary)) if enc.indices.null_count else enc.indices
    return table[idx.to_numpy(zero_copy_only=False)].astype(np.int64)


# -- language identification --------------------------------------------------------------------

# What carries no language signal: code, URLs, e-mails, template slots, markup.
_NOISE = r"```.*?(?:```|$)|`[^`\n]*`|https?://\S+|www\.\S+|\S+@\S+|\{\{[^}]*\}\}|<[^>\n]{1,40}>"


def clean_for_detection(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Drop code, URLs, e-mails and markup, and cut to :data:`MAX_DETECT_CHARS` (vectorized)."""
    text = text_array(texts)
    text = pc.replace_substring_regex(text, pattern="(?s)" + _NOISE, replacement=" ")
    return pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(text), 0, MAX_DETECT_CHARS)


def word_counts(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Evidence for detection: words starting with a lower-case or uncased letter, plus each CJK character.

    Capitalized words are left out: names ("Jacques Louis David", "UC Berkeley") say little
    about the language a text is written in.
    """
    text = text_array(texts)
    out = np.zeros(len(text), dtype=np.int64)
    if not len(text):
        return out
    # most texts are ASCII: there the pattern is "a-z after a non-letter", counted on the bytes with numpy
    # (the regex took ~0.7 us per text); the others go through the regex
    ascii_ = pc.string_is_ascii(text).to_numpy(zero_copy_only=False)
    if ascii_.any():
        part = text.filter(pa.array(ascii_)) if not ascii_.all() else text
        out[ascii_] = _ascii_word_counts(part)
    if not ascii_.all():
        rest = text.filter(pa.array(~ascii_))
        # a leading space instead of "^": count_substring_regex restarts matching after each hit,
        # and "^" then matches again at every restart
        rest = pc.utf8_replace_slice(rest, start=0, stop=0, replacement=" ")
        out[~ascii_] = pc.count_substring_regex(rest, pattern=_EVIDENCE).to_numpy(zero_copy_only=False)
    return out


_EVIDENCE = r"[\p{Han}\p{Hiragana}\p{Katakana}]|[^\pL\pM][\p{Ll}\p{Lo}]"


def _ascii_word_counts(text: pa.Array, chunk: int = 8192) -> np.ndarray:
    """:data:`_EVIDENCE` matches in ASCII texts: small letters at a text's start or after a non-letter.
    Counting positions counts the regex's matches: two matches cannot overlap, as the small letter that
    ends one cannot be the non-letter that starts the next. A slice of texts at a time: byte masks stay small."""
    out = np.empty(len(text), dtype=np.int64)
    for lo in range(0, len(text), chunk):
        offsets, data = string_bytes(text.slice(lo, chunk))
        letter = (data >= 0x41) & (data <= 0x7A) & ((data <= 0x5A) | (data >= 0x61))
        starts = np.ones(len(data), dtype=bool)
        np.logical_not(letter[:-1], out=starts[1:])
        starts[offsets[:-1][offsets[:-1] < len(data)]] = True  # each text starts after a non-letter
        starts &= data >= 0x61
        starts &= data <= 0x7A
        out[lo:lo + chunk] = _per_text_count(starts, offsets)
    return out


def _per_text_count(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """True values of a byte mask per text (``offsets`` into it), with no integer array per byte."""
    out = np.zeros(len(offsets) - 1, dtype=np.int64)
    filled = offsets[1:] > offsets[:-1]
    if filled.any():
        # between two non-empty texts lie only empty ones: each segment is exactly one text's bytes
        out[filled] = np.add.reduceat(mask, offsets[:-1][filled], dtype=np.int64)
    return out


@lru_cache(maxsize=1)
def _raw_model():
    """py3langid's model as numpy arrays: (ptc, prior, classes, transitions, row bases, outputs)."""
    try:
        from py3langid.langid import MODEL_DIR, MODEL_FILE
        from py3langid.modelio import load_model
    except ImportError as exc:
        raise MissingDependencyError("py3langid", "Language identification (wrong_language, typos)") from exc
    source = MODEL_DIR / MODEL_FILE
    cached = _cached_model(source)
    if cached is not None:
        return cached
    ptc, prior, classes, nextmove, row, out = load_model(source)
    model = (np.asarray(ptc), np.asarray(prior, dtype=np.float32), list(classes),
             # state ids (~1e5) fit int32: the 9.8M-entry transition table is 37 MB, not 74 MB as int64
             np.frombuffer(nextmove, dtype=np.uint32 if nextmove.itemsize == 4 else np.uint16).astype(np.int32),
             np.frombuffer(row, dtype=np.uint16 if row.itemsize == 2 else np.uint32).astype(np.int64) << 8,
             np.asarray(out, dtype=np.int64))
    _store_model(source, model)
    return model


def _model_cache_path(source):
    """Where the decoded model of ``source`` is kept: named by the xxh3 of the packaged file's bytes, so a
    changed model (another py3langid) is decoded again, never read stale."""
    import xxhash

    from ..models.cache import cache_dir

    digest = xxhash.xxh3_64_hexdigest(source.read_bytes())
    return cache_dir("py3langid") / f"model-{digest}.npz"


def _cached_model(source):
    """The decoded model from the cache (decompressing the packaged .xz took ~0.5 s of every audit), or None."""
    try:
        path = _model_cache_path(source)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return (z["ptc"], z["prior"], [str(c) for c in z["classes"]], z["next"], z["rowbase"], z["out"])
    except (OSError, ValueError, KeyError):  # unreadable or partial cache: decode the packaged file
        return None


def _store_model(source, model) -> None:
    ptc, prior, classes, nxt, rowbase, out = model
    try:
        path = _model_cache_path(source)
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, ptc=ptc, prior=prior, classes=np.asarray(classes, dtype=str), next=nxt, rowbase=rowbase,
                     out=out)
        tmp.replace(path)  # atomic: a reader never sees half a file
    except OSError:  # a read-only cache only costs the decoding time
        pass


class Identifier:
    """py3langid's model restricted to ``langs``, scoring many texts at once."""

    #: texts per automaton walk (bounds the padded byte matrix to ~CHUNK x MAX_DETECT_CHARS*4 bytes)
    CHUNK = 4096

    def __init__(self, langs: tuple[str, ...]):
        ptc, prior, classes, self._next, self._rowbase, self._out = _raw_model()
        unknown = set(langs) - set(classes)
        if unknown:
            raise ValueError(f"py3langid does not know language(s) {sorted(unknown)}")
        wanted = set(langs)
        cols = [i for i, c in enumerate(classes) if c in wanted]
        self.langs = tuple(dict.fromkeys(langs))  # the caller's order: positions are shared across checks
        # model columns -> label; aliased columns (two models for one label, e.g. "sr") are summed
        # after normalization, as py3langid does
        self._col_label = np.array([self.langs.index(classes[i]) for i in cols])
        self._ptc = np.ascontiguousarray(ptc[:, cols], dtype=np.float32)
        self._ptcT = np.ascontiguousarray(self._ptc.T)  # one contiguous row per language
        self._prior = prior[cols]

    @staticmethod
    def _encode(text: str) -> bytes:
        # py3langid's input normalization
        if text.isupper():
            text = text.lower()
        return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")

    def probs(self, texts: list[str]) -> np.ndarray:
        """Probability of each language in ``self.langs`` for each text, shape (len(texts), len(langs))."""
        out = np.empty((len(texts), len(self.langs)), dtype=np.float32)
        for start in range(0, len(texts), self.CHUNK):  # encoded a chunk at a time: bounded memory
            out[start:start + self.CHUNK] = self._probs([self._encode(t) for t in texts[start:start + self.CHUNK]])
        return out

    def probs_of(self, texts: pa.Array) -> np.ndarray:
        """:meth:`probs` of a string array (no nulls): the same numbers, and ASCII texts never become Python
        strings (their encoding is their bytes)."""
        out = np.empty((len(texts), len(self.langs)), dtype=np.float32)
        for start in range(0, len(texts), self.CHUNK):
            out[start:start + self.CHUNK] = self._probs(self._encode_array(texts.slice(start, self.CHUNK)))
        return out

    @classmethod
    def _encode_array(cls, texts: pa.Array) -> pa.Array:
        """:meth:`_encode` of each text as a binary array: in Python only where it may change the bytes (a text
        that is not ASCII, or all capitals: NFC leaves ASCII as it is)."""
        offsets, data = string_bytes(texts)
        # str.isupper() of an ASCII text: a capital and no small letter
        slow = ~pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)
        slow |= ((_per_text_count((data >= 0x41) & (data <= 0x5A), offsets) > 0)
                 & (_per_text_count((data >= 0x61) & (data <= 0x7A), offsets) == 0))
        binary = texts.cast(pa.binary())
        if not slow.any():
            return binary
        at = np.flatnonzero(slow)
        redone = np.full(len(texts), None, dtype=object)
        redone[at] = [cls._encode(t) for t in texts.take(pa.array(at)).to_pylist()]
        return pc.coalesce(pa.array(redone, pa.binary()), binary)

    def _probs(self, encoded: list[bytes] | pa.Array) -> np.ndarray:
        n = len(encoded)
        if isinstance(encoded, pa.Array):
            lengths = np.diff(string_bytes(encoded)[0])
        else:
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        scores = np.zeros((n, self._ptc.shape[1]), dtype=np.float32)
        if n and lengths.max() > 0:
            text_idx, feat = self._walk(encoded, lengths)
            if len(feat):
                # count each (text, feature) pair; sorted keys group rows of one text together
                nfeat = self._ptc.shape[0]
                keys = text_idx * nfeat + feat
                if n * nfeat < 2 ** 31:  # 32-bit keys sort about twice as fast: the same pairs, the same counts
                    keys = keys.astype(np.int32)
                keys = np.sort(keys)
                first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
                counts = np.diff(np.r_[first, len(keys)])
                keys = keys[first]
                rows, feats = keys // nfeat, keys % nfeat
                weight = np.log1p(counts.astype(np.float32))
                # scores = W @ ptc with W the sparse (text x feature) weights: one pass over the pairs that
                # reads each feature's row of language weights contiguously (a bincount per language
                # gathered the same rows once per language: 3x slower on 100k prompts)
                from scipy.sparse import csr_matrix

                # the keys are sorted and distinct: (row, feature) pairs in CSR order already
                indptr = np.zeros(n + 1, dtype=np.int64)
                np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
                w = csr_matrix((weight, feats.astype(np.int32), indptr), shape=(n, nfeat))
                scores[:] = w @ self._ptc
                has = np.zeros(n, dtype=bool)
                has[rows] = True
                scores[has] += self._prior
                # temperature sqrt(bytes) keeps the softmax calibrated across lengths (py3langid)
                scores[has] *= (1.0 / np.sqrt(np.maximum(lengths[has], 1))).astype(np.float32)[:, None]
        # featureless texts keep all-zero scores: a uniform distribution (abstain)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        merged = np.zeros((n, len(self.langs)), dtype=np.float32)
        for col, label in enumerate(self._col_label):
            merged[:, label] += scores[:, col]
        return merged

    def _walk(self, encoded: list[bytes] | pa.Array, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the byte automaton over all texts in lock-step; return (text, feature) per emitted feature."""
        order = np.argsort(-lengths, kind="stable")  # longest first: active texts are always a prefix
        lens = lengths[order]
        maxlen = int(lens[0])
        if isinstance(encoded, pa.Array):
            flat = string_bytes(encoded.take(pa.array(order)))[1]
        else:
            flat = np.frombuffer(b"".join(encoded[i] for i in order), dtype=np.uint8)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        active = np.searchsorted(-lens, -np.arange(maxlen), side="left")  # texts longer than t
        state = np.zeros(len(order), dtype=np.int64)
        t_idx, f_idx = [], []
        for t in range(maxlen):
            k = int(active[t])
            s = self._next[self._rowbase[state[:k]] + flat[starts[:k] + t]]
            state[:k] = s
            f = self._out[s]
            hit = f >= 0
            t_idx.append(order[:k][hit])
            f_idx.append(f[hit])
        return np.concatenate(t_idx), np.concatenate(f_idx)


_IDENTIFIERS: dict[tuple[str, ...], Identifier] = {}
_MEMOS: dict[tuple[str, ...], _Memo] = {}
_LOCK = threading.Lock()

#: distinct texts the process-wide detection memo holds per language set (~80 bytes each: 84 MB at most);
#: when full it starts over (a memo only saves time: results never depend on it). Prompts and answers share
#: it: 1 << 18 overflowed on the 1M-row benchmark (~300k distinct prompts, ~150k answers), which then detected
#: most texts again; 1 << 20 costs the 200k templated rows (texts never repeat) ~26 MB of peak
MEMO_MAX_TEXTS = 1 << 20


def identifier(langs: tuple[str, ...] = LANGUAGES) -> Identifier:
    """A process-wide identifier for ``langs`` (the model loads once, ~0.7 s)."""
    with _LOCK:
        if langs not in _IDENTIFIERS:
            _IDENTIFIERS[langs] = Identifier(langs)
        return _IDENTIFIERS[langs]


def clear_memo() -> None:
    """Forget every memoized detection (benchmarks measure cold runs with it)."""
    with _LOCK:
        _MEMOS.clear()


class _Memo:
    """Detected probabilities per cleaned text, process-wide, keyed by the text's 64-bit ``hash``.

    Integer keys, not the texts: on 200k distinct 400-character texts the strings themselves held
    ~200 MB. ``hash`` is stable within a process (the memo's lifetime); two of a million texts clash
    with probability ~3e-8. Bounded: past ``limit`` texts it starts over."""

    def __init__(self, width: int, limit: int | None = None):
        self.limit = MEMO_MAX_TEXTS if limit is None else limit
        self.keys = np.zeros(0, dtype=np.int64)  # sorted
        self.slots = np.zeros(0, dtype=np.int64)
        self.probs = np.empty((1024, width), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.keys)

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, probabilities of the found keys), copied out: a later ``add`` may start over."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=bool), np.empty((0, self.probs.shape[1]), dtype=np.float32)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[pos] == keys
        return found, self.probs[self.slots[pos[found]]]

    def add(self, keys: np.ndarray, probs: np.ndarray) -> None:
        """Memoize distinct, sorted ``keys`` (none memoized yet) with their probabilities."""
        if len(keys) > self.limit:
            return
        n0 = len(self.keys)
        if n0 + len(keys) > self.limit:  # start over rather than grow without bound
            n0, self.keys, self.slots = 0, self.keys[:0], self.slots[:0]
        need = n0 + len(keys)
        if need > len(self.probs):
            grown = np.empty((min(max(need, 2 * len(self.probs)), self.limit), self.probs.shape[1]),
                             dtype=np.float32)
            grown[:n0] = self.probs[:n0]
            self.probs = grown
        self.probs[n0:need] = probs
        # a merge into the sorted keys (one pass), not a re-sort of the whole memo per call
        pos = np.searchsorted(self.keys, keys)
        self.keys = np.insert(self.keys, pos, keys)
        self.slots = np.insert(self.slots, pos, np.arange(n0, need, dtype=np.int64))


def _memo(langs: tuple[str, ...]) -> _Memo:
    with _LOCK:
        if langs not in _MEMOS:
            _MEMOS[langs] = _Memo(len(langs))
        return _MEMOS[langs]


def _text_hashes(texts: pa.Array, chunk: int = 1 << 16) -> np.ndarray:
    """``hash`` of each text, a slice at a time (no Python string for every text at once)."""
    out = np.empty(len(texts), dtype=np.int64)
    for lo in range(0, len(texts), chunk):
        part = texts.slice(lo, chunk).to_pylist()
        out[lo:lo + len(part)] = np.fromiter(map(hash, part), dtype=np.int64, count=len(part))
    return out


@dataclass
class Detection:
    """Per-row language probabilities, stored once per distinct text.

    ``probs[index[i]]`` is row i's distribution over ``langs``; ``words[i]`` its evidence (letter words).
    """

    langs: tuple[str, ...]
    index: np.ndarray
    probs: np.ndarray
    words: np.ndarray

    def top_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``langs``, probability) of the most likely language per row; -1 without letters."""
        best = self.probs.argmax(axis=1)
        conf = self.probs[np.arange(len(best)), best][self.index]
        best = best[self.index].astype(np.int64)
        best[self.words == 0] = -1
        return best, conf

    def top(self) -> tuple[np.ndarray, np.ndarray]:
        """(code, probability) of the most likely language per row; code None where a text has no letters."""
        best, conf = self.top_index()
        return np.asarray((*self.langs, None), dtype=object)[best], conf

    def prob_of(self, col: np.ndarray) -> np.ndarray:
        """Probability of language ``langs[col[i]]`` for row i (NaN where ``col`` is -1)."""
        out = np.full(len(col), np.nan, dtype=np.float32)
        ok = col >= 0
        out[ok] = self.probs[self.index[ok], col[ok]]
        return out

    def best_other(self, col: np.ndarray) -> np.ndarray:
        """Highest probability among languages other than ``langs[col[i]]`` for row i (NaN where -1)."""
        out = np.full(len(col), np.nan, dtype=np.float32)
        ok = np.flatnonzero(col >= 0)
        probs = self.probs[self.index[ok]]
        probs[np.arange(len(ok)), col[ok]] = -1.0  # fancy indexing above made a copy
        if len(ok):
            out[ok] = probs.max(axis=1)
        return out

    def to_arrow(self) -> pa.StructArray:
        """The feature column: per row ``probs`` (one float per language of ``langs``) and ``words``."""
        flat = pa.array(self.probs[self.index].reshape(-1), pa.float32())
        return pa.StructArray.from_arrays(
            [pa.FixedSizeListArray.from_arrays(flat, len(self.langs)), pa.array(self.words, pa.int32())],
            names=["probs", "words"])

    @classmethod
    def from_arrow(cls, column: pa.Array | pa.ChunkedArray, langs: tuple[str, ...]) -> Detection:
        """A :meth:`to_arrow` column (e.g. the ``lang_output`` feature of a batch) as a Detection, one row each."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        n = len(column)
        probs = pc.struct_field(column, "probs").flatten().to_numpy(zero_copy_only=False)
        words = pc.struct_field(column, "words").to_numpy(zero_copy_only=False).astype(np.int64)
        return cls(langs=langs, index=np.arange(n, dtype=np.int64),
                   probs=np.asarray(probs, dtype=np.float32).reshape(n, len(langs)), words=words)


def detect(texts: pa.Array | pa.ChunkedArray, langs: tuple[str, ...] = LANGUAGES) -> Detection:
    """Detect the language of every text; each distinct cleaned text is scored once (process-wide memo)."""
    raw = text_array(texts)
    enc = raw.dictionary_encode()
    codes = enc.indices.to_numpy(zero_copy_only=False)
    cleaned = clean_for_detection(enc.dictionary)  # per distinct text, not per row
    n_u = len(cleaned)
    words_u = word_counts(cleaned) if n_u else np.zeros(0, dtype=np.int64)
    ident = identifier(langs)
    memo = _memo(langs)
    keys = _text_hashes(cleaned)
    # distinct raw texts can clean to the same text: score each cleaned text once
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    probs = np.empty((len(uniq), len(ident.langs)), dtype=np.float32)
    with _LOCK:
        found, known = memo.get(uniq)
    probs[found] = known
    todo = np.flatnonzero(~found)
    if len(todo):
        src = first[todo]
        for lo in range(0, len(todo), ident.CHUNK):  # one chunk at a time: bounded memory
            part = src[lo:lo + ident.CHUNK]
            probs[todo[lo:lo + ident.CHUNK]] = ident.probs_of(cleaned.take(pa.array(part)))
        with _LOCK:
            memo.add(uniq[todo], probs[todo])
    return Detection(langs=ident.langs, index=inverse.reshape(-1).astype(np.int64)[codes], probs=probs,
                     words=words_u[codes] if n_u else np.zeros(0, dtype=np.int64))


def detection_languages(config: Any = None) -> tuple[str, ...]:
    """The languages the ``lang_*`` features tell apart: :data:`LANGUAGES`, plus ``config.expected_language``
    when it is another language py3langid knows (an answer cannot be found wrong in a language the
    detector cannot name)."""
    forced = getattr(config, "expected_language", None)
    return LANGUAGES if forced in (None, *LANGUAGES) else (*LANGUAGES, forced)


def _detect_feature(field: str):
    def compute(batch: pa.Table, config: Any) -> pa.Array:
        texts = batch[field] if field in batch.column_names else pa.nulls(batch.num_rows, pa.string())
        return detect(texts, detection_languages(config)).to_arrow()

    return compute


feature("lang_prompt", doc="language probabilities of the prompt (probs per detection_languages(), words: "
        "evidence)")(_detect_feature("prompt"))
feature("lang_output", doc="language probabilities of the answer (probs per detection_languages(), words: "
        "evidence)")(_detect_feature("output"))


@feature("lang_requested", doc="ISO 639-1 code of the answer language the prompt asks for (null: none)")
def _lang_requested(batch: pa.Table, config: Any) -> pa.Array:
    prompts = batch["prompt"] if "prompt" in batch.column_names else pa.nulls(batch.num_rows, pa.string())
    return requested_language(prompts)


def detection(batch: pa.Table, field: str, config: Any = None) -> Detection:
    """The ``lang_<field>`` feature of a batch as a :class:`Detection` (one row per batch row)."""
    return Detection.from_arrow(batch[f"lang_{field}"], detection_languages(config))


# -- spelling dictionaries ----------------------------------------------------------------------

@lru_cache(maxsize=None)
def spell_dictionary(lang: str) -> Mapping[str, int]:
    """pyspellchecker's bundled word list for ``lang`` (lower case -> frequency), loaded once per process.

    Loading costs 0.1-1 s per language (a gzipped JSON), so only languages actually met are loaded.
    Read-only by convention: it is shared by every check.
    """
    import gzip
    import pkgutil
    from collections import Counter

    import orjson

    try:
        import spellchecker  # noqa: F401  (the word lists are its package data)
    except ImportError as exc:
        raise MissingDependencyError("pyspellchecker", "The typos check") from exc
    raw = pkgutil.get_data("spellchecker", f"resources/{lang.lower()}.json.gz")
    if raw is None:
        raise ValueError(f"pyspellchecker has no word list for {lang!r}")
    # what SpellChecker(language=lang).word_frequency.dictionary holds (lower-cased keys, counts of words
    # that differ only in case summed; tested), parsed with orjson: the json module took ~1 s per list
    data = orjson.loads(gzip.decompress(raw))
    # the bundled lists are all lower case already: one lower() of the joined keys proves it (~20 ms)
    # where a lower() per key took 0.1-0.3 s per list (lower() changes a character whatever its
    # neighbours, except capital sigma, which it always changes)
    joined = "\n".join(data)
    if joined.lower() == joined:
        return Counter(data)
    lowered = Counter({key.lower(): val for key, val in data.items()})
    if len(lowered) != len(data):
        lowered = Counter()
        for key, val in data.items():
            lowered[key.lower()] += val
    return lowered


@lru_cache(maxsize=None)
def _sorted_words(lang: str) -> list[str]:
    return sorted(spell_dictionary(lang))


def is_word_prefix(word: str, lang: str) -> bool:
    """Whether some longer dictionary word of ``lang`` starts with ``word`` (a word cut short)."""
    import bisect

    words = _sorted_words(lang)
    i = bisect.bisect_right(words, word)
    return i < len(words) and words[i].startswith(word) and len(words[i]) > len(word)


#: letters tried for substitutions/insertions when looking for a word one edit away
_ALPHABETS = {
    "en": "abcdefghijklmnopqrstuvwxyz'",
    "fr": "abcdefghijklmnopqrstuvwxyzàâæçéèêëîïôœùûüÿ'",
    "de": "abcdefghijklmnopqrstuvwxyzäöüß",
    "es": "abcdefghijklmnopqrstuvwxyzáéíñóúü",
    "it": "abcdefghijklmnopqrstuvwxyzàèéìíòóù'",
    "pt": "abcdefghijklmnopqrstuvwxyzáâãàçéêíóôõú",
    "nl": "abcdefghijklmnopqrstuvwxyzëïéèö'",
    "ru": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
}


#: longest word the edit-distance search is run on (the longest bundled dictionary word has 46 letters)
MAX_NEAR_CHARS = 64


def near_known_word(word: str, lang: str) -> bool:
    """Whether a dictionary word is one edit (delete, swap, replace, insert) away: the shape of a typo.

    An unknown word with no near neighbour is more often a name, slang or a rare word than a typo.
    A word longer than :data:`MAX_NEAR_CHARS` has none (no dictionary word is that long), and is not
    searched: the search builds O(len(word)) candidates of O(len(word)) characters each.
    """
    if len(word) > MAX_NEAR_CHARS:
        return False
    words = spell_dictionary(lang)
    letters = _ALPHABETS.get(lang, "abcdefghijklmnopqrstuvwxyz")
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    for a, b in splits:
        if b and a + b[1:] in words:
            return True
        if len(b) > 1 and a + b[1] + b[0] + b[2:] in words:
            return True
    for a, b in splits:
        for c in letters:
            if (b and c != b[0] and a + c + b[1:] in words) or a + c + b in words:
                return True
    return False


# Elided articles/pronouns glued to the next word ("j'aime", "dell'arte"): checked without them.
_ELISION = {
    "fr": re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|presqu)['’]"),
    "it": re.compile(r"^(?:[cdlmnstv]|dell|all|dall|nell|sull|coll|quell|quest|un|sant|po)['’]"),
}
_PARTS = re.compile(r"[-'’]")
# Regular inflections the bundled French list lacks (passé simple 1sg, participle agreement,
# 2pl imperative): "trouvai" passes through "trouva", "marrées" through "marré", "saqué" through "saquer".
_INFLECTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "fr": (("ai", "a"), ("ées", "é"), ("ée", "é"), ("és", "é"), ("é", "er"), ("ée", "er"), ("és", "er"),
           ("ées", "er"), ("iez", "er"), ("ez", "er"), ("ons", "er")),
}


@lru_cache(maxsize=1 << 18)
def is_known_word(word: str, lang: str, _depth: int = 0) -> bool:
    """Whether a lower-case word is spelled right in ``lang``: itself, without elision, or all of its parts.

    Memoized per (word, language): the dictionaries are read-only, and words repeat across rows
    (``wrong_language`` asks about 300k words per 100k answers, a fraction of them distinct)."""
    words = spell_dictionary(lang)
    word = word.replace("’", "'")
    if word in words:
        return True
    if "œ" in word or "æ" in word:  # the French list spells "oeil", "soeur"
        return is_known_word(word.replace("œ", "oe").replace("æ", "ae"), lang, _depth + 1)
    elision = _ELISION.get(lang)
    if elision is not None and elision.match(word):
        rest = elision.sub("", word, count=1)
        return not rest or is_known_word(rest, lang, _depth + 1)
    for suffix, base in _INFLECTIONS.get(lang, ()):
        if word.endswith(suffix) and len(word) > len(suffix) + 2 and word[:-len(suffix)] + base in words:
            return True
    if lang == "en":
        for suffix in ("'s", "'ll", "'ve", "'re", "'d", "'m", "n't"):
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                return word[:-len(suffix)] in words
    if _depth < 2 and _PARTS.search(word):
        parts = [p for p in _PARTS.split(word) if len(p) > 1]
        return bool(parts) and all(is_known_word(p, lang, _depth + 1) for p in parts)
    return False


__all__ = [
    "LANGUAGES",
    "NAME_TO_CODE",
    "SPELL_LANGUAGES",
    "Detection",
    "Identifier",
    "clean_for_detection",
    "clear_memo",
    "code_index",
    "detect",
    "detection",
    "detection_languages",
    "identifier",
    "is_known_word",
    "is_word_prefix",
    "near_known_word",
    "requested_language",
    "spell_dictionary",
    "word_counts",
]
