"""``echo_output``: the answer repeats the prompt instead of answering it.

Catches an English "translation" that copies the English sentence, an answer that
restates the instruction, or one that pastes the input back. Texts are normalized
(the ``norm_prompt`` / ``norm_output`` features: NFKC, lower case; then spacing and ASCII
punctuation removed) and cut into overlapping 5-character shingles, so near-verbatim copies ("I'm very happy" for "I am very
happy") still match.

Task-aware: many instructions ask for a copy of their input with a small change -- rewrite,
edit, correct, punctuate, capitalize, sort, rank, match, format as JSON or a table, extract or
select a sentence. Their answers legitimately reproduce the input, so a copy is not flagged
when the instruction asks for one of these (``echo_output_task``), unless the answer also
repeats the instruction itself (then it echoes the prompt, not the task's input). An answer
that returns the input character for character (``echo_output_unchanged``) to such a task is
recorded but not flagged by default (``flag_unchanged``): "correct the grammar" of a sentence
that has none is answered by the sentence.

Scores:

* ``echo_output_similarity`` (0..1, higher is worse): share of the answer's shingles found
  in the prompt. 1 = every piece of the answer is copied from the prompt.
* ``echo_output_coverage`` (0..1): share of the prompt's payload (what follows the
  instruction's first ": " or line break; else the whole prompt) that the answer
  reproduces. An echo reproduces most of it; an answer quoting a multiple-choice
  option or extracting one sentence of a long passage does not.
* ``echo_output_novel`` (0..inf): answer shingles not found in the prompt -- new content.
  "The largest state is Alaska." restating the question still adds "is Alaska".
* ``echo_output_words`` (0..inf): words (runs of non-space, non-punctuation characters) in the answer.
* ``echo_output_new_words`` (0..inf): words of the answer (letters or digits) the prompt lacks, function
  words ("is", "the", "I'm") aside. "The sum of the numbers from 1 to 10 is 55." restates its question
  but adds "55": an answer, not an echo.
* ``echo_output_task``: the transformation the instruction asks for when a copy of its input is the
  expected shape of the answer (``rewrite``, ``edit``, ``punctuate``, ``sort``, ``format``,
  ``extract``); null when none, or when the answer repeats the instruction's opening.
* ``echo_output_unchanged``: the answer is the input (the prompt's payload) unchanged, spacing aside.

A row is flagged when similarity >= ``threshold``, coverage >= ``min_coverage``,
novel <= ``max_novel``, new words <= ``max_new_words``, the answer has at least ``min_words`` words
(a one-word echo such as "Taxi!" -> "Taxi !" is often a correct answer) and the instruction asks for
no copy (``task_guard``; or the copy is unchanged and ``flag_unchanged`` is set).

Measured (``.venv/bin/python benchmarks/bench_alpaca.py --checks echo_output --split all --name
alpaca_echo_output``; Alpaca 52k against the AlpacaDataCleaned volunteers' edits): rows people kept
flagged 0.03% on the tune split (4 of 12,687) and 0.02% on the check split (3 of 12,583), down from
1.2% (150) and 1.3% (160) task-blind; all 52k rows: 20 flagged (683 before), mostly real echoes (media
tasks answered by their own description, an input pasted back unchanged). The volunteers fixed no
echo among the labelled rows, so there is no recall to report there. Elsewhere: Dolly 3k 0.77%
(context passages pasted back as the answer), GPTeacher, both Bitext sets and clean Tatoeba 0-1 rows;
Tatoeba answers replaced by their English source: 99.9% flagged, under five prompt templates
("Translate to French: ...", "Convert this English sentence to French: ...", "Rewrite this sentence
in French: ..." ...). Scoring speed: about 25,000 rows/s on Alpaca (40,000 task-blind), 2 shared CPU
cores.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import (
    CheckParams,
    RowCheck,
    Score,
    Threshold,
    decision,
    knob,
    normalize_text,
    register,
    string_bytes,
    text_array,
)

SHINGLE = 5  # bytes: 5 x 8 bits + row index must fit in 63 bits
_ROW_SHIFT = 8 * SHINGLE
_MAX_ROWS = 1 << (63 - _ROW_SHIFT)

#: instructions whose answer is a copy of their input with a change, by kind; matched in the instruction
#: (the prompt before its payload), so a verb inside the input does not count
COPY_TASKS: dict[str, str] = {
    "rewrite": (r"re-?writ(?:e|ing)|re-?phras(?:e|ing)|paraphras(?:e|ing)|re-?word(?:ing)?|restat(?:e|ing)|"
                r"restructur(?:e|ing)|conver(?:t|ting)|transform(?:ing)?|chang(?:e|ing)|modif(?:y|ying)|"
                r"turn (?:it|this|these|the)|make (?:it|this|the)|revers(?:e|ing)|switch(?:ing)?|swap(?:ping)?|"
                r"exchang(?:e|ing)|substitut(?:e|ing)|shorten(?:ing)?|simplif(?:y|ying)|condens(?:e|ing)|"
                r"split(?:ting)?|break (?:it|this|the|up)|combin(?:e|ing)|merg(?:e|ing)|join(?:ing)?|"
                r"connect(?:ing)?|concatenat(?:e|ing)|assembl(?:e|ing)|construct(?:ing)?|cut|divid(?:e|ing)|"
                r"separat(?:e|ing)|align(?:ing)?|emphasi[sz](?:e|ing)|formulat(?:e|ing)|transcrib(?:e|ing)|"
                r"make (?:a |one )?(?:new |single )?sentences?|(?:first|second|third)[- ]person|(?:passive|active) voice|tense|pronouns?|possessive|"
                r"plurals?|pluraliz(?:e|ing)|singular"),
    "edit": (r"edit(?:ing)?|correct(?:ing|ly|ed)?|fix(?:ing)?|proofread(?:ing)?|revis(?:e|ing)|improv(?:e|ing)|"
             r"clean(?:ing)?(?: up)?|repair(?:ing)?|remov(?:e|ing)|delet(?:e|ing|ed)|eliminat(?:e|ing)|"
             r"replac(?:e|ing)|insert(?:ing)?|add(?:ing)?|append(?:ing)?|updat(?:e|ing)|restor(?:e|ing)|"
             r"complet(?:e|ing)|fill(?:ing)? (?:in|out)|blanks?|mistakes?|errors?|typos?|grammar|grammatical(?:ly)?|"
             r"spell(?:ing|ed)?|misspell(?:ing|ed)?|mark(?:ing)?"),
    "punctuate": (r"punctuat(?:e|ing|ion)|capitali[sz](?:e|ing|ation)|upper[- ]?case|lower[- ]?case|all caps|"
                  r"capital letters?|sentence[- ]case|title[- ]case|camel[- ]?case|commas?|semicolons?|hyphens?|"
                  r"apostrophes?|quotation marks?|periods?|spaces?"),
    "sort": (r"sort(?:ing)?|rank(?:ing)?|alphabeti(?:cal(?:ly)?|[sz]e)|order|re-?order(?:ing)?|organi[sz](?:e|ing)|"
             r"re-?organi[sz](?:e|ing)|arrang(?:e|ing)|re-?arrang(?:e|ing)|prioriti[sz](?:e|ing)|group(?:ing)?|"
             r"match(?:ing)?|pair(?:ing)?|chronological(?:ly)?"),
    "classify": (r"classif(?:y|ying)|categori[sz](?:e|ing)|label(?:ing|ling)?|tag(?:ging)?|true or false|"
                 r"false or true|whether|which (?:one|ones|of|sentences?|words?|statements?)"),
    "format": (r"format(?:ting|ted)?|re-?format(?:ting)?|json|yaml|xml|html|csv|markdown|table|matrix|chart|grid|"
               r"bullet(?:ed)?(?: points?| list)?|(?:comma|space|tab)[- ]separated|"
               r"(?:to-do|shopping|numbered|bulleted) list|string|url|code|query|syntax|cite|citation|print|"
               r"(?:make|create) a list|list of (?:words|items)"),
    "extract": (r"extract(?:ing)?|select(?:ing)?|pick(?:ing)?|quot(?:e|es|ing)|highlight(?:ing)?|underlin(?:e|ing)|"
                r"flag(?:ging)?|circl(?:e|ing)|cross (?:out|off)|strike (?:out|through)|copy|paste|repeat|"
                r"identify (?:the|all|any|each|which) (?:\w+ )?(?:sentences?|words?|phrases?|clauses?|parts?|ones?)|"
                r"find (?:the|all|any|a) (?:\w+ )?(?:sentences?|words?|phrases?|quotes?|information|facts?)|"
                r"output the (?:\w+ )?(?:text|sentences?|list|words?|phrases?|input)|relevant"),
}
#: a translation wants another language, so a copy never is its answer, whatever verb asks for it ("convert
#: this sentence to French", "rewrite it in Spanish")
_LANGUAGES = ("english|french|spanish|german|italian|portuguese|dutch|swedish|norwegian|danish|finnish|polish|"
              "czech|russian|ukrainian|greek|turkish|arabic|hebrew|persian|farsi|hindi|urdu|bengali|chinese|"
              "mandarin|cantonese|japanese|korean|vietnamese|thai|indonesian|malay|swahili|latin")
_TRANSLATION = rf"(?i)\btranslat\w*|\b(?:in|into|to)\s+(?:{_LANGUAGES})\b"
_TASK_PATTERN = r"(?i)\b(?:" + "|".join(f"(?P<{k}>{v})" for k, v in COPY_TASKS.items()) + r")\b"
#: the instruction's share of the prompt searched for a copy task
_HEAD_CHARS = 300
#: English function words and contraction pieces: adding them ("I am" for "I'm", "The answer is") is no content
STOPWORDS = frozenset("""
a an the is are was were be been being am it its it's this that these those of to in on at for with by from and or
but as so if then than not no yes do does did done has have had will would shall should can could may might must
here there i me my you your he him his she her we us our they them their s t m d ll re ve don doesn didn isn aren
wasn weren won couldn wouldn shouldn haven hasn hadn answer output response
""".split())
_STOP = pa.array(sorted(STOPWORDS), pa.large_string())


class EchoOutputParams(CheckParams):
    threshold: float = decision(0.8)
    """Flag when at least this share of the answer is copied from the prompt..."""
    min_coverage: float = decision(0.8)
    """...the copy covers at least this share of the prompt's payload..."""
    max_novel: int = decision(4)
    """...the answer adds at most this many new shingles (about as many characters)..."""
    max_new_words: int = decision(0)
    """...and at most this many words the prompt lacks or has in another order, function words aside (a number
    or a name added is an answer)..."""
    max_new_share: float = decision(0.02, ge=0.0, le=1.0)
    """...or at most this share of the answer's words (a long pasted passage with a word changed is still a
    paste)..."""
    min_words: int = decision(2)
    """...the answer has at least this many words..."""
    task_guard: bool = decision(True)
    """...and the instruction does not ask for a copy of its input with a change (rewrite, edit, correct,
    punctuate, sort, match, format, extract): such answers reproduce the input on purpose."""
    flag_unchanged: bool = decision(False)
    """Flag copy-task answers that return the input unchanged (off: the input may have needed no change, as a
    sentence to correct that is already correct)."""
    scan_chars: int = knob(4000, ge=1)
    """Characters of the answer (and four times as many of the prompt) whose words are compared for new
    words: bounded cost on long texts."""


