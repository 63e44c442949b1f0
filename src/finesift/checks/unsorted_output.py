"""``unsorted_output``: the prompt asks for a sorted list and the answer's list is out of order.

"Put the following words in alphabetical order: writing, waiting, walking" -> "walking, waiting,
writing" teaches a model that the order does not matter. Whether a list is sorted needs no model:
this check is a comparator, like ``arithmetic`` is a calculator.

A prompt asks for a sort when it says "alphabetical(ly)", "A to Z" / "Z to A" (alphabetical
order), or "ascending / descending / increasing / decreasing order", "smallest to largest",
"lowest to highest" and the like (numeric order). "Reverse", "descending", "Z to A" reverse the
order. The answer's list is the text after its last colon when it has one ("The sorted list is:
4, 6, 32, 87"), split into lines when it has several ("1. apple" list markers dropped), else at
commas, semicolons and a final "and", else at spaces (a sentence whose words are to be sorted).

* alphabetical: items compare case-insensitively, accents, quotes and punctuation ignored ("a
  beautiful is place The world." is sorted; "1984" sorts before letters);
* numeric: only when every item is one number ("-9", "3.5", "1,000"); the order by formality,
  importance, pitch or size of named things ("lowest to highest based on formality") is not
  checked.

An answer that is no list (a sentence of prose, code, a function that sorts, an algorithm) is
not read: it must have at least ``min_items`` items, each at most ``max_item_words`` words, and
no fenced code. Only the first ``scan_chars`` characters of the answer are read, and only rows
whose prompt asks for a sort are parsed (a vectorized regex over the batch).

Score ``unsorted_output_score`` (0..1, higher is worse): the share of neighbouring items out of
the order asked for (0 = sorted, or no list checked); ``unsorted_output_items``: the items
compared. Flagged when the score is above ``threshold`` (0: any pair out of order).

Measured (``.venv/bin/python benchmarks/bench_alpaca.py --checks unsorted_output --split tune
--name alpaca_unsorted_output``, then ``--split check``; ``--split all`` gives both): Alpaca 52k against
the AlpacaDataCleaned volunteers' fixes, bad rows caught 3 of 88 (tune) and 6 of 59 (check, out of
sample), every one a sorting answer they rewrote; rows they kept unchanged flagged 0 of 12,687 (tune)
and 1 of 12,583 (check: "2, 3, 5, 4" ranked least to greatest as "2, 4, 3, 5", wrong). 22 of the 52k
rows flagged in all; reading them, every one is out of order. Dolly 3k, GPTeacher Toolformer, both
Bitext sets, Tatoeba as "Translate to French: ...": 0 flagged. Scoring 52k Alpaca rows takes about
0.1 s (only the ~0.3% of rows whose prompt asks for a sort are parsed).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, matches, register, text_array

ALPHA = (r"(?i)\balphabeti[cz]\w*|\b(?:a\s*(?:to|-)\s*z|z\s*(?:to|-)\s*a)\s+order\b|"
         r"\b(?:sort|order|arrange|rearrange|reorder|organi[sz]e)\w*\b[^.\n]{0,80}\bthe (?:english )?alphabet\b")
NUMERIC = (r"(?i)\b(?:in|into|by|of)\s+(?:\w+\s+)?(?:ascending|descending|increasing|decreasing)\b|"
           r"\b(?:ascending|descending|increasing|decreasing)\s+order\b|\b(?:ascending|descending)ly\b|\b(?:smallest|lowest|least|largest|highest|"
           r"greatest|biggest|fewest|most)\s+(?:\w+\s+)?to\s+(?:the\s+)?(?:smallest|lowest|least|largest|highest|"
           r"greatest|biggest|fewest|most)\b")
#: the order asked for runs from high to low
REVERSE = (r"(?i)\b(?:reverse\w*|descending|decreasing|backwards?|z\s*(?:to|-)\s*a)\b|\b(?:largest|highest|"
           r"greatest|biggest|most)\s+(?:\w+\s+)?to\s+(?:the\s+)?(?:smallest|lowest|least|fewest)\b")
#: "non-decreasing" is ascending
NON_REVERSE = r"(?i)\bnon[- ]?(?:decreasing|ascending)\b|\bnot\s+(?:in\s+)?(?:decreasing|descending)\b"
#: tasks whose answer is a program or an algorithm that sorts, not a sorted list
CODE_TASK = (r"(?i)\b(?:algorithms?|functions?|programs?|code|script|methods?|query|sql|python|java\w*|c\+\+|"
             r"pseudo-?code|regex|regular expression|spreadsheet|formula)\b")
#: "in alphabetical order by author": the key is something the list does not show
BY_KEY = re.compile(r"(?i)alphabetic\w*\s+(?:order\s+)?(?:by|based on|according to|of)\s+(?:the\s+|their\s+|its\s+)?"
                    r"([a-z]+)")
_VISIBLE_KEYS = {"first", "name", "names", "title", "titles", "word", "words", "letter", "letters", "spelling",
                 "initial", "initials", "starting", "beginning", "item", "items"}
#: a lead-in before an answer's list that has no colon: "The words in alphabetical order are Clock, Dog, Egg."
#: what the text before an answer's first colon says when it introduces the list
LEAD_IN_COLON = re.compile(r"(?i)\b(?:order|ordered|sorted|sort|arranged|alphabetical\w*|ascending|descending|list|"
                           r"are|is|follows|result|answer|output|here)\b")
LEAD_IN = re.compile(r"^[^,;\n]*?\b(?:are|is|would be|will be|becomes|become)\s+(?=[^,;\n]+[,;])", re.I)
#: a sort request must be near the start of the prompt (the instruction), not inside a long input
_ASK_CHARS = 400
_MARKER = re.compile(r"^\s*(?:[-*\u2022]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+", re.I)
_NUMBER = re.compile(r"^[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[-+\u2212]?\.\d+$")
_STRIP = " \t\"'`\u201c\u201d\u2018\u2019*_()[]{}.,;:!?"


class UnsortedOutputParams(CheckParams):
    threshold: float = decision(0.0, ge=0.0, le=1.0)
    """Flag answers whose share of neighbouring items out of the order asked for is above this (0: any pair)."""
    min_items: int = 3
    """Fewest items an answer's list must have to be checked (two items are often a pair, not a list)."""
    max_item_words: int = 16
    """Longest item (words) of a list; an answer with a longer item is prose, not a list."""
    scan_chars: int = 2000
    """Characters of the answer read (bounded cost on long texts)."""


