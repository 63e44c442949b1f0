"""``missing_context``: the prompt relies on something the model cannot see.

Evidence (strength; the score is the strongest one):

All of it is looked for in the instruction: the prompt's first sentence, up to a line
break or ": ", ". ", "? " (the rest is the payload, where "I attached the file" is just
text to translate).

* an attachment: "the attached file", "see attachment", "the image I uploaded"    0.9
* "summarize the following" / "below:" with nothing following                    0.9
* an image, screenshot, photo, video or recording "this/the/shown in the ..."    0.8
* "this article/passage/document/text/email/code", "the text above/below" while
  the prompt carries no such text (fewer than ``min_content_words`` words after
  the instruction)                                                              0.8
* "this link"/"the URL" without one, or a URL to read ("read https://... and
  summarize"): the model cannot browse                                          0.7

Score ``missing_context_score`` (0..1, higher is worse); flagged at ``threshold`` (0.5).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, register, text_array

# Patterns use ASCII classes on purpose: the triggers are English words, and RE2 compiles Unicode
# classes slowly (pyarrow recompiles per call, i.e. per batch: \pL-heavy patterns cost ~10 ms each).

_MEDIA = r"(?:image|images|picture|pictures|photo|photos|photograph|screenshot|screen shot|screenshots|video|clip|" \
         r"audio|recording|voice note|scan|scanned|diagram|figure|chart|graph|map|drawing|sketch|pdf|slide|slides)"
_FILES = rf"(?:file|files|document|doc|attachment|spreadsheet|excel|csv|pdf|resume|cv|report|{_MEDIA})"
_TEXTS = r"(?:text|article|passage|paragraph|document|essay|e-?mail|letter|story|poem|report|transcript|" \
         r"conversation|dialogue|dialog|review|excerpt|code|snippet|script|table|paper|chapter|abstract|" \
         r"post|thread|lyrics|contract|notes)"

ATTACHMENT = (
    rf"(?i)(?:^|[^A-Za-z])(?:attached|enclosed|uploaded)\s+(?:[A-Za-z]+\s+)?{_FILES}"
    rf"|(?:^|[^A-Za-z]){_FILES}\s+(?:that\s+|which\s+)?(?:i\s+|i'?ve\s+|i\s+have\s+|we\s+)?(?:attached|uploaded|"
    r"enclosed|sent you|shared|provided above)"
    r"|(?:^|[^A-Za-z])(?:see|check|refer to|open|in|from|using)\s+(?:the\s+|my\s+|this\s+)?(?:attachment|attached)"
)
MEDIA = (
    rf"(?i)(?:^|[^A-Za-z])(?:this|these|the attached|the following|the above|the below)\s+{_MEDIA}(?:[^A-Za-z]|$)"
    rf"|(?:in|on|from)\s+the\s+{_MEDIA}\s+(?:above|below|provided|shown|given)"
    rf"|(?:shown|depicted|displayed|pictured)\s+(?:in|on)\s+(?:the|this)\s+{_MEDIA}"
    rf"|(?:^|[^A-Za-z])(?:look at|describe|caption)\s+(?:this|the)\s+{_MEDIA}(?:[^A-Za-z]|$)"
)
DEICTIC = (
    rf"(?i)(?:^|[^A-Za-z])(?:this|the following|the above|the below|the given|the provided|the attached|"
    rf"the preceding|the previous)\s+(?:[A-Za-z]+\s+)?{_TEXTS}(?:[^A-Za-z]|$)"
    rf"|(?:^|[^A-Za-z]){_TEXTS}\s+(?:above|below)(?:[^A-Za-z]|$)"
    rf"|(?:^|[^A-Za-z])(?:above|below)\s+{_TEXTS}(?:[^A-Za-z]|$)"
    # "Summarize the passage." -- a bare "the <text>" that ends the instruction
    rf"|(?:^|[^A-Za-z])(?:summari[sz]e|paraphrase|translate|proofread|rewrite|analy[sz]e|shorten|simplify|"
    rf"correct|edit|improve)\s+the\s+(?:[A-Za-z]+\s+)?{_TEXTS}\s*[.?!]?\s*$"
)
NOTHING_FOLLOWS = r"(?i)(?:the\s+following|below|as follows)(?:\s+[A-Za-z]+){0,3}\s*[.]?\s*$"
LINK = (
    r"(?i)(?:^|[^A-Za-z])(?:read|summari[sz]e|visit|open|check out|go to|look at|analy[sz]e|review|watch|listen to|"
    r"based on|according to|describe|explain|browse|scrape)\s[^\n]{0,60}?https?://"
    r"|(?:^|[^A-Za-z])(?:this|the following|the above|the)\s+(?:link|url|website|webpage|web page)(?:[^A-Za-z]|$)"
)


class MissingContextParams(CheckParams):
    threshold: float = decision(0.5)
    """Flag scores at least this."""
    min_content_words: int = 12
    """Words after the instruction that count as the referenced text being present (scoring knob)."""


@register
class MissingContext(RowCheck):
    name = "missing_context"
    description = "The prompt needs something the model cannot see (an attachment, image, 'the text above', a URL)."
    scores = {
        "missing_context_score": Score(
            "strength of the strongest missing-context evidence (0..1); higher is worse", 0, 1, worse="higher"),
    }
    default = True
    order = 110
    weight = 0.5
    threshold = Threshold("threshold", "missing_context_score", ">=")
    Params = MissingContextParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: MissingContextParams = self.params  # type: ignore[assignment]
        text = text_array(batch["prompt"])
        n = len(text)
        score = np.zeros(n, dtype=np.float32)
        # the instruction is the first sentence: up to a line break or ": ", ". ", "? ", "! " (not
        # "https:", "e.g."); what follows is the payload, where "this photo" is just content
        parts = pc.extract_regex(text, r"(?s)^(?P<head>(?:[^:.?!\n]|[:.?!][^\s])*)(?P<tail>.*)$")
        head_all = parts.field("head")
        # cheap gate: most instructions mention none of the trigger words
        gate = pc.match_substring_regex(
            head_all, pattern=r"(?i)attach|enclos|upload|image|picture|photo|screen|video|clip|audio|record|scan|"
                              r"diagram|figure|chart|graph|map|drawing|sketch|pdf|slide|this|these|following|"
                              r"above|below|given|provided|preceding|previous|http|link|url|web|summar|paraphras|"
                              r"translat|proofread|rewrite|analy|shorten|simplif|correct|edit|improve"
        ).to_numpy(zero_copy_only=False)
        gate &= ~pc.match_substring_regex(head_all, pattern=r"(?i)^\s*translate (?:in)?to \w+\s*$").to_numpy(
            zero_copy_only=False)  # "Translate to French: <payload>" needs nothing more
        rows = np.flatnonzero(gate)
        if not len(rows):
            return pa.table({"missing_context_score": pa.array(score)})

        def has(arr, pattern: str) -> np.ndarray:
            return pc.match_substring_regex(arr, pattern=pattern).to_numpy(zero_copy_only=False)

        head, tail = head_all.take(pa.array(rows)), parts.field("tail").take(pa.array(rows))
        tail_words = pc.count_substring_regex(tail, pattern=r"\w+").to_numpy(zero_copy_only=False)
        link_present = has(head, r"https?://|www\.")
        s = np.zeros(len(rows))
        s = np.maximum(s, 0.9 * has(head, ATTACHMENT))
        s = np.maximum(s, 0.9 * (has(head, NOTHING_FOLLOWS) & (tail_words == 0)))
        s = np.maximum(s, 0.8 * has(head, MEDIA))
        s = np.maximum(s, 0.8 * (has(head, DEICTIC) & (tail_words < p.min_content_words)))
        link = has(head, LINK)
        named_link = has(head, r"(?i)(?:this|the following|the above|the)\s+(?:link|url|website|webpage)")
        s = np.maximum(s, 0.7 * (link & (link_present | named_link)))
        score[rows] = s
        return pa.table({"missing_context_score": pa.array(score)})

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["missing_context_score"].to_numpy(zero_copy_only=False) >= self.params.threshold
