"""merged_instruction: the answer carries a follow-on instruction (often with its answer) glued after it.

Self-instruct style generation (Alpaca, and any data a model wrote by continuing a few-shot
prompt) leaves the next generated example inside the answer: after the real answer come
"11. Instruction: Write a poem about joy. / 11. Input: / 11. Output: Joy is ...", an Alpaca
prompt template ("### Instruction:"), or chat-template markup ("<|im_start|>user", "[INST]").
Training on it teaches a model to keep going with tasks nobody asked for. The part before the
marker is usually a fine answer: the fix is to cut the answer there.

Evidence, read in the first ``scan_chars`` characters of the answer (the score is the strongest
that applies):

* ``numbered_template`` (1.0): a numbered "N. Instruction:" line later followed by an
  "N. Input:" / "N. Output:" / "N. Response:" line -- the self-instruct seed format;
* ``template_block`` (1.0): after some answer text, a line "Instruction:" (singular; with or
  without "#" marks) later followed by an "Input:" / "Output:" / "Response:" line;
* ``prompt_template`` (1.0): after some answer text, a "### Instruction:", "### Input:",
  "### Human:" or "### User:" line (Alpaca / Vicuna prompt templates);
* ``chat_markup`` (0.9): chat-template tokens in the answer (``<|im_start|>``, ``<|user|>``,
  ``[INST]``, ``<start_of_turn>``, ``<|start_header_id|>`` ...);
* ``role_turn`` (0.8): after some answer text, a "Human:" / "User:" line later followed by an
  "Assistant:" / "AI:" / "GPT:" line (a new conversation turn glued on).

A recipe's "Instructions:" (plural), a code sample's "# Output: 9" or "Output:" line, a quiz's
"Answer:" and an answer that *opens* with "Instruction: ..." (nothing merged before it) are not
evidence. When the prompt itself asks for a task, an instruction, a prompt or an input/output
example ("Create a task that a GPT model can complete with a given input and output"), a
dialogue, a chat or a script, or holds the same markup, the evidence scores only 0.3 (recorded,
below the threshold): the template or the turns are then the task.

Measured on Alpaca 52k against the AlpacaDataCleaned volunteers' edits
(``.venv/bin/python benchmarks/bench_alpaca.py --checks merged_instruction --split tune --name
alpaca_merged_instruction_tune``, then ``--split check``): recall of the "merged instruction" fixes
4/4 (tune) and 4/4 (check); good rows flagged 0.03% (tune, 4 of 12,687) and 0.06% (check, 8 of
12,583) -- every one of those twelve carries a merged "N. Instruction: / N. Input: / N. Output:"
block the volunteers missed. 37 rows of the 52k are flagged; none of Dolly 3k, GPTeacher
Toolformer 7.7k, Bitext customer support 6.5k + 4.5k and Tatoeba 76k. Scoring runs at about
300,000 rows/s on one CPU core.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, knob, matches, register, text_array

#: what may open a template line: spaces and markdown marks (not letters: "Cooking instruction:" is prose)
_LINE = r"[ \t>*_#-]{0,6}"
#: some answer text, then a line break: the marker follows an answer instead of opening the text
_AFTER_TEXT = r"\S[^\n]*\n(?:.*\n)?"
_NUM = r"\d{1,3}\s*[.):]\s*"

EVIDENCE: dict[str, tuple[float, str]] = {
    "numbered_template": (1.0, rf"(?ims)^{_LINE}{_NUM}(?:#{{1,4}}\s*)?instruction\s*:.*^{_LINE}{_NUM}"
                               r"(?:#{1,4}\s*)?(?:input|output|response)\s*:"),
    "template_block": (1.0, rf"(?is){_AFTER_TEXT}{_LINE}instruction[ \t]*:.*\n{_LINE}(?:input|output|response)"
                            r"[ \t]*:"),
    "prompt_template": (1.0, rf"(?is){_AFTER_TEXT}[ \t]*#{{2,4}}[ \t]*(?:instruction|input|human|user)[ \t]*:"),
    "chat_markup": (0.9, r"(?i)<\|im_start\|>|<\|im_end\|>|<\|(?:user|assistant|system|prompter|eot_id|"
                         r"start_header_id|end_header_id)\|>|\[/?INST\]|<</?SYS>>|<start_of_turn>|<end_of_turn>"),
    "role_turn": (0.8, rf"(?is){_AFTER_TEXT}{_LINE}(?:human|user)[ \t]*:.*\n{_LINE}(?:assistant|ai|gpt|chatgpt|bot)"
                       r"[ \t]*:"),
}
#: a cheap gate: the rows where any evidence could match
_GATE = r"(?i)instruction[ \t]*:|#[ \t]*(?:input|human|user)[ \t]*:|<\||\[/?inst\]|<</?sys>>|_of_turn>|" \
        r"(?:human|user)[ \t]*:"
#: prompts whose answer is a task template, an instruction or an input/output example
_TASK_PROMPT = (r"(?i)\b(?:instructions?|tasks?|prompts?|templates?|few-shot|training (?:data|examples?)|"
                r"(?:inputs?|outputs?) (?:and|&|/) (?:inputs?|outputs?)|input-output|"
                r"(?:example|sample|appropriate|possible) (?:inputs?|outputs?))\b")
#: prompts whose answer is a dialogue: role turns are the task
_DIALOGUE_PROMPT = (r"(?i)\b(?:dialog\w*|conversation\w*|chat\w*|script\w*|transcript\w*|interview\w*|exchange|"
                    r"role[- ]?play\w*|turns?|bot|chatbot|assistant|customer|user|roles?)\b")
#: an answer that opens with a speaker's label of one to three words ("User: Hi", "**Agent:** Hello")
_OPENS_WITH_ROLE = r"^\s*[*_]{0,2}[A-Za-z][\w.'-]*(?: [\w.'-]+){0,2}[*_]{0,2}:"
GUARDED = 0.3
KINDS = tuple(EVIDENCE)


class MergedInstructionParams(CheckParams):
    threshold: float = decision(0.5, ge=0.0, le=1.0)
    """Flag answers whose merged-instruction score is at least this (1.0: a template block after the answer;
    0.3: the prompt asks for a task, a template or a dialogue, so the markers may be the task)."""
    scan_chars: int = knob(20000, ge=100)
    """Characters at the start of the answer searched (bounds the cost of very long answers)."""
    prompt_guard: bool = True
    """Score the evidence low when the prompt asks for a task, an instruction, a prompt or an input/output
    example (template lines), or for a dialogue (role turns), or holds the same markup."""


@register
class MergedInstruction(RowCheck):
    name = "merged_instruction"
    description = ("The answer carries a follow-on instruction merged into it (\"...\\n11. Instruction: Write ... "
                   "Output: ...\", \"### Instruction:\", chat markup).")
    scores = {
        "merged_instruction_score": Score("strength of the strongest merged-instruction evidence in the answer "
                                          "(0..1); higher is worse", 0, 1, worse="higher"),
        "merged_instruction_kind": Score("the strongest evidence: numbered_template, template_block, "
                                         "prompt_template, chat_markup or role_turn; null = none"),
    }
    default = True
    order = 65
    weight = 0.8
    threshold = Threshold("threshold", "merged_instruction_score", ">=")
    Params = MergedInstructionParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: MergedInstructionParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        score = np.zeros(n, dtype=np.float64)
        kind = np.full(n, None, dtype=object)
        answer = pc.utf8_slice_codeunits(text_array(batch["output"]), 0, p.scan_chars)
        # pyarrow compiles a pattern per call: one cheap gate, then the full patterns on its rows only
        rows = np.flatnonzero(matches(answer, _GATE))
        if not len(rows):
            return _table(score, kind)
        answer = answer.take(pa.array(rows))
        prompt = (pc.utf8_slice_codeunits(text_array(batch["prompt"]), 0, p.scan_chars).take(pa.array(rows))
                  if "prompt" in batch.column_names else pa.array([""] * len(rows), pa.string()))
        off = np.zeros(len(rows), dtype=bool)
        task = matches(prompt, _TASK_PROMPT) if p.prompt_guard else off
        dialogue = matches(prompt, _DIALOGUE_PROMPT) if p.prompt_guard else off
        for code, (strength, pattern) in EVIDENCE.items():
            hit = matches(answer, pattern)
            if not hit.any():
                continue
            if code == "role_turn":  # a dialogue opens with a speaker's label: the turns are the answer
                guarded = dialogue | matches(answer, _OPENS_WITH_ROLE)
            elif code == "chat_markup":  # a question about chat templates holds the same tokens
                guarded = matches(prompt, pattern) if p.prompt_guard else off
            else:
                guarded = task
            s = np.where(hit, np.where(guarded, GUARDED, strength), 0.0)
            better = s > score[rows]
            score[rows[better]] = s[better]
            kind[rows[better]] = code
        return _table(score, kind)

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["merged_instruction_score"].to_numpy(zero_copy_only=False) >= self.params.threshold


def _table(score: np.ndarray, kind: np.ndarray) -> pa.Table:
    return pa.table({"merged_instruction_score": pa.array(score, pa.float64()),
                     "merged_instruction_kind": pa.array(kind, pa.string())})


