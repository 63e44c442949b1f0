"""``truncated_output``: the answer was cut off mid-sentence or mid-word.

Evidence, each a probability-like strength combined as a noisy-OR
(``1 - prod(1 - s_i)``):

* ends on an opening bracket or quote (``Mes dents [``, ``print(``)          0.95
* an unterminated code fence (odd number of ```` ``` ````)                  0.9
* ends on a comma, colon, semicolon, dash or ``&`` (``Here are the steps:``) 0.8
* ends on a word that cannot end a sentence: an article, conjunction or
  preposition (``the``, ``and``, ``of``, ``le``, ``et``, ``der``, ``und``...) 0.8
* the last word is not a dictionary word but begins one (``the compu``)       0.6
* more brackets/quotes opened than closed                                    0.35
* ends on a letter where at least ``norm_share`` of the dataset's answers
  end with sentence punctuation                                              0.4
* ...and is much shorter than the answers to prompts of the same length
  (robust z-score of log length within a prompt-length bin)                  up to 0.6

Code and one- or two-word labels only take the bracket/fence evidence; lists and
tables (last line is a bullet, a "key: value" pair or any short line of a
multi-line answer) also the hanging comma/word evidence; answers ending on a
digit, symbol or emoji take no "ends on a letter" evidence. The punctuation norm
and the peer statistics need every row, hence dataset scope: ``fit`` keeps per row the
product of the batch-local evidence and the answer and prompt lengths, ``finalize`` applies
the norms. The language of a cut word is the ``lang_output`` feature's.

Score ``truncated_output_score`` (0..1, higher is worse); flagged at ``threshold`` (0.5).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _lang
from ._stats import robust_z
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

# Words that (almost) never end a sentence, in the languages of the bundled dictionaries. Words that
# can end one in some language are left out: "a" ("il y en a"), "tu", "lo", "her", "to", and those
# that are also English nouns or verbs ("car", "par", "son", "die", "van", "den", "con", "del").
HANGING = frozenset("""
the an and or but nor because than whose whether although my your their our its
these those such
le la les un une des du de et ou mais au aux mon ma mes ton ta tes sa ses notre nos votre vos leurs
cette ces dont pour avec sans dans sur
der das dem des ein eine einen einem einer und oder aber von für weil dass
el los las una y pero para por porque
il gli uno della dello degli delle perché
het een maar voor met
""".split())
# English prepositions a sentence can end on ("what they are struggling with", "where it came from"):
# weaker evidence, enough only where the dataset's answers end with punctuation
STRANDABLE = frozenset("of with from by into onto".split())

_WS = r"[\s\x{00a0}\x{202f}\x{2009}]"  # RE2 \s misses the no-break spaces of French typography
_OPENERS = "([{«“‘<"
_CLOSERS = ")]}»”’>"


class TruncatedOutputParams(CheckParams):
    threshold: float = decision(0.5)
    """Flag scores at least this."""
    norm_share: float = 0.9
    """Ending on a letter counts as evidence only if this share of the dataset's answers end with punctuation."""
    min_words: int = 3
    """Answers with fewer words are labels: only bracket/fence evidence applies (scoring knob)."""
    short_z: float = 2.5
    """Robust z-score below which an answer starts to count as much shorter than its peers (scoring knob)."""
    short_share: float = 0.01
    """...and only if at most this share of its peers is as short: where short answers are common (labels,
    names, one-line code in mixed instruction data), a short answer is normal (scoring knob)."""


