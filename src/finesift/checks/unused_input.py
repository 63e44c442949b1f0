"""unused_input: the prompt's input is a placeholder, or has nothing to do with the instruction and answer.

An Alpaca-shaped prompt is the instruction, a blank line, then the input (``prompt`` =
instruction + "\\n\\n" + input; a chat prompt has no blank-line input unless its user wrote
paragraphs; multi-turn prompts are skipped). Inputs that people delete when they clean such
data: a placeholder where there is nothing to give ("No input", "<noinput>", "N/A", "None",
'""', "."), and an input the instruction never asks for and the answer never uses. Training
on them teaches a model to ignore what it is given.

Evidence (the score is the strongest that applies):

* ``placeholder`` (1.0): the whole input is a placeholder: "No input (required)", "<no input>",
  "noinput", "N/A", "None", "null", "nothing", "empty", "(blank)", empty quotes ('""', "``") or
  only dots, dashes or backslashes (".", "-");
* ``placeholder_token`` (0.9): the input holds a "<noinput>" / "noinput" token beside other text
  ("Joe Smith <noinput>");
* ``unrelated`` (0.6, below the default threshold: recorded, not flagged): the instruction is
  self-contained -- it points at no input ("the following", "this", "given", "below", "the
  text / sentence / list / data ...", a trailing ":") -- the answer has at least
  ``min_answer_words`` words, and no content word of the input (stop words aside, crudely
  stemmed) occurs in the instruction or the answer. ``unused_input_overlap`` holds that share
  for the rows it was measured on.

When the instruction is about words, symbols or abbreviations ("What does N/A stand for?",
"Translate the word", "Name this symbol"), a bare-word or punctuation placeholder is the task's
data: it scores only 0.3.

Why ``unrelated`` is score-only: it scores 24 rows of Alpaca 52k; on the tune split, 5 of 12,687
rows the volunteers kept and no row they deleted an input from (its one bad row is a URL input,
another check's find). The inputs it finds are mostly real but unneeded details ("Duration of
stay: 7 days", two numbers for "create an algorithm") that people kept, and some are used in a
way word overlap cannot see (an acrostic of "Spring"). Lower ``threshold`` to 0.5 to flag them.
Placeholders are flagged by default but not dropped by curate (``drop = False``): the answer is
usually fine, and the fix is to clear the input.

Measured on Alpaca 52k against the AlpacaDataCleaned volunteers' edits
(``.venv/bin/python benchmarks/bench_alpaca.py --checks unused_input --split tune --name
alpaca_unused_input_tune``, then ``--split check``): recall of the "input unneeded" fixes 9/10
(tune; the miss, "Design a logo for the given company" with the input "Example Company", asks
for its input) and 6/6
(check); good rows flagged 0.03% (tune, 4 of 12,687) and 0.02% (check, 3 of 12,583) -- all seven
hold a placeholder input ('``', '<none>', '<noinput>,', 'He was <noinput>') the volunteers missed.
195 rows of the 52k are flagged; none of Dolly 3k, GPTeacher Toolformer 7.7k, Bitext customer
support 6.5k and Tatoeba 76k. Scoring runs at about 110,000-160,000 rows/s on one CPU core.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, knob, matches, register, text_array

#: an input that only says there is no input (after trimming)
_NO_INPUT = (r"(?i)^[\s\"'`(\[<{\\*_.-]*(?:no[\s_-]*(?:input|put)s?(?:[\s_-]+(?:is\s+)?(?:required|needed|necessary|"
             r"provided|given|here))?|noinput|not applicable)[\s\"'`)\]>}\\*_.,!-]*$")
#: a bare word or punctuation standing in for an input (may be data when the task is about words or symbols)
_BARE = (r"(?i)^[\s\"'`(\[<{\\*_-]*(?:n/?a|none|null|nil|nan|undefined|empty|blank|nothing)[\s\"'`)\]>}\\*_.,!-]*$"
         r"|^[\s.\\_-]{1,4}$")
#: empty quotes: an empty string written out, never data
_EMPTY_QUOTES = r"^(?:\"\"|''|``|“”|‘’|「」)$"
_TOKEN = r"(?i)<\s*no[\s_-]?input\s*>|(?:^|[^a-z])noinput(?:[^a-z]|$)"
#: instructions about words, symbols or abbreviations: a bare "N/A" or "." may be their data
_ABOUT_WORDS = (r"(?i)\b(?:abbreviat\w*|acronyms?|symbols?|punctuation\w*|emojis?|emoticons?|morse|placeholders?|"
                r"translat\w*|spell\w*|pronounc\w*|meaning|stand for|stands for|define|definition|"
                r"(?:this|the|following|given|each) (?:word|term|mark|sign|string|token))\b")
#: an instruction that points at an input (then it needs one, whatever words they share)
_POINTER = (r"(?i)\b(?:this|these|that|those|following|given|below|above|provided|input|inputs|entered|specified|"
            r"here|it|them|its|their|each|every|the (?:text|sentence|sentences|passage|paragraph|article|story|word|"
            r"words|phrase|list|data|statement|number|numbers|equation|code|question|poem|document|email|name|item|"
            r"items|set|string|array|table|song|book|movie|topic|quote|product|company|person|animal|city|country|"
            r"event|situation|scenario|problem|argument|tweet|review|message|letter|recipe|ingredients|customer|"
            r"user|character|dialogue|conversation|expression|term|concept))\b|:\s*$|'[^']+'|\"[^\"]+\"")
#: function words that say nothing about what an input is about (content words are the rest)
STOP_WORDS = frozenset("""
a an the and or but if of to in on at by for with from as is are was were be been being it its this that these
those there here what which who whom whose how why when where can could would should will shall may might must do
does did done not no yes you your yours me my we our us they them their he him his she her hers about into over under
than then so such very more most some any each every all both few many much other another one two three also just
only own same too up down out off again further once give write create generate describe explain list name make
provide find tell come use using based following given below above input sentence text word words new get like
""".split())
PLACEHOLDER, TOKEN, UNRELATED, GUARDED = 1.0, 0.9, 0.6, 0.3
KINDS = ("placeholder", "placeholder_token", "unrelated")


class UnusedInputParams(CheckParams):
    threshold: float = decision(0.8, ge=0.0, le=1.0)
    """Flag rows whose score is at least this (1.0: a placeholder input; 0.9: a "<noinput>" token in it; 0.6:
    the input shares nothing with a self-contained instruction and its answer, recorded only; 0.3: a bare-word
    placeholder where the task is about words or symbols)."""
    scan_chars: int = knob(2000, ge=100)
    """Characters of the prompt and of the answer read (bounds the cost of very long rows)."""
    min_answer_words: int = knob(20, ge=0)
    """Words the answer needs before an input it shares no word with counts as unused (a one-word label or
    conversion legitimately shares nothing with its input)."""
    word_guard: bool = True
    """Score bare-word and punctuation placeholders low when the instruction is about words, symbols or
    abbreviations (their data may be "N/A" or ".")."""


@register
class UnusedInput(RowCheck):
    name = "unused_input"
    description = ("The prompt's input is a placeholder (\"No input\", \"<noinput>\", \"N/A\", '\"\"') or unrelated to "
                   "the instruction and unused by the answer.")
    scores = {
        "unused_input_score": Score("strength of the strongest unused-input evidence (0..1); higher is worse",
                                    0, 1, worse="higher"),
        "unused_input_kind": Score("the strongest evidence: placeholder, placeholder_token or unrelated; "
                                   "null = none"),
        "unused_input_overlap": Score("share of the input's content words found in the instruction or the answer "
                                      "(0..1), measured where the instruction points at no input and the answer "
                                      "is long enough; null elsewhere; lower is worse", 0, 1, worse="lower"),
    }
    default = True
    order = 115
    drop = False
    weight = 0.3
    threshold = Threshold("threshold", "unused_input_score", ">=")
    Params = UnusedInputParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: UnusedInputParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        score = np.zeros(n, dtype=np.float64)
        kind = np.full(n, None, dtype=object)
        overlap = np.full(n, np.nan)
        prompt = pc.utf8_slice_codeunits(text_array(batch["prompt"]), 0, p.scan_chars)
        # the input is what follows the instruction's first blank line; a chat's earlier turns are no input
        parts = pc.split_pattern(prompt, "\n\n", max_splits=1)
        has = pc.list_value_length(parts).to_numpy(zero_copy_only=False) == 2
        if "turns" in batch.column_names:
            turns = pc.fill_null(pc.list_value_length(batch["turns"]), 0).to_numpy(zero_copy_only=False)
            has &= turns <= 2
        rows = np.flatnonzero(has)
        if not len(rows):
            return _table(score, kind, overlap)
        parts = parts.take(pa.array(rows))
        ins, inp = pc.list_element(parts, 0), pc.utf8_trim_whitespace(pc.list_element(parts, 1))
        no_input = matches(inp, _NO_INPUT) | matches(inp, _EMPTY_QUOTES)
        bare = matches(inp, _BARE) & ~no_input
        token = matches(inp, _TOKEN) & ~no_input & ~bare
        about_words = matches(ins, _ABOUT_WORDS) if p.word_guard else np.zeros(len(rows), dtype=bool)
        s = np.where(no_input, PLACEHOLDER, 0.0)
        s = np.where(bare, np.where(about_words, GUARDED, PLACEHOLDER), s)
        s = np.where(token, TOKEN, s)
        k = np.where(no_input | bare, "placeholder", np.where(token, "placeholder_token", None))

        # an unrelated input: only where nothing else fired, the instruction points at no input and the answer
        # is long enough to have used it; each step runs on the rows the previous one kept (pyarrow compiles a
        # pattern per call, and the word split is the costly part)
        cand = (s == 0) & (pc.utf8_length(inp).to_numpy(zero_copy_only=False) > 0)
        cand[cand] = ~matches(ins.filter(pa.array(cand)), _POINTER)
        answer = text_array(batch["output"]).take(pa.array(rows[cand]))
        answer = pc.utf8_slice_codeunits(answer, 0, p.scan_chars)
        cand[cand] = pc.count_substring_regex(answer, pattern=r"\S+").to_numpy(zero_copy_only=False) \
            >= p.min_answer_words
        c = np.flatnonzero(cand)
        if len(c):
            idx = pa.array(c)
            answer = pc.utf8_slice_codeunits(text_array(batch["output"]).take(pa.array(rows[c])), 0, p.scan_chars)
            share = _shared(inp.take(idx), pc.binary_join_element_wise(ins.take(idx), answer, "\n"))
            overlap[rows[c]] = share
            unrelated = share == 0.0  # NaN (no content word in the input) is no evidence
            s[c[unrelated]] = UNRELATED
            k[c[unrelated]] = "unrelated"
        score[rows], kind[rows] = s, k
        return _table(score, kind, overlap)

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["unused_input_score"].to_numpy(zero_copy_only=False) >= self.params.threshold


def _stems(texts: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(row of each stem, the stems): content words, lower-cased, a plural/tense suffix cut, 5 letters kept."""
    # punctuation becomes a space, then a whitespace split: ~2x faster than a regex split on non-letters
    spaced = pc.replace_substring_regex(pc.utf8_lower(texts), pattern=r"[^\p{L}\p{N}\s]+", replacement=" ")
    toks = pc.utf8_split_whitespace(spaced)
    parent = pc.list_parent_indices(toks).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(toks)
    keep = pc.and_(pc.greater_equal(pc.utf8_length(flat), 3),
                   pc.invert(pc.is_in(flat, value_set=_STOP))).to_numpy(zero_copy_only=False)
    # stemming runs on the distinct words only: text repeats its words, and the suffix regex is the slow step
    enc = pc.dictionary_encode(flat.filter(pa.array(keep)))
    # "travels" / "traveling" / "traveled" meet as "trave": crude, but language-neutral enough for overlap
    stems = pc.replace_substring_regex(enc.dictionary, pattern=r"^(.{3,}?)(?:ing|ed|es|s|ly)$", replacement=r"\1")
    stems = pc.utf8_slice_codeunits(stems, 0, 5)
    return parent[keep], stems.take(enc.indices)


