"""A client for an LLM judge behind any OpenAI-compatible chat-completions endpoint.

vLLM, the llama.cpp server, Ollama, LM Studio and hosted APIs all speak ``POST {base}/chat/completions``;
``base`` is the URL an OpenAI client takes as its base URL (``http://localhost:8000/v1``,
``http://localhost:11434/v1`` for Ollama, ``https://api.openai.com/v1``).

What a paid or slow endpoint needs, and this gives:

* an on-disk cache, one file per request, keyed on the content hash of (base URL, model, messages,
  generation settings): a reply is stored the moment it arrives, so a rerun or a run that crashed
  half way never pays for a request twice. The API key is not part of the key and never stored.
* bounded concurrency (a thread pool over one shared ``httpx.Client``), a timeout per request, and
  retries with exponential backoff (``Retry-After`` honoured) on 429, 5xx, timeouts and refused
  connections;
* a clear stop (a :class:`~finesift.errors.FinesiftError`, one line) on 401/403 (the key), on quota
  or billing errors (402, or a 429 that says "quota"), on 404 (wrong URL or model), and when an
  endpoint still fails after every retry: replies already received stay cached, so rerunning
  continues where the run stopped;
* :func:`plan`: how many requests a run would send (and how many are cached), their estimated
  tokens and cost, without sending anything (the dry run).

A request the endpoint rejects as such (400, 413, 422: a prompt over its context length) is not
retried and does not stop the run: it comes back as a :class:`Reply` with ``error`` set.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import tempfile
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import ConfigError, FinesiftError, MissingDependencyError

ENV_URL = "FINESIFT_JUDGE_URL"
ENV_MODEL = "FINESIFT_JUDGE_MODEL"
ENV_KEY = "FINESIFT_JUDGE_API_KEY"
#: the key variable OpenAI clients read, used when FINESIFT_JUDGE_API_KEY is unset
ENV_OPENAI_KEY = "OPENAI_API_KEY"
#: replies whose status is worth another try: rate limits and server-side failures
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class JudgeError(FinesiftError):
    """The judge endpoint cannot be used: bad key, quota spent, wrong URL or model, or down."""


class _Stopped(JudgeError):
    """A worker saw another worker's stop and sent nothing."""


class JudgeAuthError(JudgeError):
    """401/403: the endpoint refused the API key."""


class JudgeQuotaError(JudgeError):
    """402, or a 429 that says the quota or credit is spent: retrying would not help."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to send requests. ``url`` is the base URL (``.../v1``), as OpenAI clients take it."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    max_retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0
    concurrency: int = 4

    @property
    def completions_url(self) -> str:
        return self.url.rstrip("/") + "/chat/completions"


def resolve_endpoint(url: str | None = None, model: str | None = None, api_key: str | None = None,
                     **settings: Any) -> Endpoint:
    """An :class:`Endpoint` from explicit values, else the environment; a missing URL or model is a ConfigError."""
    url = url or os.environ.get(ENV_URL) or None
    model = model or os.environ.get(ENV_MODEL) or None
    api_key = api_key or os.environ.get(ENV_KEY) or os.environ.get(ENV_OPENAI_KEY) or None
    if not url:
        raise ConfigError(f"the judge needs an endpoint: set the check parameter judge.url or {ENV_URL} to an "
                          "OpenAI-compatible base URL such as http://localhost:8000/v1 (or use dry_run)")
    if not model:
        raise ConfigError(f"the judge needs a model name: set the check parameter judge.model or {ENV_MODEL}")
    return Endpoint(url=_base_url(url), model=model, api_key=api_key, **settings)


def _base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/chat/completions"):  # a full endpoint URL pasted where the base URL goes
        url = url[: -len("/chat/completions")]
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"judge url {url!r}: not an http(s) URL")
    return url


@dataclass(frozen=True)
class Request:
    """One chat-completions request: the messages and the generation settings."""

    messages: tuple[tuple[str, str], ...]  # (role, content)
    max_tokens: int = 128
    temperature: float = 0.0

    def body(self, model: str) -> dict[str, Any]:
        return {"model": model, "messages": [{"role": r, "content": c} for r, c in self.messages],
                "max_tokens": self.max_tokens, "temperature": self.temperature}

    def chars(self) -> int:
        return sum(len(c) for _, c in self.messages)


def request_key(url: str, model: str, request: Request) -> str:
    """Content hash of what decides the reply (the API key aside): the cache key."""
    payload = orjson.dumps({"url": _base_url(url), "model": model, "messages": request.messages,
                            "max_tokens": request.max_tokens, "temperature": request.temperature})
    return hashlib.sha256(payload).hexdigest()


@dataclass
class Reply:
    """A request's outcome: the reply text, or ``error`` (the endpoint rejected this one request)."""

    content: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    error: str | None = None


