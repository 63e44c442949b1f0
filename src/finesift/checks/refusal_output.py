"""refusal_output: the answer refuses the task or disclaims being an AI instead of doing it.

Answers like "As an AI language model, I cannot ...", "I'm sorry, but I can't ...", "I cannot
fulfill that request" or Alpaca's "This instruction cannot be completed by a GPT model" teach a
model to refuse. Only the answer's opening is read (``opening_chars``), and the phrases must start
the answer: a refusal quoted inside a story or dialogue (the answer then opens with the quote or
the narration) is not one. A few other languages' stock openings (French, German, Spanish,
Chinese) are recognised too.

Evidence, strongest first (the score is the strongest that applies):

* ``ai_identity`` (1.0): the answer opens with "As an AI / a language model ...", "I am an AI ...";
* ``model_limit`` (1.0): the opening says the task cannot be done by a GPT / AI / language model,
  or is beyond the model's capabilities;
* ``apology_refusal`` (1.0): "I'm sorry / I apologize / Unfortunately, (but) I cannot / this task
  requires ...";
* ``inability`` (0.9): "I cannot / I'm unable to" + what an assistant is asked to do (fulfill,
  complete, provide, access, browse, play, draw ...).

When the prompt itself asks for an apology, a refusal, a reply to a customer or a role-play
("write a polite email declining ...", "respond as the support agent"), a personal refusal is the
task: the apology and inability evidence then scores only 0.3 (recorded, below the threshold). So
does the same when the prompt rewrites, translates or edits a sentence, or holds the same phrase;
an AI self-description when the prompt is about AI assistants; and a model's limits when the
prompt is about language models.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import CheckParams, RowCheck, Score, Threshold, decision, matches, register, text_array

#: what may precede the phrase at the start of the answer: markdown marks, not quotes
_START = r"^[\s*_>#-]{0,4}"
_CANT = (r"(?:cannot|can't|can not|am unable to|'m unable to|am not able to|'m not able to|won't|will not|"
         r"do not have the (?:ability|capability)|don't have the (?:ability|capability)|am not capable of|"
         r"'m not capable of)")

#: a short reason clause before the refusal: "Due to the functionality of the application, I cannot ..."
_LEAD = r"(?:(?:due to|because of|given|owing to|as)\s[^.!?\n]{0,80},\s*)?"

EVIDENCE: dict[str, tuple[float, str]] = {
    "ai_identity": (1.0, _START + r"(?:as an? (?:ai|a\.i\.|artificial intelligence|(?:large )?language model|llm|"
                    r"ai (?:language )?model|ai assistant|ai-powered assistant|text-based ai|chatbot|"
                    r"virtual assistant|digital assistant)\b|i am an ai\b|i'm an ai\b|i am a (?:large )?language "
                    r"model|i'm a (?:large )?language model|being an ai\b"
                    # French, German, Spanish, Chinese stock openings
                    r"|en tant qu'(?:ia|intelligence artificielle|(?:grand )?modèle de langage)\b"
                    r"|als (?:ki|künstliche intelligenz|ki-sprachmodell|sprachmodell)\b"
                    r"|como (?:una? )?(?:ia|inteligencia artificial|modelo de lenguaje)\b"
                    r"|作为(?:一个|一名)?(?:人工智能|ai|AI|语言模型))"),
    "model_limit": (1.0, r"(?:cannot|can't|can not|unable to|not able to|not possible to|impossible to)\s+"
                    r"(?:be\s+)?(?:completed|fulfilled|performed|done|carried out|generated|answered|executed|"
                    r"accomplished)\s+(?:by|with|using|for)\s+(?:a|an|the|this)\s+(?:gpt|ai\b|language model|"
                    r"text-based|large language)"
                    r"|(?:beyond|outside(?: of)?)\s+(?:the|my)\s+(?:capabilit\w*|scope|abilit\w*)\s+of\s+(?:the|this|"
                    r"a|an)\s+(?:gpt\s+)?(?:model|ai\b|language model|assistant)"
                    r"|(?:task|instruction|request)\b.{0,80}\b(?:the|this) model (?:cannot|can't|is unable|is not able)"
                    r"|(?:gpt|language) models? (?:cannot|can't|is unable to|is not able to|are unable to)\s+"
                    r"(?:complete|fulfill|perform|generate|do|take|create|produce|provide)"),
    "apology_refusal": (1.0, _START + r"(?:i'm sorry|i am sorry|sorry|i apologi[sz]e|apologies|unfortunately|"
                        r"my apologies)[\s,.!:;-]{0,3}(?:but\s+)?(?:(?:i|this|that)\s+" + _CANT + r"|(?:this|the|that)"
                        r" (?:task|request|instruction|question)\s+(?:cannot|can't|is not possible|isn't possible|"
                        r"involves|requires|is beyond|is outside)|i (?:do not|don't) have access|i'm not able|"
                        r"i am not able)"
                        r"|" + _START + r"(?:(?:je suis )?désolée?,?\s+(?:mais\s+)?je ne (?:peux|suis pas en mesure)"
                        r"|es tut mir leid,?\s+(?:aber\s+)?ich kann|lo siento,?\s+(?:pero\s+)?no puedo"
                        r"|(?:抱歉|对不起|很抱歉)[，,]?\s*我(?:无法|不能))"),
    "inability": (0.9, _START + _LEAD + r"i\s+" + _CANT + r"\s+(?:fulfill|complete|comply|perform|do (?:that|this)|"
                  r"answer (?:that|this|your)|provide (?:that|this|a response|an answer|real-time|personal|"
                  r"information)|generate|create (?:images|visual|a visual|an image|audio|video)|help with (?:that|"
                  r"this)|assist with (?:that|this)|access|browse|see|view|watch|hear|listen|play|draw|render|"
                  r"set (?:up )?(?:a )?(?:reminder|alarm|timer)|open|physically|taste|smell|touch|"
                  r"(?:make|place|book) (?:a |the )?(?:call|phone call|reservation|order|purchase))"),
}
#: prompts whose task is an apology, a refusal, a customer reply or a role-play
_ROLE_PROMPT = (r"\b(?:apolog\w*|declin\w*|refus\w*|reject\w*|regret\w*|sorry|excuse|say no|turn down|"
                r"respond\w*|reply to|response|customer|complain\w*|role|dialog\w*|conversation|pretend|"
                r"act as|imagine you|you are an?|as if you|script|story|character|"
                r"rewrite|rephrase|paraphrase|rearrange|reword|translate|edit|tone|sentence)")
#: prompts about AI assistants (an AI's self-description may be the task) and about language models
#: (what a GPT model cannot do may be the answer)
_AI_PROMPT = r"\b(?:ai|a\.i\.|artificial intelligence|assistant|chatbot|bot|language models?|gpt\w*|llms?)\b"
_LM_PROMPT = r"\b(?:language models?|gpt\w*|llms?)\b"
GUARDED = 0.3
KINDS = tuple(EVIDENCE)


class RefusalOutputParams(CheckParams):
    threshold: float = decision(0.5, ge=0.0, le=1.0)
    """Flag answers whose refusal score is at least this (1.0: refusal or AI disclaimer; 0.3: the prompt asks
    for an apology, a refusal or a role-play, so the refusal may be the task)."""
    opening_chars: int = 300
    """Characters at the start of the answer searched for a refusal (a refusal opens the answer)."""
    role_guard: bool = True
    """Score apologies and personal refusals low when the prompt asks for one (an apology letter, a reply to a
    customer, a role-play), and AI self-descriptions low when the prompt is about AI assistants."""


@register
class RefusalOutput(RowCheck):
    name = "refusal_output"
    description = "The answer is a refusal or an AI disclaimer (\"As an AI language model, I cannot ...\") instead of the task."
    scores = {
        "refusal_output_score": Score("strength of the strongest refusal evidence at the start of the answer (0..1); "
                                      "higher is worse", 0, 1, worse="higher"),
        "refusal_output_kind": Score("the strongest evidence: ai_identity, model_limit, apology_refusal or "
                                     "inability; null = none"),
    }
    default = True
    order = 75
    weight = 0.9
    threshold = Threshold("threshold", "refusal_output_score", ">=")
    Params = RefusalOutputParams

    def score(self, batch: pa.Table) -> pa.Table:
        p: RefusalOutputParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        opening = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(text_array(batch["output"])), 0, p.opening_chars)
        hits = {code: _match(opening, pattern) for code, (_, pattern) in EVIDENCE.items()}
        rows = np.flatnonzero(np.logical_or.reduce(list(hits.values())))
        score = np.zeros(n, dtype=np.float64)
        kind = np.full(n, None, dtype=object)
        # the prompt guards only matter where the answer opens with a refusal: match them on those rows
        # alone (pyarrow compiles each pattern per call, and most batches hold no refusal at all)
        prompt = (text_array(batch["prompt"]).take(pa.array(rows)) if "prompt" in batch.column_names
                  else pa.array([""] * len(rows), pa.string()))
        unguarded = np.zeros(len(rows), dtype=bool)
        role = _match(prompt, _ROLE_PROMPT) if p.role_guard else unguarded
        about_ai = _match(prompt, _AI_PROMPT) if p.role_guard else unguarded
        about_lm = _match(prompt, _LM_PROMPT) if p.role_guard else unguarded
        for code, (strength, pattern) in EVIDENCE.items():
            hit = hits[code][rows]
            if not hit.any():
                continue
            guarded = {"ai_identity": about_ai, "model_limit": about_lm}.get(code, role | about_ai)
            if p.role_guard:  # the prompt holds the same phrase: a rewrite, translation or edit of it
                guarded = guarded | (hit & _match(prompt, pattern.replace(_START, r"(?:^|\W)")))
            s = np.where(hit, np.where(guarded, GUARDED, strength), 0.0)
            better = s > score[rows]
            score[rows[better]] = s[better]
            kind[rows[better]] = code
        return pa.table({"refusal_output_score": pa.array(score, pa.float64()),
                         "refusal_output_kind": pa.array(kind, pa.string())})

    def decide(self, scores: pa.Table) -> np.ndarray:
        return scores["refusal_output_score"].to_numpy(zero_copy_only=False) >= self.params.threshold


def _match(texts: pa.Array, pattern: str) -> np.ndarray:
    return matches(texts, pattern, ignore_case=True)  # the phrases are matched in any case
