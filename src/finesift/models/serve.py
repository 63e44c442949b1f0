"""A small OpenAI-compatible chat-completions server over a local causal LM (default: the packaged SmolLM2).

``python -m finesift.models.serve --port 8000`` serves ``POST /v1/chat/completions`` (and
``GET /v1/models``) on CPU with greedy decoding, so the same request always gets the same reply.
A final ``assistant`` message is continued rather than answered (a prefill, as vLLM's
``continue_final_message`` and the llama.cpp server do).
It exists to run the LLM judge (:mod:`finesift.checks.judge`) end to end without a network: point
``FINESIFT_JUDGE_URL`` at ``http://127.0.0.1:8000/v1``. SmolLM2-135M is no judge (it rarely follows
a reply format); for real judging serve a strong model with vLLM, the llama.cpp server or Ollama.

Options a client's failure handling is tested with (all off by default):

* ``--api-key KEY``: requests without ``Authorization: Bearer KEY`` get 401;
* ``--test-controls``: enables ``POST /v1/_control`` to make the next N chat requests fail with a
  status (503, 429, a quota 429 ...) or wait a number of seconds first, and ``GET /v1/_stats``
  (requests received, answered, failed on purpose, the most served at once).

One generation runs at a time (a lock): a CPU model gains nothing from parallel requests, and the
stats still see how many arrive at once.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

# at module level: FastAPI resolves the handlers' (postponed) annotations in this module's globals
from fastapi import Request

SERVED_NAME = "smollm2-135m-instruct"


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.answered = 0
        self.failed = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_next = 0
        self.fail_status = 503
        self.quota = False
        self.delay_next = 0
        self.delay = 0.0


def create_app(model: str | Path | None = None, *, api_key: str | None = None, test_controls: bool = False,
               max_new_tokens: int = 256, served_name: str | None = None, threads: int | None = None):
    """The FastAPI app; the model loads once, here, on CPU."""
    import torch
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from .loading import load_causal_lm

    if threads:
        torch.set_num_threads(threads)
    lm, tok = load_causal_lm(model, device="cpu")
    lm.eval()
    name = served_name or (SERVED_NAME if model is None else Path(str(model)).name)
    state = _State()
    generate_lock = threading.Lock()
    app = FastAPI(title="finesift chat-completions server")

    def error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)

    def authorized(request: Request) -> bool:
        return api_key is None or request.headers.get("authorization", "") == f"Bearer {api_key}"

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models(request: Request):
        if not authorized(request):
            return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "finesift"}]}

    # a plain def: FastAPI runs it in its thread pool, so concurrent requests really are concurrent
    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any], request: Request):
        with state.lock:
            state.received += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            fail = state.fail_next > 0
            state.fail_next -= fail
            delay = state.delay if state.delay_next > 0 else 0.0
            state.delay_next -= state.delay_next > 0
        try:
            if not authorized(request):
                return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            if delay:
                time.sleep(delay)
            if fail:
                with state.lock:
                    state.failed += 1
                if state.quota:
                    return error(429, "You exceeded your current quota, please check your plan and billing details.",
                                 "insufficient_quota", "insufficient_quota")
                return error(state.fail_status, "Injected failure (test control).", "server_error")
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return error(400, "'messages' must be a non-empty list.", "invalid_request_error")
            if body.get("model") not in (None, name):
                return error(404, f"The model '{body.get('model')}' does not exist.", "invalid_request_error",
                             "model_not_found")
            chat_msgs = [{"role": m.get("role", "user"), "content": _text(m.get("content"))} for m in messages]
            limit = body.get("max_completion_tokens") or body.get("max_tokens") or max_new_tokens
            limit = max(1, min(int(limit), max_new_tokens))
            # a final assistant message is a prefill the reply continues (as vLLM's continue_final_message
            # and the llama.cpp server do): how a weak judge is held to a reply format
            prefill = chat_msgs[-1]["role"] == "assistant"
            ids = tok.apply_chat_template(chat_msgs, add_generation_prompt=not prefill, continue_final_message=prefill,
                                          return_tensors="pt", return_dict=True)["input_ids"]
            with generate_lock, torch.inference_mode():
                out = lm.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=limit, do_sample=False,
                                  pad_token_id=tok.pad_token_id or tok.eos_token_id)
            new = out[0, ids.shape[1]:]
            content = tok.decode(new, skip_special_tokens=True)
            finish = "length" if len(new) >= limit and int(new[-1]) != tok.eos_token_id else "stop"
            with state.lock:
                state.answered += 1
            return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                    "model": name,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": finish}],
                    "usage": {"prompt_tokens": int(ids.shape[1]), "completion_tokens": len(new),
                              "total_tokens": int(ids.shape[1] + len(new))}}
        finally:
            with state.lock:
                state.in_flight -= 1

    if test_controls:
        @app.post("/v1/_control")
        def control(body: dict[str, Any]) -> dict[str, Any]:
            with state.lock:
                state.fail_next = int(body.get("fail_next", 0))
                state.fail_status = int(body.get("fail_status", 503))
                state.quota = bool(body.get("quota", False))
                state.delay_next = int(body.get("delay_next", 0))
                state.delay = float(body.get("delay", 0.0))
                if body.get("reset_stats"):
                    state.received = state.answered = state.failed = state.max_in_flight = 0
            return {"ok": True}

        @app.get("/v1/_stats")
        def stats() -> dict[str, int]:
            with state.lock:
                return {"received": state.received, "answered": state.answered, "failed": state.failed,
                        "max_in_flight": state.max_in_flight}

    return app


def _text(content: Any) -> str:
    """A message's content: a string, or OpenAI content parts whose text parts are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class Background:
    """This server as a child process on a free local port (what tests and smoke runs use).

    ``with Background(api_key="k", test_controls=True) as srv: srv.url`` gives the base URL
    (``http://127.0.0.1:PORT/v1``) once the server answers; leaving the block stops the process.
    """

    def __init__(self, model: str | Path | None = None, *, api_key: str | None = None, test_controls: bool = False,
                 max_new_tokens: int = 256, served_name: str | None = None, threads: int = 1,
                 startup_timeout: float = 120.0):
        self.args = ["--threads", str(threads), "--max-new-tokens", str(max_new_tokens)]
        if model is not None:
            self.args += ["--model", str(model)]
        if served_name:
            self.args += ["--served-name", served_name]
        if api_key:
            self.args += ["--api-key", api_key]
        if test_controls:
            self.args.append("--test-controls")
        self.startup_timeout = startup_timeout
        self.proc = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Background:
        import socket
        import sys
        import tempfile

        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # a file, not a pipe: a pipe nobody reads would block the server once it fills
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "finesift.models.serve", "--port", str(self.port),
                                      *self.args], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                out = self._log.read().decode(errors="replace")
                raise RuntimeError(f"the chat-completions server exited with {self.proc.returncode}: {out[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"the chat-completions server did not answer within {self.startup_timeout:g} s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m finesift.models.serve", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--model", default=None, help="local Hugging Face model folder (default: the packaged SmolLM2)")
    ap.add_argument("--served-name", default=None, help="the model name clients send (default: the folder's name)")
    ap.add_argument("--api-key", default=None, help="require this bearer key")
    ap.add_argument("--max-new-tokens", type=int, default=256, help="cap on reply tokens")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--test-controls", action="store_true", help="enable /v1/_control and /v1/_stats (tests)")
    args = ap.parse_args(argv)
    import uvicorn

    app = create_app(args.model, api_key=args.api_key, test_controls=args.test_controls,
                     max_new_tokens=args.max_new_tokens, served_name=args.served_name, threads=args.threads)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