class ReplyCache:
    """One JSON file per request under ``folder`` (``<key[:2]>/<key>.json``), written atomically."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> Reply | None:
        try:
            data = orjson.loads(self._path(key).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None  # absent, or a file another process is writing: ask again
        return Reply(data.get("content"), data.get("prompt_tokens"), data.get("completion_tokens"), cached=True)

    def put(self, key: str, reply: Reply) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps({"content": reply.content, "prompt_tokens": reply.prompt_tokens,
                             "completion_tokens": reply.completion_tokens})
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # atomic: a crash never leaves a half-written reply that reads as cached
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def default_cache_dir() -> Path:
    from .cache import cache_dir

    return cache_dir("judge")


@dataclass
class Plan:
    """What a run would send: requests, how many are cached, estimated tokens and cost."""

    requests: int
    cached: int
    prompt_tokens: int
    completion_tokens: int
    price_per_1k_tokens: float | None = None
    price_per_1k_output_tokens: float | None = None

    @property
    def to_send(self) -> int:
        return self.requests - self.cached

    @property
    def cost(self) -> float | None:
        if self.price_per_1k_tokens is None:
            return None
        out_price = self.price_per_1k_output_tokens
        out_price = self.price_per_1k_tokens if out_price is None else out_price
        return round((self.prompt_tokens * self.price_per_1k_tokens + self.completion_tokens * out_price) / 1000, 6)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "cached": self.cached, "to_send": self.to_send,
                "estimated_prompt_tokens": self.prompt_tokens, "estimated_completion_tokens": self.completion_tokens,
                "estimated_cost": self.cost}

    def line(self) -> str:
        cost = "no price set (price_per_1k_tokens)" if self.cost is None else f"estimated cost {self.cost:.4f}"
        return (f"judge: {self.to_send} request(s) to send ({self.cached} of {self.requests} cached), "
                f"~{self.prompt_tokens} prompt + up to {self.completion_tokens} reply tokens, {cost}")


def estimate_tokens(chars: int, chars_per_token: float = 4.0) -> int:
    """Tokens of a text of ``chars`` characters: the judge's tokenizer is unknown, so the usual ~4 chars/token."""
    return int(math.ceil(chars / chars_per_token)) if chars else 0


def plan(requests: list[Request], keys: list[str], cache: ReplyCache | None, *, chars_per_token: float = 4.0,
         price_per_1k_tokens: float | None = None, price_per_1k_output_tokens: float | None = None) -> Plan:
    """The dry run: counts and estimates for the requests not in ``cache``; sends nothing."""
    todo = [r for r, k in zip(requests, keys) if cache is None or k not in cache]
    # each message also costs a few tokens of chat markup
    prompt = sum(estimate_tokens(r.chars(), chars_per_token) + 4 * len(r.messages) for r in todo)
    return Plan(len(requests), len(requests) - len(todo), prompt, sum(r.max_tokens for r in todo),
                price_per_1k_tokens, price_per_1k_output_tokens)