def _shared(inputs: pa.Array, context: pa.Array) -> np.ndarray:
    """Per row: share of the input's distinct content stems found in its context (NaN: the input has none)."""
    m = len(inputs)
    p_in, s_in = _stems(inputs)
    p_cx, s_cx = _stems(context)
    ids = pc.dictionary_encode(pa.concat_arrays([s_in, s_cx])).indices.to_numpy(zero_copy_only=False)
    vocab = int(ids.max(initial=-1)) + 1
    k_in = np.unique(p_in.astype(np.int64) * vocab + ids[:len(s_in)])
    k_cx = np.unique(p_cx.astype(np.int64) * vocab + ids[len(s_in):])
    found = np.isin(k_in, k_cx, assume_unique=True)
    row = k_in // max(vocab, 1)
    total = np.bincount(row, minlength=m).astype(np.float64)
    hit = np.bincount(row, weights=found, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hit / total, np.nan)


_STOP = pa.array(sorted(STOP_WORDS), pa.string())


def _table(score: np.ndarray, kind: np.ndarray, overlap: np.ndarray) -> pa.Table:
    return pa.table({"unused_input_score": pa.array(score, pa.float64()),
                     "unused_input_kind": pa.array(kind, pa.string()),
                     "unused_input_overlap": pa.array(overlap, pa.float64(), mask=np.isnan(overlap))})