@register
class EchoOutput(RowCheck):
    name = "echo_output"
    description = "The answer repeats the prompt (verbatim or nearly) instead of answering it."
    scores = {
        "echo_output_similarity": Score(
            "share of the answer copied from the prompt (0..1); higher is worse", 0, 1, worse="higher"),
        "echo_output_coverage": Score(
            "share of the prompt's payload reproduced by the answer (0..1)", 0, 1, worse="higher"),
        "echo_output_novel": Score(
            "answer shingles not found in the prompt: new content (0..inf)", 0, float("inf"), worse="lower"),
        "echo_output_words": Score("words in the answer (0..inf)", 0, float("inf")),
        "echo_output_new_words": Score(
            "answer words the prompt lacks, function words aside (0..inf)", 0, float("inf"), worse="lower"),
        "echo_output_task": Score(
            "the copy task the instruction asks for (rewrite, edit, punctuate, sort, format, extract): a copy of "
            "its input is expected; null = none, or the answer repeats the instruction"),
        "echo_output_unchanged": Score("the answer is the prompt's payload unchanged, spacing aside"),
    }
    default = True
    order = 70
    weight = 0.9
    threshold = Threshold("threshold", "echo_output_similarity", ">=")
    Params = EchoOutputParams
    needs = ("norm_prompt", "norm_output")

    def score(self, batch: pa.Table) -> pa.Table:
        p: EchoOutputParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        sim = np.zeros(n, dtype=np.float32)
        cov = np.zeros(n, dtype=np.float32)
        novel = np.zeros(n, dtype=np.int32)
        opening = np.zeros(n, dtype=bool)
        prompt = text_array(batch["prompt"])
        output = text_array(batch["output"])
        head, payload = _split(prompt)
        for start in range(0, n, _MAX_ROWS):
            part = batch.slice(start, min(_MAX_ROWS, n - start))
            s, c, v, o = _echo(payload.slice(start, part.num_rows), part["norm_prompt"], part["norm_output"])
            sl = slice(start, start + part.num_rows)
            sim[sl], cov[sl], novel[sl], opening[sl] = s, c, v, o
        task = np.where(opening, None, _task(head))
        unchanged = _unchanged(payload, output, sim, cov)
        return pa.table({
            "echo_output_similarity": pa.array(sim),
            "echo_output_coverage": pa.array(cov),
            "echo_output_novel": pa.array(novel),
            "echo_output_words": pa.array(_word_count(batch["output"]), pa.int32()),
            "echo_output_new_words": pa.array(
                _new_words(batch["norm_prompt"], batch["norm_output"], p.scan_chars), pa.int32()),
            "echo_output_task": pa.array(task, pa.string()),
            "echo_output_unchanged": unchanged,
        })

    def decide(self, scores: pa.Table) -> np.ndarray:
        p: EchoOutputParams = self.params  # type: ignore[assignment]

        def col(name: str) -> np.ndarray:
            return scores[name].to_numpy(zero_copy_only=False)

        echo = ((col("echo_output_similarity") >= p.threshold) & (col("echo_output_coverage") >= p.min_coverage)
                & (col("echo_output_novel") <= p.max_novel) & (col("echo_output_words") >= p.min_words))
        # audits scored before these columns existed decide as they did then
        if "echo_output_new_words" in scores.column_names:
            new = col("echo_output_new_words")
            echo &= (new <= p.max_new_words) | (new <= p.max_new_share * col("echo_output_words"))
        if p.task_guard and "echo_output_task" in scores.column_names:
            expected = pc.is_valid(scores["echo_output_task"]).to_numpy(zero_copy_only=False)
            if p.flag_unchanged:
                expected &= ~col("echo_output_unchanged").astype(bool)
            echo &= ~expected
        return echo


