"""``missing_context``: the prompt relies on something the model cannot see.

A model trained on "Summarize this article: https://..." learns to invent an article; on "Describe
the image below" with no image, to invent an image. The check reads the prompt (its first
``scan_chars``), splits it into the instruction (the first sentence: up to a line break or ": ",
". ", "? ", "! ") and the input (the rest), and looks for, strongest first:

* ``link_input`` (0.9): the input is a link: a URL, bare domain, markdown or HTML image, alone on
  its line or with a label ("Article 1: https://...", "Website: www.example.com"), or the
  instruction ends with one, and fewer than ``min_content_words`` other words are given;
* ``link_read`` (0.85): the instruction asks to read, summarize, visit or watch a link it holds
  ("Read https://... and summarize it", "the video at https://...");
* ``attachment`` (0.8): "the attached file", "the image I uploaded", "see attachment", with no
  text pasted;
* ``placeholder`` (0.7): the input is a bare stand-in: "[Image]", "<image>", "[photo]", "<Insert
  photo here>", "(attached image)", "[Link to article]", "Attach the photo". One that describes
  the media ("[Picture of an eagle]") is read as text, as an input "Photo of a flower field" is;
* ``media_absent`` (0.6): the instruction points at media ("this photo", "the following gif",
  "the creature in the picture", "given a photograph") and nothing follows;
* ``text_absent`` (0.55): it points at a text ("the following article:", "the passage below",
  "this sentence") and nothing follows, not even inline ("Solve this equation 3x + 6 = 24" holds it).

A link is missing context only when the model must open it: when the task uses it as a string
(HTML, an API request, a citation, parsing, a domain, a script or program that fetches it), the
link kinds and placeholders score 0.3 (recorded, below the threshold). A link mentioned inside
text ("Classify this tweet: Check out https://... for more") is content, not the input. A
statement ("I love this song.", "This is a map.") is no request for what it mentions. E-mail
addresses are not links.

Score ``missing_context_score`` (0..1, higher is worse), flagged at ``threshold`` (0.5); the kind
is in ``missing_context_kind``. A threshold of 0.65 keeps the link, attachment and placeholder
kinds only, 0.75 the link and attachment kinds.

Measured (``.venv/bin/python benchmarks/bench_alpaca.py --checks missing_context --split tune``,
then ``--split check``): Alpaca 52k against the AlpacaDataCleaned volunteers' fixes, URL / media /
attachment fixes caught 26/26 (tune) and 24/24 (check, out of sample), at 0.50% (63 of 12,687) and
0.45% (56 of 12,583) of the rows they kept unchanged; read one by one, all 63 tune flags and 54 of
the 56 check flags are rows the partial cleaning missed (a URL, image, placeholder or absent text
the model cannot see); the two others work on the link itself ("Normalize the following URL"). Other data: 0 flags on Dolly (2,996 rows), GPTeacher Toolformer (7,673),
Bitext customer support (4,514 and 6,480), Tatoeba as "Translate to French: ..." (76,038); 0.08%
on bare Tatoeba sentences as prompts ("Who painted this picture?"). Speed: the check's stage takes
0.29-0.39 s of ``finesift.audit`` on the 52k Alpaca rows (135,000-175,000 rows/s, one core, batches
of 8,192), about 0.8x the speed of the check it replaced measured side by side.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, matches, register, text_array

# Patterns use ASCII classes on purpose: the triggers are English words, and RE2 compiles Unicode
# classes slowly (pyarrow recompiles per call, i.e. per batch).

#: what a link becomes before the prompt is read: one word that no text contains
LINK = "zqlinkqz"

_MEDIA = (r"(?:images?|pictures?|pics?|photos?|photographs?|screenshots?|screen ?shots?|videos?|video clips?|clips?|"
          r"gifs?|audio|audio clips?|recordings?|voice notes?|podcasts?|songs?|diagrams?|figures?|charts?|graphs?|"
          r"maps?|drawings?|sketch|sketches|paintings?|artworks?|illustrations?|infographics?|logos?|comics?|"
          r"memes?|scans?|pdfs?|slides?|slideshows?|posters?|designs?|x-rays?)")
_DOCS = (r"(?:documents?|docs?|files?|attachments?|spreadsheets?|excel|csv|pdfs?|resumes?|cv|reports?|articles?|"
         r"web ?pages?|websites?|sites?|pages?|links?|urls?|blog posts?|posts?|tweets?|emails?|e-mails?|letters?|"
         r"text|texts|passages?|paragraphs?|essays?|stories|story|poems?|transcripts?|lyrics|code|snippets?|"
         r"tables?|data|dataset|papers?|chapters?|books?|contracts?|notes)")
_TEXTS = (r"(?:text|article|passage|paragraph|document|essay|e-?mail|letter|story|poem|haiku|report|transcript|"
          r"conversation|dialogue|dialog|review|excerpt|code|snippet|script|paper|chapter|abstract|blog post|"
          r"post|thread|lyrics|contract|notes|question|questions|sentence|sentences|statement|paragraphs|"
          r"passages|texts|articles|documents|data|table|dataset|list|equation|problem|words|phrase)")

#: links and embedded media, replaced by LINK (embeds first: they hold URLs)
_LINKS = (
    r"!\[[^\]\n]{0,200}\]\s?(?:\([^)\n]*\)|\[[^\]\n]{0,40}\])",   # markdown image
    r"(?m)^[ \t]*\[[^\]\n]{1,40}\]:[ \t]*\S+",                            # markdown reference definition
    r"(?i)<(?:img|video|audio|iframe|source|embed|object)\b[^>\n]*>",  # HTML media tags
    r"<[^<>\n]{0,60}(?:https?://|www\.)[^<>\n]*>",                 # <image: https://...>
    r"(?i)(?:https?://|www\.)\S+",
    # a bare domain ("example.com", "site.org/page"); an e-mail address was removed before
    (r"(?i)\b[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,3}\.(?:com|org|net|edu|gov|io|co|uk|us|de|fr|info|"
     r"ly|me|tv|ai|app|dev|biz)\b(?:/\S*)?"),
)
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
#: "Article 1: <link>", "Website URL - <link>": a short label before a link is part of the link
_LABEL = rf"(?m)^[ \t]*(?:[A-Za-z][A-Za-z0-9 ._()'/-]{{0,30}}[:=\-][ \t]*)?{LINK}"
#: a payload line that is only links (and labels)
_LINK_LINE = rf"(?m)^[\s\W]*{LINK}(?:[\s\W]*(?:and[\s\W]+)?{LINK})*[\s\W]*$"

#: the task works on the link as a string (markup, requests, citations, parsing) or writes code for it
STRING_TASK = (
    r"(?i)\b(?:html|css|href|anchor|hyperlinks?|api|apis|endpoints?|https?|requests?|curl|wget|domains?|"
    r"subdomains?|protocols?|query strings?|parameters?|encod\w*|decod\w*|pars(?:e|es|ed|er|ing)|regex\w*|"
    r"regular expressions?|validat\w*|valid|invalid|shorten\w*|broken|cite|citations?|citing|apa|mla|"
    r"bibliograph\w*|qr codes?|ip address\w*|dns|redirect\w*|scrap\w*|crawl\w*|download\w*|fetch\w*|code|"
    r"program|programs|script|function|python|javascript|java|php|sql|bash|shell|markdown|json|xml|phishing|"
    r"malicious|suspicious|spam|scam|safe|secure|bookmarks?)\b"
    r"|(?:create|generate|make|construct|insert|add|embed|replace|format|write)\s+(?:an?\s+|the\s+|this\s+)?"
    r"(?:link|hyperlink|url)"
)
#: a verb that asks the model to read, watch or visit what a link points to
LINK_READ = (
    r"(?i)(?:^|[^A-Za-z])(?:read|summari[sz]e|visit|open|check out|go to|look at|watch|listen to|view|browse|"
    r"analy[sz]e|review|describe|explain|evaluate|based on|according to|referring to)\s(?:[^\n]{0,60}?\s)?"
    + LINK +
    r"|(?:^|[^A-Za-z])" + _MEDIA + r"\s+(?:at|on|in|from)\s+" + LINK
    + r"|(?:^|[^A-Za-z])" + _DOCS + r"\s+(?:at|on|in|from)\s+" + LINK
)
#: a payload line that is a bare stand-in for media or a document: "[Image]", "<image>", "<Insert photo here>",
#: "Painting: (attached image)", "Attach the photo". One that describes the media ("[Picture of an eagle]",
#: "[Figure: an apple tree]") is a text stand-in, like an input "Photo of a flower field", and is read as text.
PLACEHOLDER = (
    r"(?im)^[ \t]*(?:[A-Za-z][A-Za-z ]{0,20}:[ \t]*)?[\[<({]{1,2}[ \t]*(?:(?:insert|paste|attach|upload|add|embed|"
    r"include)\w*[ \t]+)?(?:(?:an?|the|your|my|link to(?: an?| the)?|url (?:of|to)(?: an?| the)?)[ \t]+)?"
    r"(?:(?:attached|uploaded|embedded|enclosed|sample|example|[A-Za-z-]+)[ \t]+)?(?:" + _MEDIA + "|" + _DOCS
    + r"|attachment)(?:[ \t]+(?:attached|uploaded|here|included[A-Za-z ]{0,20}|file|link|url|goes here))?"
    r"[ \t]*[\]>)}]{1,2}[ \t.]*$"
    r"|^[ \t]*(?:attach|insert|upload|paste|add|include|embed)\w*[ \t]+(?:an?[ \t]+|the[ \t]+|your[ \t]+|my[ \t]+)?"
    r"(?:[A-Za-z-]+[ \t]+)?(?:" + _MEDIA + "|" + _DOCS + r")\b[^\n]{0,20}$"
)
ATTACHMENT = (
    r"(?i)(?:^|[^A-Za-z])(?:attached|enclosed|uploaded)\s+(?:[A-Za-z-]+\s+)?(?:" + _MEDIA + "|" + _DOCS + r")\b"
    r"|(?:^|[^A-Za-z])(?:" + _MEDIA + "|" + _DOCS + r")\s+(?:that\s+|which\s+)?(?:i\s+|i'?ve\s+|i\s+have\s+|we\s+)?"
    r"(?:attached|uploaded|enclosed|sent you|shared)"
    r"|(?:^|[^A-Za-z])(?:see|check|refer to|open|in|from|using)\s+(?:the\s+|my\s+|this\s+)?(?:attachment|attached)"
)
#: the instruction points at media: "this photo", "the image below", "the creature in the picture"
MEDIA_REF = (
    r"(?i)(?:^|[^A-Za-z])(?:this|these|following|above|below|given|provided|attached|uploaded|"
    r"accompanying|enclosed|shown|included)\s+(?:[A-Za-z-]+\s+){0,2}" + _MEDIA + r"(?:[^A-Za-z]|$)"
    r"|(?:^|[^A-Za-z])" + _MEDIA + r"\s+(?:above|below|provided|shown|attached|included|here)(?:[^A-Za-z]|$)"
    r"|(?:^|[^A-Za-z])(?:in|on|from)\s+the\s+(?:image|picture|photo|photograph|video|screenshot|gif|clip|"
    r"drawing|painting|diagram|chart|graph)s?(?:[^A-Za-z]|$)"
)
#: a media word used as a modifier ("photo editing app", "image recognition"): not a reference to one
MEDIA_MODIFIER = (
    r"(?i)" + _MEDIA + r"\s+(?:edit\w*|album|shoot|booth|frame|gallery|filter|sharing|app|apps|application|"
    r"software|tool|format|recognition|processing|classification|classifier|generat\w*|caption\w*|compression|"
    r"size|resolution|quality|of\s+speech)"
)
#: the instruction points at a text: "this article", "the passage below", "the following question"
TEXT_REF = (
    r"(?i)(?:^|[^A-Za-z])(?:this|these|the following|following|the above|the below|the given|the provided|"
    r"the attached|the preceding|the previous|the aforementioned)\s+(?:[A-Za-z-]+\s+){0,2}" + _TEXTS
    + r"(?:[^A-Za-z]|$)"
    r"|(?:^|[^A-Za-z])" + _TEXTS + r"\s+(?:above|below)(?:[^A-Za-z]|$)"
    r"|(?:^|[^A-Za-z])(?:summari[sz]e|paraphrase|translate|proofread|rewrite|analy[sz]e|shorten|simplify|"
    r"correct|edit|improve)\s+the\s+(?:[A-Za-z]+\s+)?" + _TEXTS + r"\s*[.?!]?\s*$"
    r"|(?:the\s+following|below|as follows)\s*:\s*$"
)
#: the instruction: the prompt's first sentence
HEAD = r"^\s*(?P<head>(?:[^:.?!\n]|[:.?!][^\s])*)"
#: an input that says there is none
NO_INPUT = r"(?i)^\W*(?:<\s*no\s*-?\s*input\s*>|no\s+input|n/?a|none|null|nil|empty|-)\W*$"
#: a sentence that opens with its subject: a statement, unless it asks something
STATEMENT = (r"(?i)^\W*(?:i|i'm|i've|i'd|i'll|we|we're|we've|they|they're|he|she|it|it's|my|our|his|her|"
             r"their|there|here)\b"
             r"|^\W*(?:(?:now|so|well|but|and|perhaps|maybe|oh)[,\s]+)?(?:this|these|that|those)\s+"
             r"(?:[A-Za-z-]+\s+){0,2}(?:is|isn't|are|aren't|was|wasn't|were|has|have|looks?|seems?|sounds?|makes?|"
             r"made|needs?|doesn't|don't|didn't|can't|won't|will|would|should|must|can|could|affects?)\b")
#: content written into the instruction after its reference
INLINE_CONTENT = r"[:=+*/^<>\-\x{2013}\x{2014}\"\x{201c}\x{201d}\x{2018}\x{2019}]|\d\s*[a-z]\b"
#: cheap pre-filters: a prompt without any of these words holds no evidence of that kind
_TLDS = r"(?:com|org|net|edu|gov|io|co|uk|us|de|fr|info|ly|me|tv|ai|app|dev|biz)"
LINKY = rf"(?i)://|www\.|\.{_TLDS}\b|!\[|<(?:img|video|audio|iframe|source|embed|object)\b"
_MEDIA_WORD = (r"(?i)image|picture|pic|photo|screen|video|clip|gif|audio|record|voice|podcast|song|diagram|figure|"
               r"chart|graph|map|drawing|sketch|painting|artwork|illustration|infographic|logo|comic|meme|scan|pdf|"
               r"slide|poster|design|x-ray")
_DEIXIS_WORD = (r"(?i)this|these|follow|above|below|given|provided|attached|preceding|previous|aforementioned|"
                r"summar|paraphras|translat|proofread|rewrite|analy|shorten|simplif|correct|edit|improve")
GATE = rf"{LINKY}|[\[<({{]|attach|enclos|upload|{_MEDIA_WORD[4:]}|{_DEIXIS_WORD[4:]}"
REQUEST = r"(?i)\?\s*$|^\W*i(?:\s+would\s+like|'d\s+like|\s+want|\s+need)\s+you\b"
#: a word (any script): a run of characters that are neither space nor ASCII punctuation
WORDS = r"[^\s!-/:-@\[-`{-~]+"
#: quoted content of a few words in the instruction ("Rewrite this sentence: 'It was hot'")
QUOTED = (r"[\"\x{201c}][^\"\x{201c}\x{201d}\n]*[A-Za-z][^\"\x{201c}\x{201d}\n]*[\"\x{201d}]"
          r"|(?:^|\s)['\x{2018}][^'\x{2018}\x{2019}\n]*[A-Za-z][^'\x{2018}\x{2019}\n]*['\x{2019}](?:\W|$)")

#: evidence kind -> score, most certain first (a threshold between them keeps only the stronger kinds)
EVIDENCE: dict[str, float] = {
    "link_input": 0.9,     # the input is a link (URL, embedded image): the model cannot open it
    "link_read": 0.85,     # "read https://... and summarize it", "the article at https://..."
    "attachment": 0.8,     # "the attached file", "the image I uploaded", with no text pasted
    "placeholder": 0.7,    # the input is a stand-in: "[Image]", "<Insert photo here>", "(attached image)"
    "media_absent": 0.6,   # "describe this photo" and nothing follows
    "text_absent": 0.55,   # "summarize the following article:" and nothing follows
}
GUARDED = 0.3
#: kinds about a link or a bracketed stand-in, which a string task (HTML, a citation) works on as text
STRING_KINDS = ("link_input", "link_read", "placeholder")
KINDS = tuple(EVIDENCE)


class MissingContextParams(CheckParams):
    threshold: float = decision(0.5, ge=0.0, le=1.0)
    """Flag scores at least this (0.55..0.9: the prompt needs something it does not hold, by kind; 0.3: a link
    or placeholder the task uses as a string, e.g. HTML or a citation, recorded only)."""
    min_content_words: int = 12
    """Words of input (links not counted) that count as the referenced content being pasted in."""
    scan_chars: int = 3000
    """Characters at the start of the prompt that are read (what the instruction refers to is near it)."""
    string_guard: bool = True
    """Score links low when the task uses the link as a string (HTML, an API request, a citation, parsing)."""


@register
class MissingContext(RowCheck):
    name = "missing_context"
    description = ("The prompt needs something the model cannot see (a URL to open, an image, a video, an "
                   "attachment, 'the text below' with nothing below).")
    scores = {
        "missing_context_score": Score(
            "strength of the strongest missing-context evidence (0..1); higher is worse", 0, 1, worse="higher"),
        "missing_context_kind": Score("the strongest evidence: link_input, placeholder, attachment, link_read, "
                                      "media_absent or text_absent; null = none"),
    }
    default = True
    order = 110
    weight = 0.5
    threshold = Threshold("threshold", "missing_context_score", ">=")
    Params = MissingContextParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: MissingContextParams = self.params  # type: ignore[assignment]
        text = pc.utf8_slice_codeunits(text_array(batch["prompt"]), 0, p.scan_chars)
        n = len(text)
        score = np.zeros(n, dtype=np.float64)
        kind = np.full(n, None, dtype=object)
        rows = np.flatnonzero(matches(text, GATE))
        if not len(rows):
            return _table(score, kind)
        t = text.take(pa.array(rows))
        # links become one word first, so that "https://a.b/c?d" neither ends a sentence nor counts as text;
        # only the few rows that hold one pay for the rewriting
        linky = matches(t, LINKY)
        if linky.any():
            idx, rest = np.flatnonzero(linky), np.flatnonzero(~linky)
            lt = pc.replace_substring_regex(t.take(pa.array(idx)), pattern=_EMAIL, replacement=" ")
            for pattern in _LINKS:
                lt = pc.replace_substring_regex(lt, pattern=pattern, replacement=f" {LINK} ")
            lt = pc.replace_substring_regex(lt, pattern=_LABEL, replacement=LINK)
            t = pa.concat_arrays([t.take(pa.array(rest)), lt]).take(pa.array(np.argsort(np.concatenate([rest, idx]))))
        # the instruction is the first sentence: up to a line break or ": ", ". ", "? ", "! "; what follows
        # is the input, where "this photo" is just content
        head = pc.struct_field(pc.extract_regex(t, HEAD), [0])
        tail = pc.replace_substring_regex(t, pattern=HEAD, replacement="", max_replacements=1)
        # "<noinput>", "N/A": an input that says there is none
        none = matches(pc.utf8_slice_codeunits(tail, 0, 24), NO_INPUT) & (pc.utf8_length(tail).to_numpy() <= 24)
        if none.any():
            tail = pc.if_else(pa.array(none), "", tail)
        has_link = linky & matches(t, LINK)
        # only whether the input is empty, short or long matters: its first 2,000 characters tell
        short = pc.utf8_slice_codeunits(tail, 0, 2000)
        tail_words = _count(pc.replace_substring_regex(short, pattern=LINK, replacement=" ") if linky.any() else short,
                            WORDS)
        present = tail_words >= p.min_content_words
        hits = {code: np.zeros(len(rows), dtype=bool) for code in EVIDENCE}
        guarded = np.zeros(len(rows), dtype=bool)

        on = has_link & ~present
        if on.any():
            i = np.flatnonzero(on)
            h, tl = head.take(pa.array(i)), tail.take(pa.array(i))
            hits["link_input"][i] = matches(tl, _LINK_LINE) | matches(h, rf"{LINK}\W*$")
            hits["link_read"][i] = matches(h, LINK_READ)
            if p.string_guard:
                guarded[i] = matches(pc.replace_substring_regex(t.take(pa.array(i)), pattern=LINK, replacement=" "),
                                    STRING_TASK)
        on = (tail_words <= 8) & matches(tail, r"(?i)[\[<({]|attach|insert|upload|paste|add|include|embed")
        if on.any():
            i = np.flatnonzero(on)
            tl = tail.take(pa.array(i))
            # a payload with closing tags is markup, where "<image>" or "<table>" is an element
            hits["placeholder"][i] = matches(tl, PLACEHOLDER) & ~matches(tl, r"</|/>")
            if p.string_guard:
                guarded[i] |= matches(t.take(pa.array(i)), STRING_TASK)
        on = ~present & matches(head, r"(?i)attach|enclos|upload")
        if on.any():
            i = np.flatnonzero(on)
            hits["attachment"][i] = matches(pc.replace_substring_regex(head.take(pa.array(i)), pattern=LINK,
                                                                      replacement=" "), ATTACHMENT)
        # a reference with nothing after it; a statement ("I love this song.", "This is a map.") is no request
        # for the thing it mentions, and quoted words are the content
        on = (tail_words == 0) & ~has_link
        if on.any():
            i = np.flatnonzero(on)
            h = head.take(pa.array(i))
            ok = ~matches(h, QUOTED) & ~(matches(h, STATEMENT) & ~matches(h, REQUEST))
            hits["media_absent"][i] = ok & _where(ok & matches(h, _MEDIA_WORD), h, _media_ref)
            hits["text_absent"][i] = ok & _where(ok & matches(h, _DEIXIS_WORD), h, _text_ref)

        s = np.zeros(len(rows))
        k = np.full(len(rows), None, dtype=object)
        for code, strength in EVIDENCE.items():
            hit = hits[code]
            # a link or a markup placeholder the task works on as a string is no missing context
            value = np.where(hit, np.where(guarded & (code in STRING_KINDS), GUARDED, strength), 0.0)
            better = value > s
            s[better] = value[better]
            k[better] = code
        score[rows], kind[rows] = s, k
        return _table(score, kind)

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["missing_context_score"].to_numpy(zero_copy_only=False) >= self.params.threshold


def _table(score: np.ndarray, kind: np.ndarray) -> pa.Table:
    return pa.table({"missing_context_score": pa.array(score, pa.float64()),
                     "missing_context_kind": pa.array(kind, pa.string())})


def _media_ref(head: pa.Array) -> np.ndarray:
    # what the instruction says after its reference: a colon, dash, quote or formula there is the content
    # inline ("Describe this photo: a red barn"), "of ..." describes the media in words
    found, after = _after(head, MEDIA_REF)
    return (found & ~matches(head, MEDIA_MODIFIER) & ~matches(after, INLINE_CONTENT)
            & ~matches(after, r"(?i)^\s*of\s"))


def _text_ref(head: pa.Array) -> np.ndarray:
    # inline content ("Solve this equation 3x + 6 = 24", "Answer this question - how old is ...") follows a
    # colon, dash, quote or formula; a few plain words ("... in 3 sentences") are the rest of the instruction
    found, after = _after(head, TEXT_REF)
    return found & ~matches(after, INLINE_CONTENT) & (_count(after, WORDS) <= 6)


def _where(mask: np.ndarray, texts: pa.Array, fn) -> np.ndarray:
    """``fn`` of the texts where ``mask`` holds, False elsewhere (the costly patterns run on few rows)."""
    out = np.zeros(len(mask), dtype=bool)
    if mask.any():
        i = np.flatnonzero(mask)
        out[i] = fn(texts.take(pa.array(i)))
    return out


def _after(texts: pa.Array, pattern: str) -> tuple[np.ndarray, pa.Array]:
    """Where ``pattern`` matches, and the text after its first match ("" where none)."""
    flags, body = (pattern[:4], pattern[4:]) if pattern.startswith("(?i)") else ("", pattern)
    found = pc.extract_regex(texts, pattern=f"{flags}(?:{body})(?P<after>.*)$")
    return (pc.is_valid(found).to_numpy(zero_copy_only=False),
            pc.fill_null(pc.struct_field(found, [0]), ""))


def _count(texts: pa.Array, pattern: str) -> np.ndarray:
    if len(texts) == 0:
        return np.zeros(0, dtype=np.int64)
    return pc.fill_null(pc.count_substring_regex(texts, pattern=pattern), 0).to_numpy(zero_copy_only=False)
