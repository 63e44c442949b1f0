"""The judge client against a real chat-completions server process (finesift.models.serve on SmolLM2).

The server runs as a child process on a free port, with an API key and its test controls (fail or
delay the next requests, count what it received): retries, timeouts, stops and the cache are
seen from the server's side, never through a mocked client.
"""

from __future__ import annotations

import httpx
import pytest

from finesift.errors import ConfigError
from finesift.models.judge import (
    Endpoint,
    JudgeAuthError,
    JudgeClient,
    JudgeError,
    JudgeQuotaError,
    ReplyCache,
    Request,
    parse_verdict,
    plan,
    request_key,
    resolve_endpoint,
)
from finesift.models.serve import SERVED_NAME, Background

KEY = "test-key"


@pytest.fixture(scope="module")
def server():
    with Background(api_key=KEY, test_controls=True, max_new_tokens=16) as srv:
        yield srv


def control(server, **settings):
    httpx.post(server.url + "/_control", json={"reset_stats": True, **settings}).raise_for_status()


def stats(server) -> dict:
    return httpx.get(server.url + "/_stats").json()


def endpoint(server, **kw) -> Endpoint:
    return Endpoint(**{"url": server.url, "model": SERVED_NAME, "api_key": KEY, "timeout": 30.0, "backoff": 0.01,
                       "max_retries": 3, "concurrency": 2, **kw})


def req(text: str, tokens: int = 4) -> Request:
    return Request((("system", "You are terse."), ("user", text)), max_tokens=tokens)


def test_replies_are_cached_and_never_requested_twice(server, tmp_path):
    control(server)
    cache = ReplyCache(tmp_path)
    with JudgeClient(endpoint(server), cache) as client:
        first = client.complete([req("Name a colour."), req("Name a fruit.")])
    assert all(isinstance(r.content, str) and not r.cached for r in first)
    assert all(r.prompt_tokens > 0 and 0 < r.completion_tokens <= 4 for r in first)
    assert stats(server)["received"] == 2
    with JudgeClient(endpoint(server), cache) as client:  # a new run: every reply comes from disk
        again = client.complete([req("Name a fruit."), req("Name a colour.")])
    assert stats(server)["received"] == 2 and client.sent == 0 and client.cache_hits == 2
    assert [r.content for r in again] == [first[1].content, first[0].content] and all(r.cached for r in again)
    # the key is the content: another model, URL or setting is another request; the API key is not part of it
    k = request_key(server.url, SERVED_NAME, req("Name a fruit."))
    assert k == request_key(server.url + "/", SERVED_NAME, req("Name a fruit."))
    assert k != request_key(server.url, "other", req("Name a fruit.")) != request_key(server.url, SERVED_NAME,
                                                                                      req("Name a fruit.", 5))


def test_concurrency_is_bounded(server, tmp_path):
    control(server, delay_next=6, delay=0.3)
    with JudgeClient(endpoint(server, concurrency=2), ReplyCache(tmp_path)) as client:
        replies = client.complete([req(f"Say {i}.", 1) for i in range(6)])
    assert len(replies) == 6 and stats(server)["max_in_flight"] == 2


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    control(server, fail_next=2, fail_status=503)
    with JudgeClient(endpoint(server, concurrency=1), ReplyCache(tmp_path)) as client:
        (reply,) = client.complete([req("Hello.")])
    assert reply.content is not None and client.sent == 3
    assert stats(server) | {} == {"received": 3, "answered": 1, "failed": 2, "max_in_flight": 1}


def test_a_timeout_is_retried(server, tmp_path):
    control(server, delay_next=1, delay=2.0)
    with JudgeClient(endpoint(server, concurrency=1, timeout=0.7), ReplyCache(tmp_path)) as client:
        (reply,) = client.complete([req("Hello there.")])
    assert reply.content is not None and client.sent == 2


def test_an_endpoint_that_keeps_failing_stops_with_one_line_and_caches_nothing(server, tmp_path):
    control(server, fail_next=50, fail_status=500)
    cache = ReplyCache(tmp_path)
    with JudgeClient(endpoint(server, concurrency=1, max_retries=2), cache) as client:
        with pytest.raises(JudgeError, match=r"failed after 3 tries \(HTTP 500.*rerun to continue"):
            client.complete([req("Hello.")])
    assert not any(tmp_path.rglob("*.json"))