def _split(prompt: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(instruction, payload) of each prompt: the payload follows the first ": " or line break and the
    instruction precedes it; a prompt without one is both. The instruction is cut to ``_HEAD_CHARS``.

    What the RE2 pattern :data:`_SPLIT` extracts (the reference the tests compare with), found with numpy
    from the few colons and line breaks of the UTF-8 bytes: the extraction, with its two capture groups,
    cost more than the rest of the check's prompt parsing."""
    offsets, data = string_bytes(prompt)
    starts, ends = offsets[:-1], offsets[1:]
    # ":" followed by a non-space is one unit of the instruction ("https:", "::"); within a run of colons
    # the units pair them from the run's start, so a ":" ends the instruction at an even place in its run,
    # followed by RE2 \s or the text's end
    colon = np.flatnonzero(data == ord(":"))
    crow = np.searchsorted(offsets, colon, side="right") - 1
    fresh = np.r_[True, (colon[1:] != colon[:-1] + 1) | (crow[1:] != crow[:-1])] if len(colon) else colon > 0
    place = np.arange(len(colon)) - np.flatnonzero(fresh)[np.cumsum(fresh) - 1]
    last = colon + 1 == ends[crow]
    spaced = last | _SPACE[data[np.minimum(colon + 1, len(data) - 1)]]
    stops = np.sort(np.concatenate([np.flatnonzero(data == ord("\n")), colon[(place % 2 == 0) & spaced]]))
    srow = np.searchsorted(offsets, stops, side="right") - 1
    first = np.r_[True, srow[1:] != srow[:-1]] if len(stops) else stops > 0
    stops, rows = stops[first], srow[first]
    sep_end = stops + np.where(data[stops] == ord("\n"), 1, 2)
    # the payload needs a character: spacing after the separator is skipped, but for a last character
    has = sep_end < ends[rows]
    stops, rows, pay = stops[has], rows[has], sep_end[has]
    active = np.flatnonzero(_SPACE[data[pay]] & (pay + 1 < ends[rows]))
    while len(active):  # one step per leading space: few
        pay[active] += 1
        active = active[_SPACE[data[pay[active]]] & (pay[active] + 1 < ends[rows[active]])]
    head_end, pay_start = ends.copy(), starts.copy()
    head_end[rows], pay_start[rows] = stops, pay
    lengths = ends - starts
    return (pc.utf8_slice_codeunits(_cut(prompt, data, lengths, head_end - starts, True), 0, _HEAD_CHARS),
            _cut(prompt, data, lengths, ends - pay_start, False))


def _cut(like: pa.Array, data: np.ndarray, lengths: np.ndarray, part: np.ndarray, prefix: bool) -> pa.Array:
    """The first (``prefix``) or last ``part`` bytes of each text (``lengths``: its bytes in ``data``), as an
    array of ``like``'s string type."""
    runs = np.column_stack([part, lengths - part] if prefix else [lengths - part, part]).ravel()
    keep = np.repeat(np.tile(np.array([prefix, not prefix]), len(part)), runs)
    large = pa.types.is_large_string(like.type)
    bounds = np.zeros(len(part) + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(part, out=bounds[1:])
    cls = pa.LargeStringArray if large else pa.StringArray
    return cls.from_buffers(len(part), pa.py_buffer(bounds), pa.py_buffer(data[keep].tobytes()))


def _task(head: pa.Array) -> np.ndarray:
    """The copy task named first in each instruction (:data:`COPY_TASKS`), else None: one regex pass."""
    out = np.full(len(head), None, dtype=object)
    if not len(head):
        return out
    found = pc.extract_regex(head, _TASK_PATTERN)
    for kind in COPY_TASKS:
        hit = pc.fill_null(pc.not_equal(pc.struct_field(found, kind), ""), False)
        out[hit.to_numpy(zero_copy_only=False)] = kind
    out[pc.match_substring_regex(head, _TRANSLATION).to_numpy(zero_copy_only=False)] = None
    return out


def _unchanged(payload: pa.Array, output: pa.Array, sim: np.ndarray, cov: np.ndarray) -> pa.Array:
    """Whether each answer is its payload, spacing aside. Only rows whose answer and payload share every
    shingle (or are too short for one) can be: the texts are compared there alone."""
    out = np.zeros(len(output), dtype=bool)
    rows = np.flatnonzero(((sim == 1) & (cov == 1)) | (pc.utf8_length(output).to_numpy() < 2 * SHINGLE))
    if len(rows):
        take = pa.array(rows)
        same = pc.equal(_collapse(payload.take(take)), _collapse(output.take(take)))
        out[rows] = pc.fill_null(same, False).to_numpy(zero_copy_only=False)
    return pa.array(out)


def _collapse(text: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(pc.binary_join(pc.utf8_split_whitespace(text), " "))


def _new_words(norm_prompt: pa.Array | pa.ChunkedArray, norm_output: pa.Array | pa.ChunkedArray,
               scan: int) -> np.ndarray:
    """Per row: content words (:func:`_words`, :data:`STOPWORDS` aside) of the answer's first ``scan``
    characters that are new or moved: the first absent from the prompt's first ``4 * scan`` characters,
    each later one not following the same content word there.

    Order matters because restating a question moves its words: "The slope of the line through (4,3) and
    (2,-1) is 4" repeats every word of its question, but "1 4" is not in it; an echo keeps the prompt's
    order."""
    answer = pc.utf8_slice_codeunits(text_array(norm_output), 0, scan)
    n = len(answer)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    prompt = pc.utf8_slice_codeunits(text_array(norm_prompt), 0, 4 * scan)
    (a_rows, a_words), (p_rows, p_words) = _words(answer), _words(prompt)
    # one dictionary for both sides: a word is an integer id
    enc = pc.dictionary_encode(pa.concat_arrays([a_words, p_words]))
    ids = enc.indices.to_numpy().astype(np.int64)
    stop = pc.is_in(enc.dictionary, value_set=_STOP).to_numpy(zero_copy_only=False)
    a_ids, p_ids = ids[:len(a_words)], ids[len(a_words):]
    a_keep, p_keep = ~stop[a_ids], ~stop[p_ids]
    a_rows, a_ids, p_rows, p_ids = a_rows[a_keep], a_ids[a_keep], p_rows[p_keep], p_ids[p_keep]
    u = np.uint64
    # (row, previous content word, word) packed into one uint64 when the ids fit (they do unless a batch
    # holds millions of distinct words), else (row, pair id) with the pairs numbered by np.unique
    bits_row = max(int(n).bit_length(), 1)
    bits_id = max(int(len(enc.dictionary) + 1).bit_length(), 1)

    def keys(rows: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prev = np.full(len(words), -1, dtype=np.int64)
        prev[1:] = np.where(rows[1:] == rows[:-1], words[:-1], -1)
        single = rows.astype(u) << u(bits_id) | words.astype(u)
        return single, prev

    a_single, a_prev = keys(a_rows, a_ids)
    p_single, p_prev = keys(p_rows, p_ids)
    if bits_row + 2 * bits_id <= 64:
        a_pair = a_single << u(bits_id) | (a_prev + 1).astype(u)
        p_pair = p_single << u(bits_id) | (p_prev + 1).astype(u)
    else:
        pair = np.unique(np.concatenate([(a_prev + 1).astype(u) << u(32) | a_ids.astype(u),
                                         (p_prev + 1).astype(u) << u(32) | p_ids.astype(u)]), return_inverse=True)[1]
        a_pair = a_rows.astype(u) << u(32) | pair[:len(a_ids)].astype(u)
        p_pair = p_rows.astype(u) << u(32) | pair[len(a_ids):].astype(u)
    first = a_prev < 0
    new = np.empty(len(a_ids), dtype=bool)
    new[first] = ~_isin(a_single[first], p_single)
    new[~first] = ~_isin(a_pair[~first], p_pair)
    return np.bincount(a_rows[new], minlength=n)


def _isin(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in ``among`` (uint64 keys): a sort and binary searches, several times faster
    here than Arrow's hash lookup or ``np.isin``."""
    among = np.sort(among)
    return _member(values, among[np.r_[True, among[1:] != among[:-1]]] if len(among) else among)


#: typographic quotes and apostrophes, spelled as ASCII before words are cut (``it’s`` is ``it's``)
_TYPOGRAPHIC = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}
#: the last UTF-8 byte of each (all are E2 80 xx)
_TYPOGRAPHIC_LAST = np.zeros(256, dtype=bool)
_TYPOGRAPHIC_LAST[[t.encode()[2] for t in _TYPOGRAPHIC]] = True


def _words(norm: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(row of each word, the words) of a normalized text array: words are runs of bytes outside ASCII
    punctuation and spacing, cut with numpy on the UTF-8 bytes (no regex per batch)."""
    offsets, data = string_bytes(text_array(norm))
    # a typographic quote is ASCII punctuation once spelled in ASCII, which is dropped like any: its three
    # bytes are dropped in place (no rewriting pass over the texts)
    keep = ~_DROP[data]
    lead = np.flatnonzero(data[:-2] == 0xE2) if len(data) > 2 else np.zeros(0, np.int64)
    lead = lead[(data[lead + 1] == 0x80) & _TYPOGRAPHIC_LAST[data[lead + 2]]]
    for k in range(3):
        keep[lead + k] = False
    keep, pos = _word_starts(data, offsets, keep)
    rows = np.searchsorted(offsets, pos, side="right") - 1
    # the words are contiguous once punctuation and spacing are gone: cut the stripped bytes at their starts
    stripped = data[keep]
    bounds = np.r_[np.cumsum(keep)[pos] - 1, len(stripped)].astype(np.int64)
    words = pa.LargeStringArray.from_buffers(len(pos), pa.py_buffer(bounds), pa.py_buffer(stripped.tobytes()))
    return rows, words


def _word_count(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Runs of characters outside ASCII punctuation and spacing per text (RE2 ``[^[:punct:][:space:]]+``
    matches), counted on the UTF-8 bytes: a run starts at a kept byte after a dropped one or a text start."""
    text = text_array(col)
    if pa.types.is_null(text.type):
        text = text.cast(pa.string())
    offsets, data = string_bytes(text)
    if len(data) == 0:
        return np.zeros(len(offsets) - 1, dtype=np.int32)
    _, pos = _word_starts(data, offsets)
    return np.diff(np.searchsorted(pos, offsets)).astype(np.int32)


def _word_starts(data: np.ndarray, offsets: np.ndarray,
                 keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the bytes outside ASCII punctuation and spacing, positions where a run of them starts) of
    concatenated UTF-8 texts: a run starts at a kept byte after a dropped one or at a text's first byte.
    ``keep``: the mask when the caller drops more bytes."""
    keep = ~_DROP[data] if keep is None else keep
    start = keep.copy()
    start[1:] &= ~keep[:-1]
    begins = offsets[:-1][np.diff(offsets) > 0]
    start[begins] = keep[begins]  # a text's first byte starts a word whatever precedes it
    return keep, np.flatnonzero(start)


# what follows the instruction: after its first ": " (not "https:") or line break
_SPLIT = r"(?s)^(?P<head>(?:[^:\n]|:\S)*)(?::\s|\n)\s*(?P<payload>.+)$"


#: bytes RE2's ASCII ``[[:punct:][:space:]]`` matches; UTF-8 continuation and lead bytes (>= 0x80) never are
_DROP = np.zeros(256, dtype=bool)
_DROP[np.frombuffer(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t\n\v\f\r", dtype=np.uint8)] = True
#: bytes RE2's ``\s`` matches (ASCII spacing, no vertical tab)
_SPACE = np.zeros(256, dtype=bool)
_SPACE[np.frombuffer(b" \t\n\f\r", dtype=np.uint8)] = True
_WINDOW_MASK = np.uint64((1 << _ROW_SHIFT) - 1)


def _squash(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Raw text normalized as the ``norm_*`` features are (:func:`normalize_text`), then :func:`_strip`."""
    return _strip(normalize_text(col))


def _strip(norm: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Normalized text with only letters and digits left (spacing and punctuation changes do not hide a
    copy), as (UTF-8 bytes, offsets). ASCII punctuation and spacing (the classes ``[[:punct:][:space:]]``
    of RE2) dropped byte-wise with numpy: no regex per batch."""
    text = text_array(norm)
    offsets, data = string_bytes(text)
    drop = _DROP[data]
    gone = np.flatnonzero(drop)
    return data[~drop], offsets - np.searchsorted(gone, offsets)


def _shingles(text: tuple[np.ndarray, np.ndarray], rows: np.ndarray | None = None,
              unique: bool = True) -> np.ndarray:
    """Keys ``row << 40 | shingle`` of every 5-byte window of every text, row-major.

    ``text``: (bytes, offsets) from :func:`_strip`; ``rows[i]`` is the row number of text i
    (default i). ``unique``: sorted and deduplicated.
    """
    data, offsets = text
    n = len(offsets) - 1
    windows = np.maximum(np.diff(offsets) - SHINGLE + 1, 0)
    total = int(windows.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint64)
    row_ids = (np.arange(n) if rows is None else rows).astype(np.uint64)
    # 8 bytes read at every byte offset (an unaligned strided view, the top 3 masked off); a window
    # starts at every byte but a text's last 4
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[:len(data)] = data
    view = np.ndarray(shape=(len(data),), dtype="<u8", buffer=padded, strides=(1,))
    valid = np.ones(len(data), dtype=bool)
    ends = offsets[1:]
    for k in range(1, SHINGLE):
        valid[np.maximum(ends - k, offsets[:-1])[ends > offsets[:-1]]] = False
    key = view[valid]
    key &= _WINDOW_MASK
    key |= np.repeat(row_ids << np.uint64(_ROW_SHIFT), windows)
    if unique:
        key.sort(kind="stable")  # rows in order: timsort merges the row runs
        key = key[np.r_[True, key[1:] != key[:-1]]]
    return key


def _member(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """Which keys of ``a`` are in ``sorted_b``."""
    if not len(sorted_b) or not len(a):
        return np.zeros(len(a), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_b, a), len(sorted_b) - 1)
    return sorted_b[pos] == a


def _echo(payload: pa.Array, norm_prompt: pa.Array | pa.ChunkedArray, norm_output: pa.Array | pa.ChunkedArray):
    """(similarity, coverage, novel, opening) per row, from the raw prompt's payload (:func:`_split`) and the
    normalized prompt and answer.

    ``opening``: the answer reproduces the prompt's first 15 letters and digits (its first three disjoint
    shingles; a prompt too short for them counts as reproduced): it repeats the instruction itself."""
    n = len(payload)
    shift = np.uint64(_ROW_SHIFT)
    # every window of the answer (no dedup: the answer is only searched, never searched in); sorted, as
    # only counts per row matter and sorted queries search fast
    out_keys = _shingles(_strip(norm_output), unique=False)
    out_keys.sort(kind="stable")
    out_rows = (out_keys >> shift).astype(np.int64)
    stripped_prompt = _strip(norm_prompt)
    hit = _member(out_keys, _shingles(stripped_prompt))
    total = np.bincount(out_rows, minlength=n)
    found = np.bincount(out_rows[hit], minlength=n)
    sim = np.divide(found, total, out=np.zeros(n), where=total > 0)
    cov = np.zeros(n)
    opening = np.zeros(n, dtype=bool)
    # coverage is 0 wherever nothing of the answer is in the prompt: compute it only where it is not
    cand = np.flatnonzero(found > 0)
    if len(cand):
        # the payload is cut from the raw prompt (at a line break normalized text no longer has), then
        # normalized like the features
        pay_keys = _shingles(_squash(payload.take(pa.array(cand))), rows=cand)
        keep = np.zeros(n, dtype=bool)
        keep[cand] = True
        answer = out_keys[keep[out_rows]]  # already sorted
        pay_rows = (pay_keys >> shift).astype(np.int64)
        pay_total = np.bincount(pay_rows, minlength=n)
        pay_found = np.bincount(pay_rows[_member(pay_keys, answer)], minlength=n)
        cov = np.divide(pay_found, pay_total, out=np.zeros(n), where=pay_total > 0)
        opening[cand] = _opening_copied(stripped_prompt, cand, answer)
    return sim.astype(np.float32), cov.astype(np.float32), (total - found).astype(np.int32), opening


def _opening_copied(text: tuple[np.ndarray, np.ndarray], rows: np.ndarray, answer: np.ndarray) -> np.ndarray:
    """Whether each of ``rows``' prompts (``text``: stripped prompts) opens with three shingles all found in the
    sorted answer keys ``answer``; prompts shorter than three shingles count as found."""
    data, offsets = text
    starts, lengths = offsets[rows], np.diff(offsets)[rows]
    long = lengths >= 3 * SHINGLE
    copied = np.ones(len(rows), dtype=bool)
    if not long.any():
        return copied
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[:len(data)] = data
    view = np.ndarray(shape=(len(data),), dtype="<u8", buffer=padded, strides=(1,))
    base = np.asarray(rows, dtype=np.uint64)[long] << np.uint64(_ROW_SHIFT)
    for k in range(3):
        key = (view[starts[long] + k * SHINGLE] & _WINDOW_MASK) | base
        sub = copied[long]
        sub &= _member(key, answer)
        copied[long] = sub
    return copied