@register
class UnsortedOutput(RowCheck):
    name = "unsorted_output"
    description = ("The prompt asks for a sorted list (alphabetical, ascending, descending) and the answer's list "
                   "is out of that order.")
    scores = {
        "unsorted_output_score": Score("share of neighbouring items of the answer's list out of the order asked for "
                                       "(0 = sorted or not checked); higher is worse", 0, 1, worse="higher"),
        "unsorted_output_items": Score("items of the answer's list compared (0 = not checked)", 0, float("inf")),
    }
    default = True
    order = 79
    weight = 0.8
    threshold = Threshold("threshold", "unsorted_output_score", ">")
    Params = UnsortedOutputParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: UnsortedOutputParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        score = np.zeros(n, dtype=np.float64)
        items = np.zeros(n, dtype=np.int32)
        if "prompt" not in batch.column_names or n == 0:
            return _table(score, items)
        ask = pc.utf8_slice_codeunits(text_array(batch["prompt"]), 0, _ASK_CHARS)
        alpha = matches(ask, ALPHA)
        numeric = ~alpha & matches(ask, NUMERIC)
        rows = np.flatnonzero((alpha | numeric) & ~matches(ask, CODE_TASK))
        if len(rows):
            take = pa.array(rows)
            asked = ask.take(take)
            reverse = matches(asked, REVERSE) & ~matches(asked, NON_REVERSE)
            keyed = [_hidden_key(q or "") for q in asked.to_pylist()]
            answers = pc.utf8_slice_codeunits(text_array(batch["output"]), 0, p.scan_chars).take(take).to_pylist()
            for j, (i, a) in enumerate(zip(rows.tolist(), answers)):
                if keyed[j]:
                    continue
                score[i], items[i] = check_order(a or "", alphabetical=bool(alpha[i]), reverse=bool(reverse[j]),
                                                 min_items=p.min_items, max_item_words=p.max_item_words)
        return _table(score, items)

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["unsorted_output_score"].to_numpy(zero_copy_only=False) > self.params.threshold