class JudgeClient:
    """Sends requests to one endpoint with a cache, bounded concurrency, timeouts and retries."""

    def __init__(self, endpoint: Endpoint, cache: ReplyCache | None = None):
        try:
            import httpx
        except ImportError as exc:
            raise MissingDependencyError("httpx", "The LLM judge") from exc
        self.endpoint = endpoint
        self.cache = cache
        headers = {"Content-Type": "application/json"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        limits = httpx.Limits(max_connections=max(1, endpoint.concurrency))
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(endpoint.timeout), limits=limits)
        self._httpx = httpx
        self._stop = threading.Event()
        #: whether a request of this client has been answered (until then one is sent alone: a probe)
        self._probed = False
        #: requests actually sent (retries included) and replies taken from the cache, for the run's facts
        self.sent = 0
        self.cache_hits = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JudgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def key(self, request: Request) -> str:
        return request_key(self.endpoint.url, self.endpoint.model, request)

    def complete(self, requests: list[Request]) -> list[Reply]:
        """Replies in request order: cached ones first looked up, the rest sent concurrently.

        A fatal error (auth, quota, 404, retries spent) stops every worker and is raised; replies
        received before it are already cached.
        """
        self._stop.clear()
        out: list[Reply | None] = [None] * len(requests)
        todo: list[tuple[int, str]] = []
        for i, req in enumerate(requests):
            key = self.key(req)
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                out[i] = hit
                self.cache_hits += 1
            else:
                todo.append((i, key))
        if todo and not self._probed:
            # the first request alone: a refused key, spent quota or wrong URL then costs one request,
            # not one per worker
            i, key = todo.pop(0)
            out[i] = self._one(requests[i], key)
            self._probed = True
        if todo:
            workers = max(1, min(self.endpoint.concurrency, len(todo)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="finesift-judge") as pool:
                futures = {pool.submit(self._one, requests[i], key): i for i, key in todo}
                done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    self._stop.set()  # workers check it before each try: nothing new is sent
                    for f in pending:
                        f.cancel()
                    wait(futures)
                    errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
                    # the error that stopped the run, not a worker's "stopped" that followed it
                    raise next((e for e in errors if not isinstance(e, _Stopped)), errors[0])  # type: ignore[misc]
                for f, i in futures.items():
                    out[i] = f.result()
        return out  # type: ignore[return-value]

    def _one(self, request: Request, key: str) -> Reply:
        try:
            return self._send(request, key)
        except _Stopped:
            raise
        except JudgeError:
            self._stop.set()  # before the worker takes its next request: a stop sends nothing more
            raise

    def _send(self, request: Request, key: str) -> Reply:
        ep = self.endpoint
        httpx = self._httpx
        body = request.body(ep.model)
        last = ""
        retry_after: float | None = None
        for attempt in range(ep.max_retries + 1):
            if self._stop.is_set():
                raise _Stopped("judge run stopped")
            # waits on the stop event, not a plain sleep: a stop elsewhere ends a backoff at once
            if attempt and self._stop.wait(self._delay(attempt, retry_after)):
                raise _Stopped("judge run stopped")
            retry_after = None
            with self._lock:
                self.sent += 1
            try:
                resp = self._http.post(ep.completions_url, json=body)
            except httpx.TimeoutException:
                last = f"timed out after {ep.timeout:g} s"
                continue
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__}: {_short(str(exc))})"
                continue
            status = resp.status_code
            if status == 200:
                reply = _parse_completion(resp)
                if reply.error is None and self.cache is not None:
                    self.cache.put(key, reply)
                return reply
            message = _error_message(resp)
            if status in (401, 403):
                raise JudgeAuthError(f"judge endpoint {ep.url} refused the API key (HTTP {status}: {message}); "
                                     f"set {ENV_KEY} (or {ENV_OPENAI_KEY}) or the check parameter judge.api_key")
            if status == 402 or (status == 429 and _is_quota(message)):
                raise JudgeQuotaError(f"judge endpoint {ep.url}: quota or credit exhausted (HTTP {status}: {message}); "
                                      "replies so far are cached, rerun when the quota allows")
            if status == 404:
                raise JudgeError(f"judge endpoint {ep.completions_url}: not found (HTTP 404: {message}); check the "
                                 "base URL (it usually ends in /v1) and the model name")
            if status in RETRY_STATUS:
                last = f"HTTP {status}: {message}"
                retry_after = _retry_after(resp)
                continue
            return Reply(None, error=f"endpoint rejected the request (HTTP {status}: {message})")
        raise JudgeError(f"judge endpoint {ep.url} failed after {ep.max_retries + 1} tries ({last}); replies so far "
                         "are cached, rerun to continue")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        ep = self.endpoint
        if retry_after is not None:
            return min(retry_after, ep.max_backoff)
        # exponential, with jitter so that concurrent workers do not retry in lockstep
        return min(ep.backoff * 2 ** (attempt - 1), ep.max_backoff) * (0.5 + random.random() / 2)


