"""judge: an LLM behind any OpenAI-compatible endpoint judges each row, one prompt per defect kind.

Opt-in (``--with judge``): it sends the data to a model server, costs money on a hosted API and
takes a request per row and kind. Endpoint: the parameters ``url`` (the base URL an OpenAI client
takes, e.g. ``http://localhost:8000/v1`` for vLLM, ``http://localhost:8080/v1`` for the llama.cpp
server, ``http://localhost:11434/v1`` for Ollama) and ``model``, else the environment
(``FINESIFT_JUDGE_URL``, ``FINESIFT_JUDGE_MODEL``); the API key only from the environment
(``FINESIFT_JUDGE_API_KEY``, else ``OPENAI_API_KEY``), so it never lands in summary.json.

Each kind in ``kinds`` has a prompt template in ``prompts`` (a recipe's ``thresholds: {judge:
{prompts: ...}}`` overrides them; ``{prompt}``, ``{output}`` and ``{system}`` are replaced by the
row's fields, each cut to ``max_chars``, other braces are kept). The judge answers with a score
(0..1, higher = worse) and a one-line reason, read by
:func:`finesift.models.judge.parse_verdict` (JSON, or "score: x" / "x/10" fallbacks). Per row:

* ``judge_score``: the worst score over the kinds; null when no kind gave a readable score (an
  unparseable reply is null with the reason saying so, never a silent 0) or the row was not sent;
* ``judge_reason``: the judge's one-line reason for that score, or why there is none;
* ``judge_kind``: the kind that gave the worst score.

Requests go through :class:`finesift.models.judge.JudgeClient`: an on-disk cache (a rerun, or a
run after a crash, sends only what was never answered), ``concurrency`` requests at a time,
timeouts, retries with backoff, and a one-line stop on a refused key, spent quota, a wrong URL or
model, or an endpoint still failing after its retries. Before sending anything the check writes
the plan to stderr and to summary.json (``facts.judge``): requests, how many are cached, estimated
tokens (~4 characters a token) and cost (``price_per_1k_tokens``); ``max_cost`` refuses a run
estimated above it, and ``dry_run`` (or ``FINESIFT_JUDGE_DRY_RUN=1``) stops there, sending nothing.

**Quality: unmeasured here.** No strong judge model runs on these machines (2 CPU cores; the
packaged SmolLM2-135M does not follow a reply format), so the tests prove the plumbing against a
real local server (:mod:`finesift.models.serve`), not the verdicts. To measure the verdicts on the
Alpaca dev half, serve a strong instruction model and run::

    FINESIFT_JUDGE_URL=http://HOST:PORT/v1 FINESIFT_JUDGE_MODEL=NAME \\
        .venv/bin/python benchmarks/bench_alpaca.py --checks judge --with judge --split tune --name alpaca_judge

(recall per kind of fix and the flag rate on kept rows; ``--split check`` for the out-of-sample
figure; start with ``FINESIFT_JUDGE_DRY_RUN=1`` to see the cost of the 52k rows x kinds first).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from .base import (
    CheckParams,
    DatasetCheck,
    Score,
    Threshold,
    decision,
    knob,
    register,
    text_array,
)

#: the judge's role, sent as the system message of every request
SYSTEM_PROMPT = ("You review examples of a dataset used to fine-tune an AI assistant. Each example is an "
                 "instruction and the answer the assistant should learn to give. Judge only what you are asked. "
                 'Reply with JSON only, on one line: {"score": <a number from 0 to 1, where 1 means the '
                 'example certainly has the defect>, "reason": "<one short sentence>"}.')

#: one prompt per defect kind (single-line templates: a recipe lists them as one YAML line each)
PROMPTS: dict[str, str] = {
    "wrong_answer": ("Defect to judge: the answer is wrong, invented, incomplete or of low quality: a factual "
                     "error, a wrong calculation or number, a claim made up, an answer that does not do what the "
                     "instruction asks, or one far worse than a careful expert would write. Style and brevity "
                     "alone are not defects. <instruction>{prompt}</instruction> <answer>{output}</answer>"),
    "bad_instruction": ("Defect to judge: the instruction cannot be answered well as written: it is unclear, "
                        "nonsensical, self-contradictory, full of typos, or needs something the assistant cannot "
                        "see or do (a link, an image, a video, an attachment, a document that is not included, "
                        "real-time information, a physical action). The answer is shown only as context. "
                        "<instruction>{prompt}</instruction> <answer>{output}</answer>"),
    "irrelevant_input": ("Defect to judge: the instruction's input (the text after the first paragraph of the "
                         "instruction) is unrelated to the task or not needed by it, so the answer ignores it. "
                         "Score 0 when there is no such input. <instruction>{prompt}</instruction> "
                         "<answer>{output}</answer>"),
}
KINDS = ("wrong_answer", "bad_instruction")
ENV_DRY_RUN = "FINESIFT_JUDGE_DRY_RUN"
#: the endpoint a dry run plans against when none is configured yet (nothing is cached for it)
_UNSET_URL = "http://endpoint-not-set"


class JudgeParams(CheckParams):
    threshold: float = decision(0.5, ge=0.0, le=1.0)
    """Flag rows whose judge score (the worst over the kinds) is at least this."""
    url: str | None = None
    """Base URL of an OpenAI-compatible endpoint (ending in /v1 as a rule); default: $FINESIFT_JUDGE_URL."""
    model: str | None = None
    """Model name the endpoint serves; default: $FINESIFT_JUDGE_MODEL."""
    api_key_env: str = "FINESIFT_JUDGE_API_KEY"
    """Environment variable holding the API key (OPENAI_API_KEY when it is unset); keys never go in a config."""
    kinds: list[str] = knob(default_factory=lambda: list(KINDS))
    """Defect kinds to ask about, one request per row and kind; each names a template in prompts."""
    prompts: dict[str, str] = knob(default_factory=lambda: dict(PROMPTS))
    """Kind -> prompt template; {prompt}, {output} and {system} become the row's fields."""
    system_prompt: str = SYSTEM_PROMPT
    """The system message of every request: the judge's role and the reply format."""
    reply_prefix: str | None = None
    """Start the judge's reply with this text (a final assistant message: vLLM continue_final_message, the
    llama.cpp server), e.g. '{"score": ' to hold a weak model to the format; hosted APIs ignore it."""
    max_chars: int = knob(4000, gt=0)
    """Characters of each field sent (longer fields are cut): bounds the cost of a row."""
    max_reply_tokens: int = knob(96, gt=0)
    """Reply tokens asked for (max_tokens); also the reply side of the cost estimate."""
    temperature: float = knob(0.0, ge=0.0)
    """Sampling temperature; 0 asks for the most deterministic verdicts."""
    concurrency: int = knob(4, gt=0)
    """Requests in flight at once."""
    timeout: float = knob(60.0, gt=0)
    """Seconds to wait for one reply before retrying."""
    max_retries: int = knob(4, ge=0)
    """Retries of a request after a timeout, a refused connection, a 429 or a 5xx, with exponential backoff."""
    backoff: float = knob(1.0, ge=0)
    """Seconds before the first retry (doubled each time, up to 30 s; a Retry-After header wins)."""
    cache: bool = True
    """Keep every reply on disk, keyed on the hash of URL, model, messages and settings: reruns pay once."""
    cache_dir: str | None = None
    """Folder of the reply cache (default: the finesift cache's judge/ folder)."""
    dry_run: bool = False
    """Only plan: report requests, cached replies, estimated tokens and cost, send nothing (also
    $FINESIFT_JUDGE_DRY_RUN=1)."""
    price_per_1k_tokens: float | None = knob(None, ge=0)
    """Price of 1,000 prompt tokens, for the cost estimate (none: no cost shown)."""
    price_per_1k_output_tokens: float | None = knob(None, ge=0)
    """Price of 1,000 reply tokens (default: price_per_1k_tokens)."""
    max_cost: float | None = knob(None, ge=0)
    """Refuse to start when the estimated cost of the requests to send is above this."""
    skip_empty: bool = True
    """Do not send rows with an empty answer (empty_output flags them for free)."""