@register
class TruncatedOutput(DatasetCheck):
    name = "truncated_output"
    description = "The answer was cut off mid-sentence or mid-word."
    scope = "dataset"
    scores = {
        "truncated_output_score": Score(
            "evidence the answer was cut off, combined (0..1); higher is worse", 0, 1, worse="higher"),
    }
    default = True
    order = 60
    weight = 0.7
    threshold = Threshold("threshold", "truncated_output_score", ">=")
    # the lang_* features tell apart one more language when the config expects one outside LANGUAGES
    config_inputs = ("expected_language",)
    Params = TruncatedOutputParams

    needs = ("lang_output",)

    def fit(self, batch: pa.Table) -> dict[str, np.ndarray]:
        """Per row: the product of the batch-local evidence, the cut-word evidence and what the dataset
        norms need (lengths, whether it is a suspect); per batch: prose answers and those ending in
        punctuation."""
        p: TruncatedOutputParams = self.params  # type: ignore[assignment]
        raw = text_array(batch["output"])
        # every text feature is computed once per distinct answer (datasets repeat a lot), then per row
        enc = pc.dictionary_encode(raw)
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        copies = np.bincount(codes, minlength=len(enc.dictionary))
        text = pc.replace_substring_regex(enc.dictionary, pattern=_WS + "+$", replacement="")

        def has(pattern: str, arr=text) -> np.ndarray:
            return pc.match_substring_regex(arr, pattern=pattern).to_numpy(zero_copy_only=False)

        def has_where(pattern: str, where: np.ndarray) -> np.ndarray:
            """``has`` on the rows ``where`` holds only (False elsewhere): a Unicode-class pattern costs
            ~10x a cheap test that rules most rows out."""
            out = np.zeros(len(text), dtype=bool)
            rows = np.flatnonzero(where)
            if len(rows):
                out[rows] = has(pattern, text.take(pa.array(rows)))
            return out

        # whitespace tokens holding a letter or digit: "tDf@7khT" and "cats.com" are one word
        words = pc.count_substring_regex(text, pattern=r"\S*[\pL\pN]\S*").to_numpy(zero_copy_only=False)
        code = has(r"```|(?m)^(?:    |\t)\S|[;{}]\s*\n|(?m)^\s*(?:def|class|import|from|return|function|"
                   r"public|private|#include|SELECT|var|let|const)\s")
        last = pc.fill_null(pc.extract_regex(text, r"(?P<l>[^\n]*)$").field("l"), "")
        # a last line of code or maths ("console.log(x);", "WHERE id = 119;", "margin: 5px;", ");",
        # "x = 5 - 2y"): its ";", ":" or last word are syntax, not a cut sentence
        code |= has(r"\w\(|[=<>{}]|^\s*[)\]}]|^\s*[A-Z]{3,}\s|^\s*[\w-]+:\s*[^\s;]+;", last)
        # a list, a table or "key: value" lines: items legitimately end without a period
        listing = has(r"(?:^|\n)\s*(?:[-*•+|]|\d+[.)]|[^\n:]{1,60}:\s)[^\n]*$") | has(r"\n[^\n]{0,80}$")
        # ends on a URL or a domain ("Retrieved from www.example.org"): nothing is missing after it
        link = has(r"(?:https?://|www\.)\S+$|[\pL\pN-]\.(?:com|org|net|edu|gov|io|co|fr|de|uk)(?:/\S*)?$")
        ends_letter = has(r"\p{Ll}$|\pL\pL$") & ~link  # not "N/A"
        prose = ~code & ~listing & (words >= p.min_words)
        # a letter's sign-off ("\n\nBest,") and a form's blank fields ("Name:\nEmail:") end on purpose
        closing = (has_where(r"\n\s*\p{Lu}[\pL.' ]{0,30},$", pc.ends_with(text, ",").to_numpy(zero_copy_only=False))
                   | has(r":\s*\n[^\n]*:$"))

        evidence: list[np.ndarray] = []
        quotes = pc.count_substring(text, pattern='"').to_numpy(zero_copy_only=False)
        # a straight quote opens a quotation when it follows a space ("He said \"")
        evidence.append(0.95 * (has(r"[(\[{«“‘<]$") | (has(r'(?:^|\s)"$') & (quotes % 2 == 1))))
        fences = pc.count_substring(text, pattern="```").to_numpy(zero_copy_only=False)
        evidence.append(0.9 * (fences % 2 == 1))
        sentence = ~code & (words >= p.min_words)  # list items too: "- Add the" is cut
        evidence.append(0.8 * (sentence & ~closing & has(r"(?:[,;:&–—]|[^-]-)$")))  # a "-----" rule is no dash
        hanging, strandable = self._hanging_word(text)
        evidence.append(0.8 * (sentence & ends_letter & hanging))
        evidence.append(0.4 * (sentence & ends_letter & strandable))
        evidence.append(0.35 * (prose & self._unbalanced(text, quotes)))  # alone: "1)" lists, code in prose
        terminal = has(r"[.!?…。！？؟)\]}\"'»”’*`>~]$")
        suspect = (words >= 2) & ~code & ~listing & ends_letter
        # a distinct answer's detection: that of its first row
        first = np.full(len(text), -1, dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes))[::-1]
        det = _lang.detection(batch, "output", self.config)
        cut = 0.6 * self._cut_word(text, prose & ends_letter, det, first)
        keep = np.ones(len(text))
        for s in evidence:
            keep *= 1.0 - s
        plen = pc.utf8_length(pc.fill_null(batch["prompt"], "")).to_numpy(zero_copy_only=False)
        return {
            "rows": np.asarray(batch["row"].to_numpy(zero_copy_only=False), dtype=np.int64),
            "keep": keep[codes], "cut": cut[codes], "suspect": suspect[codes],
            "olen": pc.utf8_length(text).to_numpy(zero_copy_only=False)[codes].astype(np.int64),
            "plen": plen.astype(np.int64),
            # the share of prose answers ending in punctuation is over rows: copies count
            "n_prose": np.array([int(copies[prose].sum())]),
            "n_terminal": np.array([int(copies[prose & terminal].sum())]),
        }

    def finalize(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The dataset norms (do answers end with punctuation, how long are they for such prompts?) and
        the score of every row."""
        p: TruncatedOutputParams = self.params  # type: ignore[assignment]
        if not state:
            return {"rows": np.zeros(0, np.int64), "score": np.zeros(0, np.float32)}
        n_prose = int(state["n_prose"].sum())
        norm = float(int(state["n_terminal"].sum()) / n_prose) if n_prose else 0.0
        keep = state["keep"].copy()
        suspect = state["suspect"]
        if norm >= p.norm_share:
            keep *= 1.0 - 0.4 * suspect
            z, share = _peer_z(state["plen"], state["olen"])
            # per row (the peers depend on the prompt): applied in the same order as the others
            rare = share <= p.short_share
            keep *= 1.0 - 0.6 * (suspect & rare) * np.clip((-z - p.short_z) / 2.5, 0.0, 1.0)
        keep *= 1.0 - state["cut"]
        return {"rows": state["rows"], "score": (1.0 - keep).astype(np.float32)}

    def score(self, batch: pa.Table, state: dict[str, np.ndarray]) -> pa.Table:  # type: ignore[override]
        pos = batch_positions(batch, state["rows"])
        return pa.table({"truncated_output_score": pa.array(state["score"][pos])})

    @staticmethod
    def _hanging_word(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Ends on a word that cannot end a sentence; ends on one that rarely does."""
        # lower case only: "LA", "The Car" are names
        last = pc.fill_null(pc.extract_regex(text, r"(?:^|[^\pL'])(?P<w>\p{Ll}[\pL']*)$").field("w"), "")
        return (pc.is_in(last, value_set=pa.array(sorted(HANGING))).to_numpy(zero_copy_only=False),
                pc.is_in(last, value_set=pa.array(sorted(STRANDABLE))).to_numpy(zero_copy_only=False))

    @staticmethod
    def _unbalanced(text: pa.Array, quotes: np.ndarray) -> np.ndarray:
        """More brackets opened than closed, or an odd number of straight quotes (``quotes``: their count)."""
        out = quotes % 2 == 1
        # only a text holding an opener can open more than it closes: the counts run on those alone
        rows = np.flatnonzero(pc.match_substring_regex(text, pattern="[" + re.escape(_OPENERS[:5]) + "]")
                              .to_numpy(zero_copy_only=False))
        if not len(rows):
            return out
        sub = text.take(pa.array(rows))
        more = np.zeros(len(rows), dtype=bool)
        for o, c in zip(_OPENERS[:5], _CLOSERS[:5]):
            opened = pc.count_substring(sub, pattern=o).to_numpy(zero_copy_only=False)
            closed = pc.count_substring(sub, pattern=c).to_numpy(zero_copy_only=False)
            more |= opened > closed
        out[rows] |= more
        return out

    @staticmethod
    def _cut_word(text: pa.Array, candidates: np.ndarray, det: _lang.Detection, first: np.ndarray) -> np.ndarray:
        """Distinct answers whose last word is not a word but the beginning of one ("the compu").

        ``det``: the batch's answer detection, per row; ``first``: a row of each distinct answer."""
        out = np.zeros(len(text), dtype=bool)
        rows = np.flatnonzero(candidates)
        if not len(rows):
            return out
        sub = text.take(pa.array(rows))
        # lower case only: a capitalized last word is more likely a name ("Tom", prefix of "tomato")
        last = pc.fill_null(pc.extract_regex(sub, r"(?:^|[^\pL])(?P<w>\p{Ll}{2,})$").field("w"), "")
        codes, conf = det.top()
        top, conf, words = codes[first[rows]], conf[first[rows]], det.words[first[rows]]
        # only confidently identified answers: a dictionary per misidentified language costs ~1 s to load
        sure = (conf >= 0.9) & (words >= 3)
        for i, (word, lang) in enumerate(zip(last.to_pylist(), top)):
            if word and sure[i] and lang in _lang.SPELL_LANGUAGES and not _lang.is_known_word(word, lang):
                out[rows[i]] = _lang.is_word_prefix(word, lang)
        return out

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["truncated_output_score"].to_numpy(zero_copy_only=False) >= self.params.threshold


def _peer_z(prompt_lengths: np.ndarray, output_lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-score of log answer length among rows whose prompts have about the same length, and the
    share of those peers whose answers are at most as long (1 where there are too few peers)."""
    plen = np.asarray(prompt_lengths).astype(np.float64)
    olen = np.log1p(np.asarray(output_lengths).astype(np.float64))
    bins = np.floor(np.log2(plen + 1) * 8).astype(np.int64)  # 1/8-octave bins of prompt length
    z = np.zeros(len(olen))
    share = np.ones(len(olen))
    order = np.argsort(bins, kind="stable")
    edges = np.flatnonzero(np.r_[True, bins[order][1:] != bins[order][:-1], True])
    for a, b in zip(edges[:-1], edges[1:]):
        idx = order[a:b]
        if len(idx) < 20:  # too few peers to say what is normal
            continue
        z[idx] = robust_z(olen[idx], min_scale=0.05)
        peers = np.sort(olen[idx])
        share[idx] = np.searchsorted(peers, olen[idx], side="right") / len(idx)
    return z, share
