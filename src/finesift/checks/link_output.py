"""``link_output``: the answer is a link or an embedded image, audio or video instead of content.

"Design a logo" -> "![Logo](https://i.imgur.com/...png)", "Compose a melody" -> "<audio
src=...mp3>", "Retrieve an article about X" -> "https://www.bbc.com/news/...": a text model
cannot draw, play or browse, so the link is invented, and training on it teaches a model to answer
with links to nothing. (``missing_context`` reads the prompt for links the model cannot open; this
check reads the answer.) Evidence, strongest first:

* ``media_embed`` (0.9): the answer embeds media: a markdown image ``![...](...)`` or an HTML
  ``<img>``, ``<audio>``, ``<video>``, ``<iframe>``, ``<embed>``, ``<object>`` or ``<source>``
  tag;
* ``link_only`` (0.8): the answer is (mostly) links: at most ``words_per_link`` words besides
  each link ("1. Codecademy - https://www.codecademy.com/ 2. ...", a bare URL).

The task may work on markup or links as strings: when the prompt asks for HTML, markdown, code, a
citation, an API request or a link itself ("Generate the HTML code to add a link", "Find all the
hyperlinks in the input", "What is the URL of ..."), or holds links of its own (the answer may
copy them), the evidence scores 0.3 (recorded, below the threshold). Only the first
``scan_chars`` characters of the answer are read; rows whose answer holds no link-like text are
skipped by one vectorized regex.

Score ``link_output_score`` (0..1, higher is worse), flagged at ``threshold`` (0.5); the kind is
in ``link_output_kind``. A threshold of 0.85 keeps embedded media only.

Measured (``.venv/bin/python benchmarks/bench_alpaca.py --checks link_output --split all --name
alpaca_link_output``): Alpaca 52k against the AlpacaDataCleaned volunteers' fixes, bad rows caught 6 of
88 (tune) and 3 of 59 (check, out of sample): logos, chessboards, sketches, flow charts and melodies
answered with an image or audio link, articles and "online sources" answered with URLs. Rows they kept
unchanged flagged 0.06% (8 of 12,687, tune) and 0.08% (10 of 12,583, check); read one by one, 14 of the
18 are the same defect the partial cleaning missed (an invented image link or ``<img
src="pie-chart.png">`` for "make a pie chart", "design a logo", "generate a mindmap"), 4 are lists of
invented or unverifiable article URLs for "find news articles / online resources". Dolly 3k, GPTeacher
Toolformer, both Bitext sets, Tatoeba as "Translate to French: ...": 0 flagged. Scoring 52k Alpaca rows
takes about 0.1 s (only the ~0.4% of answers holding link-like text are read further).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, matches, register, text_array
from .missing_context import _EMAIL, _LINKS, STRING_TASK

_TLDS = r"(?:com|org|net|edu|gov|io|co|uk|us|de|fr|info|ly|me|tv|ai|app|dev|biz)"
#: cheap pre-filter: an answer without any of these holds no link and no embedded media
GATE = rf"(?i)://|www\.|\.{_TLDS}\b|!\[|<(?:img|video|audio|iframe|source|embed|object)\b"
MEDIA_EMBED = (r"(?i)!\[[^\]\n]{0,200}\]\s?\([^)\n]*\)"
               r"|<(?:img|video|audio|iframe|embed|object|source)\b[^>]{0,400}?\b(?:src|data)\s*=")
#: the prompt asks for markup, code, or a link itself: links and tags in the answer are then its content
MARKUP_TASK = (
    STRING_TASK + r"|\b(?:web ?pages?|websites?|web ?sites?|homepage|urls?|links?|web address\w*|tags?|elements?|"
    r"pages?|wikipedia|quer(?:y|ies)|search engines?|readme|templates?|svg|latex|jsx|react|vue|angular|bootstrap|wordpress|front-?end|emoji)\b"
)
LINK_PROMPT = rf"(?i)://|www\.|\b[a-z0-9-]+\.{_TLDS}\b"
#: list markers and punctuation that are no words: what is left besides the links
_MARKERS = r"(?m)^[ \t]*(?:[-*\x{2022}]|\(?\d{1,3}[.)]|\(?[a-z][.)])[ \t]+"
WORDS = r"[A-Za-z0-9]+(?:['\x{2019}-][A-Za-z0-9]+)*"

EVIDENCE: dict[str, float] = {"media_embed": 0.9, "link_only": 0.8}
GUARDED = 0.3
KINDS = tuple(EVIDENCE)


class LinkOutputParams(CheckParams):
    threshold: float = decision(0.5, ge=0.0, le=1.0)
    """Flag scores at least this (0.9: embedded media, 0.8: the answer is links; 0.3: the task works on markup or
    links, recorded only)."""
    words_per_link: int = 3
    """Most words besides each link for an answer to count as links (a name and a dash before each URL)."""
    scan_chars: int = 3000
    """Characters at the start of the answer that are read."""
    markup_guard: bool = True
    """Score links and tags low when the prompt asks for markup, code, a citation or a link, or holds links."""


@register
class LinkOutput(RowCheck):
    name = "link_output"
    description = ("The answer is a link or an embedded image / audio / video (\"![Logo](https://...)\") instead "
                   "of content.")
    scores = {
        "link_output_score": Score("strength of the strongest evidence that the answer is a link or embedded media "
                                   "(0..1); higher is worse", 0, 1, worse="higher"),
        "link_output_kind": Score("the strongest evidence: media_embed or link_only; null = none"),
    }
    default = True
    order = 112
    weight = 0.8
    threshold = Threshold("threshold", "link_output_score", ">=")
    Params = LinkOutputParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: LinkOutputParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        score = np.zeros(n, dtype=np.float64)
        kind = np.full(n, None, dtype=object)
        text = pc.utf8_slice_codeunits(text_array(batch["output"]), 0, p.scan_chars)
        rows = np.flatnonzero(matches(text, GATE))
        if not len(rows):
            return _table(score, kind)
        take = pa.array(rows)
        t = text.take(take)
        media = matches(t, MEDIA_EMBED)
        # what is left once links, list markers and punctuation go: a few words per link is a list of links
        rest = pc.replace_substring_regex(t, pattern=_EMAIL, replacement=" email ")  # an address is no link
        for pattern in _LINKS:
            rest = pc.replace_substring_regex(rest, pattern=pattern, replacement=" \x00 ")
        links = _count(rest, "\x00")
        words = _count(pc.replace_substring_regex(rest, pattern=_MARKERS, replacement=" "), WORDS)
        link_only = (links > 0) & (words <= p.words_per_link * links)
        guarded = np.zeros(len(rows), dtype=bool)
        if p.markup_guard and (media | link_only).any():
            i = np.flatnonzero(media | link_only)
            prompt = (text_array(batch["prompt"]).take(pa.array(rows[i])) if "prompt" in batch.column_names
                      else pa.array([""] * len(i), pa.string()))
            prompt = pc.utf8_slice_codeunits(prompt, 0, p.scan_chars)
            guarded[i] = matches(prompt, MARKUP_TASK) | matches(prompt, LINK_PROMPT)
        s = np.where(media, EVIDENCE["media_embed"], np.where(link_only, EVIDENCE["link_only"], 0.0))
        k = np.where(media, "media_embed", np.where(link_only, "link_only", None))
        s = np.where(guarded & (s > 0), GUARDED, s)
        score[rows], kind[rows] = s, k
        return _table(score, kind)

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["link_output_score"].to_numpy(zero_copy_only=False) >= self.params.threshold


def _table(score: np.ndarray, kind: np.ndarray) -> pa.Table:
    return pa.table({"link_output_score": pa.array(score, pa.float64()),
                     "link_output_kind": pa.array(kind, pa.string())})


def _count(texts: pa.Array, pattern: str) -> np.ndarray:
    if len(texts) == 0:
        return np.zeros(0, dtype=np.int64)
    return pc.fill_null(pc.count_substring_regex(texts, pattern=pattern), 0).to_numpy(zero_copy_only=False)