@register
class Judge(DatasetCheck):
    name = "judge"
    description = "An LLM judge (any OpenAI-compatible endpoint) finds the answer wrong or the instruction unusable."
    scores = {
        "judge_score": Score("the judge's worst score over the defect kinds (0..1); higher is worse; null = no "
                             "readable verdict (see judge_reason) or not sent", 0, 1, worse="higher"),
        "judge_reason": Score("the judge's one-line reason for judge_score, or why there is no score"),
        "judge_kind": Score("the defect kind (a key of prompts) that gave judge_score; null = none"),
    }
    group = "judge"
    order = 160
    drop = False  # its quality is unmeasured here: a verdict lowers the quality score, it does not reject
    weight = 0.6
    cost = "model"
    threshold = Threshold("threshold", "judge_score", ">=")
    Params = JudgeParams

    # --- requests -------------------------------------------------------------------------------

    def _dry_run(self) -> bool:
        return self.params.dry_run or os.environ.get(ENV_DRY_RUN, "").strip().lower() in ("1", "true", "yes")

    def _endpoint(self, required: bool):
        from ..models.judge import ENV_OPENAI_KEY, Endpoint, resolve_endpoint

        p: JudgeParams = self.params  # type: ignore[assignment]
        key = os.environ.get(p.api_key_env) or os.environ.get(ENV_OPENAI_KEY) or None
        settings = dict(timeout=p.timeout, max_retries=p.max_retries, backoff=p.backoff, concurrency=p.concurrency)
        url = p.url or os.environ.get("FINESIFT_JUDGE_URL")
        model = p.model or os.environ.get("FINESIFT_JUDGE_MODEL")
        if not required and not (url and model):  # a dry run may plan before an endpoint exists
            return Endpoint(url=_UNSET_URL, model="", api_key=key, **settings)
        return resolve_endpoint(url, model, key, **settings)

    def _kinds(self) -> list[str]:
        p: JudgeParams = self.params  # type: ignore[assignment]
        missing = [k for k in p.kinds if k not in p.prompts]
        if missing or not p.kinds:
            raise ConfigError(f"judge.kinds {missing or p.kinds}: each kind needs a template in judge.prompts "
                              f"(known: {', '.join(p.prompts)})")
        return list(dict.fromkeys(p.kinds))

    def _requests(self, batch: pa.Table) -> tuple[list[list[Any]], np.ndarray]:
        """Per kind, one Request per row (None for a row not sent), and the sent-rows mask."""
        from ..models.judge import Request

        p: JudgeParams = self.params  # type: ignore[assignment]
        n = batch.num_rows

        def field(name: str) -> list[str]:
            if name not in batch.column_names:
                return [""] * n
            # cut before leaving Arrow: a 1 MB answer costs what max_chars does
            return pc.utf8_slice_codeunits(text_array(batch[name]), 0, p.max_chars).to_pylist()

        prompt, output, system = field("prompt"), field("output"), field("system")
        send = np.ones(n, dtype=bool)
        if p.skip_empty:
            send = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(
                text_array(batch["output"]))), 0), False).to_numpy(zero_copy_only=False)
        out = []
        for kind in self._kinds():
            template = p.prompts[kind]
            reqs = []
            for i in range(n):
                if not send[i]:
                    reqs.append(None)
                    continue
                user = (template.replace("{prompt}", prompt[i]).replace("{output}", output[i])
                        .replace("{system}", system[i]))
                messages = (("system", p.system_prompt), ("user", user))
                if p.reply_prefix:
                    messages += (("assistant", p.reply_prefix),)
                reqs.append(Request(messages, max_tokens=p.max_reply_tokens, temperature=p.temperature))
            out.append(reqs)
        return out, send

    # --- the DatasetCheck protocol: plan over every row first, then send batch by batch ------------

    def fit(self, batch: pa.Table) -> dict[str, Any]:
        from ..models.judge import request_key

        ep = self._endpoint(required=not self._dry_run())
        per_kind, _ = self._requests(batch)
        keys = [[None if r is None else request_key(ep.url, ep.model, r) for r in reqs] for reqs in per_kind]
        chars = [np.array([0 if r is None else r.chars() for r in reqs], dtype=np.int64) for reqs in per_kind]
        return {"keys": [k for col in zip(*keys) for k in col] if keys else [],
                "chars": np.stack(chars, axis=1).reshape(-1) if chars else np.zeros(0, np.int64)}

    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        from ..models.judge import Plan, ReplyCache, default_cache_dir, estimate_tokens

        p: JudgeParams = self.params  # type: ignore[assignment]
        dry = self._dry_run()
        ep = self._endpoint(required=not dry)
        cache = ReplyCache(p.cache_dir or default_cache_dir()) if p.cache else None
        keys = state.get("keys", [])
        chars = state.get("chars", np.zeros(0, np.int64))
        messages = 2 + bool(p.reply_prefix)
        todo = [i for i, k in enumerate(keys) if k is not None and (cache is None or k not in cache)]
        sent_total = sum(k is not None for k in keys)
        plan = Plan(sent_total, sent_total - len(todo),
                    sum(estimate_tokens(int(chars[i])) + 4 * messages for i in todo), p.max_reply_tokens * len(todo),
                    p.price_per_1k_tokens, p.price_per_1k_output_tokens)
        print(plan.line() + (" (dry run: nothing sent)" if dry else ""), file=sys.stderr, flush=True)
        if not dry and p.max_cost is not None and plan.cost is not None and plan.cost > p.max_cost:
            raise ConfigError(f"judge: estimated cost {plan.cost:.4f} is above max_cost {p.max_cost:g} "
                              f"({plan.to_send} requests); raise max_cost or judge fewer rows or kinds")
        unset = ep.url == _UNSET_URL
        facts = {"url": None if unset else ep.url, "model": None if unset else ep.model,
                 "kinds": self._kinds(), "dry_run": dry, **plan.as_dict(),
                 "sent": 0, "cache_hits": 0, "rejected": 0, "unparseable": 0,
                 "prompt_tokens": 0, "completion_tokens": 0}
        return {"endpoint": ep, "cache": cache, "dry_run": dry, "facts": facts}

    def score(self, batch: pa.Table, state: dict[str, Any]) -> pa.Table:
        from ..models.judge import JudgeClient, parse_verdict

        p: JudgeParams = self.params  # type: ignore[assignment]
        n = batch.num_rows
        kinds = self._kinds()
        score = np.full(n, np.nan)
        reason: list[str | None] = [None] * n
        kind: list[str | None] = [None] * n
        per_kind, send = self._requests(batch)
        for i in np.flatnonzero(~send):
            reason[i] = "not judged: empty answer"
        if state["dry_run"]:
            for i in np.flatnonzero(send):
                reason[i] = "dry run: not sent"
            return _table(score, reason, kind)
        flat = [r for col in zip(*per_kind) for r in col if r is not None]
        rows = [i for i in np.flatnonzero(send) for _ in kinds]
        which = [k for _ in np.flatnonzero(send) for k in kinds]
        facts = state["facts"]
        with JudgeClient(state["endpoint"], state["cache"]) as client:
            try:
                replies = client.complete(flat) if flat else []
            finally:
                facts["sent"] += client.sent
                facts["cache_hits"] += client.cache_hits
        notes: dict[int, list[str]] = {}
        for i, k, rep in zip(rows, which, replies):
            if not rep.cached:
                facts["prompt_tokens"] += rep.prompt_tokens or 0
                facts["completion_tokens"] += rep.completion_tokens or 0
            if rep.error is not None:
                facts["rejected"] += 1
                s, why = None, rep.error
            else:
                s, why = parse_verdict((p.reply_prefix or "") + (rep.content or "")) if p.reply_prefix else (None, "")
                if s is None:
                    s, why = parse_verdict(rep.content)
                if s is None:
                    facts["unparseable"] += 1
            if s is not None and not (s <= score[i]):  # NaN compares False: the first score wins over none
                score[i], reason[i], kind[i] = s, why, k
            elif s is None:
                notes.setdefault(i, []).append(f"{k}: {why}")
        for i, parts in notes.items():
            if np.isnan(score[i]):
                reason[i] = " | ".join(parts)
        return _table(score, reason, kind)

    def facts(self, state: dict[str, Any]) -> dict[str, Any]:
        return dict(state.get("facts") or {})

    def decide(self, scores: pa.Table) -> np.ndarray:
        s = scores["judge_score"].to_numpy(zero_copy_only=False).astype(np.float64)
        return np.nan_to_num(s, nan=-np.inf) >= self.params.threshold


def _table(score: np.ndarray, reason: list[str | None], kind: list[str | None]) -> pa.Table:
    return pa.table({"judge_score": pa.array(score, pa.float64(), mask=np.isnan(score)),
                     "judge_reason": pa.array(reason, pa.string()),
                     "judge_kind": pa.array(kind, pa.string())})
