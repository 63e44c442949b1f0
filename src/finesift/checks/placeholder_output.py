"""``placeholder_output``: the answer is a placeholder, not an answer.

Whole-answer placeholders: "N/A", "<nooutput>", "TODO", "TBD", "TBA", "FIXME",
"...", "[translation]", "[insert answer here]", "your answer here", "lorem
ipsum...", "placeholder", "XXX", "to be completed", "same as above".
Embedded fill-in markers: "[insert ... here]", "<insert name>", "(paste text)",
"your answer here", "<nooutput>" inside a longer answer. "Lorem ipsum" counts only
as the whole answer: inside one it is usually sample text for code or a layout.

An answer that opens with "No output" and explains why ("No output required", "No output because
this instruction requires a visual output", "<No output - this is a visual task.>") is Alpaca's
``<nooutput>`` written out: a whole-answer placeholder, unless the prompt is about a program's
output ("What does this code print?" -> "No output, the function returns None").

Deliberately not placeholders: "None", "null", "0" (real answers to real
questions), ``{{Order Number}}``-style template slots inside an answer (a
dataset convention), "Dear [Name]," in a template letter.

Score ``placeholder_output_score`` (0..1, higher is worse): 1.0 = the whole answer
is a placeholder; 0.6 = the answer contains a fill-in marker; 0 = neither.
Flagged at ``threshold`` (default 0.5: both); 0.9 keeps only whole-answer placeholders.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, register, text_array

WHOLE = 1.0
EMBEDDED = 0.6

# matched against the lower-cased answer with surrounding space, quotes and final ./! removed.
# ASCII classes on purpose: pyarrow recompiles a pattern per batch and RE2 compiles Unicode classes
# slowly (a {2,60} repeat of \pL alone cost 50 ms per batch).
_META = r"(?:answer|response|output|text|translation|content|summary|code|solution|result|reply)"
_WHOLE = (
    r"^(?:"
    r"n/?a|n\.a\.?|not available|tbd|tba|tbc|todo|to ?do|fixme|xxx+|placeholder|dummy(?: text)?|"
    r"lorem ipsum.*|\.{2,}|…+|"
    r"<\s*no\s*-?\s*(?:output|input|answer)\s*>|no\s*-?\s*output|nooutput|"
    rf"(?:your|my|the|an?|sample|example)? ?{_META}(?: goes)? here|"
    rf"(?:insert|enter|add|type|write|put|paste|fill in) (?:your |the |an? )?(?:{_META}|.{{0,40}}here)|"
    r"\[[a-z][a-z ._'-]+\]|<[a-z][a-z ._'-]+>|\{\{?[a-z][a-z ._'-]+\}?\}|"
    r"same as (?:above|before)|see above|to be (?:added|completed|determined|written|filled(?: in)?)|"
    r"coming soon|\(?blank\)?|\(?empty\)?"
    r")$"
)
# "No output required", "No output, GPT model cannot create visuals.", "<No output. The task requires a poster>"
_NO_OUTPUT = r"(?i)^[\s\"'`*_<(\[]*no\s*-?\s*output\b(?:[\s,.:;!>)\]-]|$)"
# a prompt about what a program prints or returns: "no output" may be the answer
_PROGRAM_OUTPUT = (r"(?i)\b(?:output|outputs|print\w*|code|program|function|script|returns?|console|compil\w*|"
                   r"execut\w*|run|runs)\b")
# a template's personal-detail slots ("Dear [Insert Name],", "[insert date]") are a letter's convention,
# like "[Name]": not missing content
_SLOT = r"(?i)[\[<(]\s*(?:insert|enter|fill in)\s(?:(?:your|the|recipient'?s?|customer'?s?|company|manager'?s?|first|last|full) )*" \
        r"(?:name|date|address|company|title|position|phone(?: number)?|e-?mail(?: address)?|signature)\s*[\]>)]"
_EMBEDDED = (
    r"(?i)[\[<(]\s*(?:insert|enter|paste|fill in)\s[a-z' ]{1,60}[\]>)]|"
    r"[\[<(]\s*(?:add|type|write|put)\s[a-z' ]{0,60}here\s*[\]>)]|"
    rf"(?:your|insert) {_META} (?:goes )?here|"
    r"<\s*no\s*-?\s*(?:output|input)\s*>"
)


class PlaceholderOutputParams(CheckParams):
    threshold: float = decision(0.5)
    """Flag scores at least this (1.0: whole-answer placeholder, 0.6: embedded fill-in marker)."""


@register
class PlaceholderOutput(RowCheck):
    name = "placeholder_output"
    description = "The answer is a placeholder (N/A, <nooutput>, TODO, [insert ... here], lorem ipsum...)."
    scores = {
        "placeholder_output_score": Score(
            "1 = the whole answer is a placeholder, 0.6 = contains a fill-in marker, 0 = neither "
            "(0..1); higher is worse", 0, 1, worse="higher"),
    }
    default = True
    order = 50
    weight = 1.0
    threshold = Threshold("threshold", "placeholder_output_score", ">=")
    Params = PlaceholderOutputParams

    def score(self, batch: pa.Table) -> pa.Table:
        # the answer's patterns run once per distinct answer (datasets repeat answers), then per row
        enc = pc.dictionary_encode(text_array(batch["output"]))
        codes = enc.indices.to_numpy(zero_copy_only=False)
        text = enc.dictionary
        core = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        core = pc.replace_substring_regex(core, pattern=r"^[\s\"'`“”‘’«»*_]+|[\s\"'`“”‘’«»*_.!:]+$",
                                          replacement="")
        core = pc.replace_substring_regex(core, pattern=r"\s+", replacement=" ")
        whole = pc.match_substring_regex(core, pattern=_WHOLE).to_numpy(zero_copy_only=False)
        # "..." alone is stripped to "" above: keep it a placeholder (and "" an empty_output matter)
        dots = pc.match_substring_regex(text, pattern=r"^\s*(?:\.{2,}|…+)\s*$").to_numpy(zero_copy_only=False)
        unslotted = pc.replace_substring_regex(text, pattern=_SLOT, replacement=" ")
        embedded = pc.match_substring_regex(unslotted, pattern=_EMBEDDED).to_numpy(zero_copy_only=False)
        opening = pc.match_substring_regex(pc.utf8_slice_codeunits(text, 0, 40), pattern=_NO_OUTPUT)
        opening = pc.fill_null(opening, False).to_numpy(zero_copy_only=False)[codes]
        if opening.any() and "prompt" in batch.column_names:
            # only the few rows that open with "No output" pay for reading their prompt
            i = np.flatnonzero(opening)
            prompt = pc.utf8_slice_codeunits(pc.fill_null(batch["prompt"], "").take(pa.array(i)), 0, 1000)
            opening[i] = ~pc.fill_null(pc.match_substring_regex(prompt, pattern=_PROGRAM_OUTPUT), False).to_numpy(
                zero_copy_only=False)
        whole = whole[codes] | opening
        score = np.where(whole | dots[codes], WHOLE, np.where(embedded[codes], EMBEDDED, 0.0)).astype(np.float32)
        return pa.table({"placeholder_output_score": pa.array(score)})

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["placeholder_output_score"].to_numpy(zero_copy_only=False) >= self.params.threshold
