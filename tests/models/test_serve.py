"""The chat-completions server (finesift.models.serve): the OpenAI protocol, greedy replies, auth, controls.

In-process through FastAPI's test client over a tiny random Llama with the SmolLM2 tokenizer and
chat template (fast); tests/models/test_judge.py and tests/checks/test_judge.py run it as a real
process on SmolLM2.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from finesift.models.serve import create_app

MSG = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def client(tiny_lm_dir):
    app = create_app(tiny_lm_dir, api_key="k", test_controls=True, max_new_tokens=8, threads=1)
    with TestClient(app, headers={"Authorization": "Bearer k"}) as c:
        yield c


def test_a_chat_completion_in_the_openai_shape_greedy_and_capped(client, tiny_lm_dir):
    body = {"model": tiny_lm_dir.name, "messages": MSG, "max_tokens": 5, "temperature": 0.7}
    first = client.post("/v1/chat/completions", json=body)
    assert first.status_code == 200, first.text
    data = first.json()
    assert data["object"] == "chat.completion" and data["model"] == tiny_lm_dir.name
    (choice,) = data["choices"]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    usage = data["usage"]
    assert 0 < usage["completion_tokens"] <= 5 and usage["total_tokens"] == usage["prompt_tokens"] + usage[
        "completion_tokens"]
    # greedy: the same request gets the same reply (temperature is not sampled)
    assert client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"] == choice["message"]
    # the server's cap wins over a larger request
    big = client.post("/v1/chat/completions", json={**body, "max_tokens": 500}).json()
    assert big["usage"]["completion_tokens"] <= 8


def test_content_parts_and_a_prefill_are_understood(client):
    parts = [{"role": "user", "content": [{"type": "text", "text": "Name "}, {"type": "text", "text": "a colour."}]}]
    plain = client.post("/v1/chat/completions", json={"messages": parts, "max_tokens": 2}).json()
    prefilled = client.post("/v1/chat/completions", json={
        "messages": parts + [{"role": "assistant", "content": '{"score": '}], "max_tokens": 2}).json()
    # the prefill is continued: its tokens are part of the prompt, and no new assistant turn is opened
    assert prefilled["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"]


def test_errors_are_openai_error_objects(client, tiny_lm_dir):
    anon = client.post("/v1/chat/completions", json={"messages": MSG}, headers={"Authorization": "Bearer nope"})
    assert anon.status_code == 401 and anon.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models", headers={"Authorization": ""}).status_code == 401
    assert client.get("/v1/models").json()["data"][0]["id"] == tiny_lm_dir.name
    missing = client.post("/v1/chat/completions", json={"model": "gpt-none", "messages": MSG})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 400


def test_test_controls_inject_failures_and_count_requests(client, tiny_lm_dir):
    client.post("/v1/_control", json={"fail_next": 1, "fail_status": 503, "reset_stats": True})
    assert client.post("/v1/chat/completions", json={"messages": MSG, "max_tokens": 1}).status_code == 503
    assert client.post("/v1/chat/completions", json={"messages": MSG, "max_tokens": 1}).status_code == 200
    client.post("/v1/_control", json={"fail_next": 1, "quota": True})
    quota = client.post("/v1/chat/completions", json={"messages": MSG, "max_tokens": 1})
    assert quota.status_code == 429 and quota.json()["error"]["code"] == "insufficient_quota"
    assert client.get("/v1/_stats").json() == {"received": 3, "answered": 1, "failed": 2, "max_in_flight": 1}


def test_controls_are_off_unless_asked_for(tiny_lm_dir):
    with TestClient(create_app(tiny_lm_dir, threads=1)) as plain:
        assert plain.post("/v1/_control", json={"fail_next": 5}).status_code in (404, 405)
        assert plain.get("/v1/_stats").status_code in (404, 405)
        # no --api-key: no key needed
        assert plain.post("/v1/chat/completions", json={"messages": MSG, "max_tokens": 1}).status_code == 200