def test_a_refused_key_stops_at_once(server, tmp_path):
    control(server)
    with JudgeClient(endpoint(server, api_key="wrong", concurrency=1), ReplyCache(tmp_path)) as client:
        with pytest.raises(JudgeAuthError, match="refused the API key \\(HTTP 401.*FINESIFT_JUDGE_API_KEY"):
            client.complete([req(f"Hi {i}.") for i in range(5)])
    assert stats(server)["received"] == 1  # neither retried nor followed by the other four


def test_spent_quota_stops_without_retrying(server, tmp_path):
    control(server, fail_next=10, quota=True)
    with JudgeClient(endpoint(server, concurrency=1), ReplyCache(tmp_path)) as client:
        with pytest.raises(JudgeQuotaError, match="quota"):
            client.complete([req("Hi."), req("Hello.")])
    assert stats(server)["received"] == 1


def test_unknown_model_is_a_clear_stop_and_a_bad_request_only_fails_its_row(server, tmp_path):
    control(server)
    with JudgeClient(endpoint(server, model="no-such-model"), ReplyCache(tmp_path)) as client:
        with pytest.raises(JudgeError, match="not found \\(HTTP 404"):
            client.complete([req("Hi.")])
    with JudgeClient(endpoint(server), ReplyCache(tmp_path)) as client:
        bad, good = client.complete([Request(()), req("Hi.")])
    assert bad.content is None and "HTTP 400" in bad.error and good.content is not None
    assert len(list(tmp_path.rglob("*.json"))) == 1  # the rejected request is not cached: a rerun asks again


def test_plan_counts_cached_requests_and_sends_nothing(server, tmp_path):
    control(server)
    cache = ReplyCache(tmp_path)
    reqs = [req("One."), req("Two."), req("Three.")]
    keys = [request_key(server.url, SERVED_NAME, r) for r in reqs]
    with JudgeClient(endpoint(server), cache) as client:
        client.complete(reqs[:1])
    p = plan(reqs, keys, cache, price_per_1k_tokens=2.0, price_per_1k_output_tokens=4.0)
    assert (p.requests, p.cached, p.to_send, p.completion_tokens) == (3, 1, 2, 8)
    assert p.cost == pytest.approx((p.prompt_tokens * 2.0 + 8 * 4.0) / 1000)
    assert "2 request(s) to send (1 of 3 cached)" in p.line()
    assert stats(server)["received"] == 1


def test_endpoint_from_the_environment(monkeypatch):
    for var in ("FINESIFT_JUDGE_URL", "FINESIFT_JUDGE_MODEL", "FINESIFT_JUDGE_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="FINESIFT_JUDGE_URL"):
        resolve_endpoint()
    monkeypatch.setenv("FINESIFT_JUDGE_URL", "http://h:1/v1/chat/completions")
    monkeypatch.setenv("FINESIFT_JUDGE_MODEL", "m")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-1")
    ep = resolve_endpoint()
    assert (ep.url, ep.model, ep.api_key, ep.completions_url) == ("http://h:1/v1", "m", "sk-1",
                                                                  "http://h:1/v1/chat/completions")
    monkeypatch.setenv("FINESIFT_JUDGE_API_KEY", "fs-2")
    assert resolve_endpoint().api_key == "fs-2"
    with pytest.raises(ConfigError, match="not an http"):
        resolve_endpoint("localhost:8000", "m")


@pytest.mark.parametrize("text,score,reason", [
    ('{"score": 0.8, "reason": "2 + 2 is 4, not 5"}', 0.8, "2 + 2 is 4, not 5"),
    ('Here you go:\n```json\n{"Score": 1, "Reason": "made up"}\n```', 1.0, "made up"),
    ('Sure. {"rating": 7, "explanation": "vague"} Hope that helps!', 0.7, "vague"),
    ("Score: 0.3\nReason: mostly right\nextra line", 0.3, "mostly right"),
    ("score = 8/10 because the sum is wrong", 0.8, "because the sum is wrong"),
    ("Rating: 3 out of 5. Reason: partial", 0.6, "partial"),
    ("Score: 45%", 0.45, "no reason given"),
    ('{"score": 2, "reason": "cut off', 0.2, "cut off"),  # a reply cut at max_tokens still has its score
])
def test_verdicts_are_read_from_json_or_score_lines(text, score, reason):
    got, why = parse_verdict(text)
    assert got == pytest.approx(score) and why == reason


@pytest.mark.parametrize("text", ["The answer is fine.", "", "   ", "score: 250", '{"score": true}', "7",
                                  '{"score": -1, "reason": "x"}'])
def test_an_unreadable_verdict_is_none_never_zero(text):
    got, why = parse_verdict(text)
    assert got is None and why.startswith("unparseable judge reply")