def _table(score: np.ndarray, items: np.ndarray) -> pa.Table:
    return pa.table({"unsorted_output_score": pa.array(score, pa.float64()),
                     "unsorted_output_items": pa.array(items, pa.int32())})


def list_items(answer: str, max_item_words: int) -> list[list[str]] | None:
    """The answer's lists (one per section: "Melee classes:" ... "Ranged classes:" ...), or None when the
    answer is not a list (prose, code)."""
    if "```" in answer:
        return None
    text = answer.strip()
    head, colon, tail = text.partition(":")
    if colon and "\n" not in head and LEAD_IN_COLON.search(head):
        text = tail.strip()  # "The sorted list is: 4, 6, 32", "In alphabetical order, the rivers are: ..."
    elif not colon:
        text = LEAD_IN.sub("", text, count=1)
    lists: list[list[str]] = []
    for section in re.split(r"\n[^\n:]{1,60}:[ \t]*(?=\n)", "\n" + text):
        parts = _split(section.strip(), max_item_words)
        if parts is None:
            return None
        if parts:
            lists.append(parts)
    return lists


def _split(text: str, max_item_words: int) -> list[str] | None:
    lines = [ln for ln in (x.strip() for x in text.splitlines()) if ln]
    if len(lines) >= 2:
        parts = [_MARKER.sub("", ln) for ln in lines]
    elif re.search(r"[,;]", text):
        parts = re.split(r"\s*[,;]\s*(?:and\s+|&\s+)?|\s+(?:and|&)\s+(?=[^,;]*$)", text)
    else:
        parts = text.split()
    parts = [x.strip(_STRIP) for x in parts]
    parts = [x for x in parts if x]
    if any(len(x.split()) > max_item_words for x in parts):
        return None
    return parts


def _hidden_key(prompt: str) -> bool:
    """Whether the alphabetical order asked for is by something the items do not show (their author)."""
    m = BY_KEY.search(prompt)
    return bool(m) and m.group(1).lower() not in _VISIBLE_KEYS


def _alpha_key(item: str) -> str:
    decomposed = unicodedata.normalize("NFKD", item.casefold())
    return " ".join(re.sub(r"[^0-9a-z\s]", "", decomposed).split()) or item.casefold()


def _number(item: str) -> float | None:
    s = item.replace("\u2212", "-").replace("$", "").strip()
    return float(s.replace(",", "")) if _NUMBER.match(s) else None


def check_order(answer: str, *, alphabetical: bool, reverse: bool, min_items: int = 3,
                max_item_words: int = 16) -> tuple[float, int]:
    """(share of neighbouring pairs out of order, items compared) for one answer."""
    lists = list_items(answer, max_item_words)
    if not lists or sum(len(x) for x in lists) < min_items:
        return 0.0, 0
    wrong = pairs = 0
    for parts in lists:
        if alphabetical:
            keys: list = [_alpha_key(x) for x in parts]
        else:
            keys = [_number(x) for x in parts]
            if any(v is None for v in keys):
                return 0.0, 0
        for a, b in zip(keys, keys[1:]):
            pairs += 1
            wrong += (a < b) if reverse else (a > b)
    return (wrong / pairs if pairs else 0.0), sum(len(x) for x in lists)