def _parse_completion(resp: Any) -> Reply:
    try:
        data = resp.json()
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Reply(None, error=f"endpoint answered without a chat completion: {_short(resp.text)}")
    usage = data.get("usage") or {}
    return Reply(content if isinstance(content, str) else None, usage.get("prompt_tokens"),
                 usage.get("completion_tokens"))


def _error_message(resp: Any) -> str:
    try:
        data = resp.json()
    except ValueError:
        return _short(resp.text) or resp.reason_phrase
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return _short(" ".join(str(err.get(k)) for k in ("message", "code", "type") if err.get(k)))
    if isinstance(err, str):
        return _short(err)
    if isinstance(data, dict) and data.get("detail"):
        return _short(str(data["detail"]))
    return _short(resp.text)


def _is_quota(message: str) -> bool:
    low = message.lower()
    return any(w in low for w in ("quota", "billing", "credit", "insufficient_funds", "payment"))


def _retry_after(resp: Any) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the exponential backoff


def _short(text: str, limit: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_SCORE = re.compile(r"\b(?:score|rating|defect(?:ive)?(?:[ _]score)?|badness|probability)\b\W{0,3}[:=]?\s*"
                    r"(-?\d+(?:[.,]\d+)?)\s*(?:(?:/|out of)\s*(\d+(?:\.\d+)?))?(\s*%)?", re.IGNORECASE)
_REASON = re.compile(r"\b(?:reason|explanation|because|why)\b\W{0,3}[:=]\s*[\"']?(.+)", re.IGNORECASE)
_SCORE_KEYS = ("score", "rating", "defect_score", "badness", "probability")
_REASON_KEYS = ("reason", "explanation", "rationale", "why")


def parse_verdict(text: str | None) -> tuple[float | None, str]:
    """``(score, reason)`` from a judge's reply; an unparseable reply is ``(None, "unparseable ...")``.

    Read in order: a JSON object (bare, in a code fence or inside prose) with ``score`` and
    ``reason``; else "score: x" / "rating = x/10" and "reason: ..." lines. Scores are brought to
    0..1: "x/N" and "x out of N" are divided by N, "x%" by 100, and a bare number above 1 is read
    on a 0..10 scale (up to 10) or 0..100 (up to 100). Anything else is not a score: never a silent 0.
    """
    raw = text or ""
    if not raw.strip():
        return None, "unparseable judge reply: empty"
    candidates = [m.group(1) for m in _FENCE.finditer(raw)] + [m.group(0) for m in _OBJECT.finditer(raw)]
    for cand in candidates:
        try:
            data = orjson.loads(cand.strip())
        except orjson.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        low = {str(k).lower(): v for k, v in data.items()}
        value = next((low[k] for k in _SCORE_KEYS if k in low), None)
        score = _scale(value)
        if score is not None:
            reason = next((low[k] for k in _REASON_KEYS if k in low and low[k] is not None), "")
            return score, _one_line(str(reason)) or "no reason given"
    m = _SCORE.search(raw)
    if m:
        score = _scale(m.group(1).replace(",", "."), m.group(2), bool(m.group(3)))
        if score is not None:
            r = _REASON.search(raw)
            reason = r.group(1) if r else raw[m.end():] or raw[: m.start()]
            return score, _one_line(reason.strip(" \t\"',.;:-}")) or "no reason given"
    return None, f"unparseable judge reply: {_one_line(raw, 120)}"


def _scale(value: Any, denominator: str | None = None, percent: bool = False) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x) or x < 0:
        return None
    if denominator is not None:
        d = float(denominator)
        x = x / d if d > 0 else math.nan
    elif percent:
        x /= 100
    elif x > 1:
        x = x / 10 if x <= 10 else x / 100 if x <= 100 else math.nan
    return x if 0 <= x <= 1 else None


def _one_line(text: str, limit: int = 200) -> str:
    return _short(text.strip().splitlines()[0] if text.strip() else "", limit)
