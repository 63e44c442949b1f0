"""The review app: a FastAPI application over one curate output folder and its decision store.

Security model (the app has no authentication; it is meant for 127.0.0.1):

* every request's ``Host`` header must name the served address (blocks DNS rebinding, where a
  web page re-points its own name at 127.0.0.1 to read the data);
* a state-changing request (POST) is refused unless it carries the per-server random token the
  page was served with (``X-Finesift-Token``), a JSON content type, no foreign ``Origin`` and no
  cross-site ``Sec-Fetch-Site``: a form or a script on another site can do neither;
* no route takes a path: static files come from a fixed list of names, rows are integers, and
  the export path is given on the command line only;
* dataset text reaches the page as JSON and is put in with ``textContent`` only; the Content
  Security Policy allows scripts from the app's own origin only, so an ``onerror=`` in data could
  not run even if it were parsed.
"""

from __future__ import annotations

import difflib
import html
import random
import re
import secrets
import threading
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ..errors import InputError
from .data import PARTNER_COLUMNS, ReviewData
from .store import DB_NAME, ReviewStore

STATIC_DIR = Path(__file__).resolve().parent.parent / "data" / "review"
#: the only files the app serves, by name
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
TOKEN_HEADER = "x-finesift-token"
#: share of decisions after which an already-decided row is shown again (unannounced)
SELF_CHECK_RATE = 0.05
#: no self-check before this many decisions (nothing to repeat yet)
SELF_CHECK_AFTER = 10
MAX_TEXT = 1_000_000
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
WILDCARD = ("0.0.0.0", "::", "")


class RowDecision(BaseModel):
    row: int
    decision: Literal["accept", "reject", "edit"]
    prompt: str | None = Field(None, max_length=MAX_TEXT)
    output: str | None = Field(None, max_length=MAX_TEXT)


class DecideBody(BaseModel):
    queue: str = Field(..., max_length=200)
    rows: list[RowDecision] = Field(..., min_length=1, max_length=1000)
    cursor: int | None = None


class RecheckBody(BaseModel):
    id: int
    decision: Literal["accept", "reject", "edit"]
    queue: str | None = Field(None, max_length=200)
    cursor: int | None = None


class BulkBody(BaseModel):
    queue: str = Field(..., max_length=200)
    decision: Literal["accept", "reject"]
    code: str | None = Field(None, max_length=200)
    column: str | None = Field(None, max_length=200)
    min: float | None = None
    max: float | None = None
    cluster: int | None = None


class CursorBody(BaseModel):
    queue: str = Field(..., max_length=200)
    index: int = Field(..., ge=0)


def word_diff(a: str, b: str) -> tuple[list[list[Any]], list[list[Any]]]:
    """Both texts as ``[text, changed]`` segments: the words the other text lacks are ``changed``."""
    ta, tb = _TOKENS.findall(a or ""), _TOKENS.findall(b or "")
    sm = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    sa: list[list[Any]] = []
    sb: list[list[Any]] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        same = op == "equal"
        if i2 > i1:
            sa.append(["".join(ta[i1:i2]), not same])
        if j2 > j1:
            sb.append(["".join(tb[j1:j2]), not same])
    return sa, sb


def _py(v: Any) -> Any:
    if isinstance(v, float):
        return None if v != v else round(v, 4)
    return v


class Review:
    """The state the routes share: data, store, token, self-check sampling."""

    def __init__(self, data: ReviewData, store: ReviewStore, *, token: str, self_check: float, seed: int,
                 default_queue: str):
        self.data, self.store, self.token = data, store, token
        self.self_check, self.seed, self.default_queue = self_check, seed, default_queue
        self._lock = threading.Lock()
        self._score_code = {}
        from ..checks.base import registry

        for name, cls in registry().items():
            for col in cls.score_columns:
                self._score_code[col] = name

    def queue(self, q: str) -> str:
        if not self.data.valid_queue(q):
            raise HTTPException(400, "unknown queue: use kept, rejected, all or code:CODE")
        return q

    def check_row(self, row: int) -> int:
        if row not in self.data.pos_of:
            raise HTTPException(404, "no such row")
        return row

    # --- payloads ---------------------------------------------------------------------------

    def row_payload(self, row: int, state, *, hide_state: bool = False) -> dict[str, Any]:
        d = self.data
        p = d.pos_of[row]
        rec = d.audit.slice(p, 1).to_pylist()[0]
        text = d.text(row)
        flags, reasons = d.flags[p], d.reasons[p]
        scores = []
        for col in d.score_columns:
            v = rec.get(col)
            if v is None or v == [] or (isinstance(v, float) and v != v):
                continue
            code = self._score_code.get(col)
            scores.append({"column": col, "value": v if not isinstance(v, float) else _py(v), "code": code,
                           "flagged": code in flags})
        partners = []
        seen = set()
        for col in PARTNER_COLUMNS:
            other = rec.get(col)
            if other is None or int(other) == row or int(other) in seen or int(other) not in d.source_of:
                continue
            seen.add(int(other))
            ot = d.text(int(other))
            dp = word_diff(text["prompt"], ot["prompt"])
            do = word_diff(text["output"], ot["output"])
            partners.append({"column": col, "row": int(other), "tool": d.tool_decision[d.pos_of[int(other)]],
                             "prompt": dp[1], "output": do[1], "self_prompt": dp[0], "self_output": do[0]})
        st = None if hide_state or state is None else {"status": state.status, "prompt": state.prompt,
                                                        "output": state.output}
        return {"row": row, "id": rec.get("id"), **text, "tool": d.tool_decision[p], "flags": flags,
                "reasons": reasons, "quality": _py(rec.get("quality")), "cluster": rec.get("cluster"),
                "scores": scores, "partners": partners, "state": st}

    def unit_payload(self, q: str, i: int) -> dict[str, Any]:
        units = self.data.units(q)
        if not 0 <= i < len(units):
            raise HTTPException(404, "no such item in this queue")
        u = units[i]
        states = self.store.states()
        members = [self.row_payload(r, states.get(r)) for r in u.rows]
        if u.group is not None and members:
            ref = members[0]
            for k, m in enumerate(members[1:]):
                for f in ("prompt", "output"):
                    mine, theirs = word_diff(ref[f], m[f])
                    m[f"diff_{f}"] = theirs
                    if k == 0:  # the reference shows what the first other member lacks
                        ref[f"diff_{f}"] = mine
            hidden = len(self.data.group_members[u.group]) - len(u.rows)
        else:
            hidden = 0
        return {"index": i, "key": u.key, "kind": "group" if u.group is not None else "row", "members": members,
                "hidden_members": hidden, "total": len(units)}

    def counts(self, q: str, states=None) -> dict[str, Any]:
        states = self.store.states() if states is None else states
        rows = self.data.queue_rows(q)
        c = {"pending": 0, "accepted": 0, "rejected": 0, "edited": 0}
        for r in rows:
            st = states.get(r)
            c["pending" if st is None else st.status] += 1
        units = self.data.units(q)
        done = sum(all(r in states for r in u.rows) for u in units)
        return {**c, "rows": len(rows), "units": len(units), "units_done": done,
                "decided_total": len(states), "self_check": self.store.self_agreement()}

    def unit_status(self, q: str, states) -> list[str]:
        return ["done" if all(r in states for r in u.rows) else "pending" for u in self.data.units(q)]

    # --- self-check -------------------------------------------------------------------------

    def maybe_recheck(self, just: set[int]) -> dict[str, Any] | None:
        """After a decision: with probability ``self_check`` (seeded by the decision count), an
        already-decided single row to show again as if it were new."""
        if self.self_check <= 0:
            return None
        with self._lock:
            n = self.store.event_count()
            if n < SELF_CHECK_AFTER or random.Random(f"{self.seed}:{n}").random() >= self.self_check:
                return None
            states = self.store.states()
            kinds = self.store.batch_kinds()
            done = self.store.rechecked_rows()
            pool = sorted(r for r, k in kinds.items()
                          if k == "single" and r in states and r not in done and r not in just
                          and r not in self.data.group_of)
            if not pool:
                return None
            row = random.Random(f"{self.seed}:{n}:pick").choice(pool)
            rid = self.store.add_recheck(row, states[row].decision)
        payload = {"index": None, "key": f"c{rid}", "kind": "row", "recheck": rid, "hidden_members": 0,
                   "members": [self.row_payload(row, None, hide_state=True)]}
        return payload


def create_app(folder: str | Path, data: ReviewData | None = None, *, host: str = "127.0.0.1", port: int = 8765,
               token: str | None = None, self_check: float = SELF_CHECK_RATE, seed: int = 0,
               default_queue: str = "kept") -> FastAPI:
    """The app for one curate output folder. ``host``/``port``: the served address, which
    requests' ``Host`` and ``Origin`` headers must name."""
    from .data import load

    folder = Path(folder)
    data = data or load(folder)
    if not data.valid_queue(default_queue):
        from ..errors import ConfigError

        raise ConfigError(f"--code {default_queue[5:]}: no row has that issue code here; codes: "
                          f"{', '.join(data.codes) or 'none'}")
    store = ReviewStore(folder / DB_NAME)
    fp = store.get_meta("fingerprint")
    if fp is None and data.fingerprint is not None:
        store.set_meta("fingerprint", data.fingerprint)
    elif fp is not None and data.fingerprint is not None and fp != data.fingerprint:
        raise InputError(str(folder / DB_NAME), "holds decisions on other content than this folder's curate run "
                         "(the data changed): move review.sqlite away to start a new review")
    rv = Review(data, store, token=token or secrets.token_urlsafe(32), self_check=self_check, seed=seed,
                default_queue=default_queue)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.review = rv
    any_host = host in WILDCARD
    names = set(LOOPBACK) | {host if ":" not in host or host.startswith("[") else f"[{host}]"}
    allowed_hosts = {f"{h}:{port}" for h in names}
    allowed_origins = {f"http://{h}" for h in allowed_hosts}

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if not any_host and request.headers.get("host", "") not in allowed_hosts:
            return JSONResponse({"detail": "wrong Host header"}, status_code=403)
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and not (any_host or origin in allowed_origins):
                return JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
            if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
            if not request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
                return JSONResponse({"detail": "a JSON body is required"}, status_code=415)
            if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), rv.token):
                return JSONResponse({"detail": "missing or wrong token"}, status_code=403)
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page.replace("{{TOKEN}}", rv.token).replace("{{TITLE}}", html.escape(folder.name)))

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "not found")
        return Response((STATIC_DIR / name).read_bytes(), media_type=STATIC_FILES[name])

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        d = rv.data
        clusters = sorted({c for c in d.cluster if c is not None})
        return {"folder": folder.name, "queue": rv.default_queue, "codes": d.codes,
                "score_columns": d.numeric_score_columns, "clusters": clusters,
                "shape": (d.kept or d.rejected).shape, "rows": len(d.rows)}

    @app.get("/api/queue")
    def queue(q: str = Query(..., max_length=200)) -> dict[str, Any]:
        q = rv.queue(q)
        states = rv.store.states()
        cur = rv.store.get_meta(f"cursor:{q}")
        return {"queue": q, "status": rv.unit_status(q, states), "counts": rv.counts(q, states),
                "cursor": int(cur) if cur is not None else 0}

    @app.get("/api/unit")
    def unit(q: str = Query(..., max_length=200), i: int = Query(..., ge=0)) -> dict[str, Any]:
        return rv.unit_payload(rv.queue(q), i)

    @app.get("/api/row/{row}")
    def one_row(row: int) -> dict[str, Any]:
        r = rv.check_row(row)
        return rv.row_payload(r, rv.store.states().get(r))

    def _after(q: str, cursor: int | None, recheck_ok: set[int] | None) -> dict[str, Any]:
        if cursor is not None:
            rv.store.set_meta(f"cursor:{q}", str(max(0, cursor)))
        states = rv.store.states()
        out = {"counts": rv.counts(q, states), "status": rv.unit_status(q, states)}
        if recheck_ok is not None:
            out["recheck"] = rv.maybe_recheck(recheck_ok)
        return out

    @app.post("/api/decide")
    def decide(body: DecideBody) -> dict[str, Any]:
        q = rv.queue(body.queue)
        events = []
        for d in body.rows:
            rv.check_row(d.row)
            prompt, output = (d.prompt, d.output) if d.decision == "edit" else (None, None)
            if d.decision == "edit":
                t = rv.data.text(d.row)
                if prompt is not None and not t["prompt_editable"]:
                    raise HTTPException(400, "this row's prompt has several turns: only its answer can be edited")
                if output is not None and not t["output_editable"]:
                    raise HTTPException(400, "this row has no final answer to edit")
                if prompt is None and output is None:
                    raise HTTPException(400, "an edit needs a prompt or an answer")
            events.append((d.row, d.decision, prompt, output))
        kind = "single" if len(events) == 1 else "group"
        batch = rv.store.record(events, kind=kind)
        return {"batch": batch, **_after(q, body.cursor, {r for r, *_ in events} if kind == "single" else None)}

    @app.post("/api/recheck")
    def recheck(body: RecheckBody) -> dict[str, Any]:
        if not rv.store.answer_recheck(body.id, body.decision):
            raise HTTPException(404, "no such open self-check")
        q = rv.queue(body.queue or rv.default_queue)
        return _after(q, body.cursor, None)

    def _bulk_rows(q: str, code, column, lo, hi, cluster) -> list[int]:
        d = rv.data
        if column is not None and column not in d.numeric_score_columns:
            raise HTTPException(400, "unknown score column")
        if code is not None and code not in d.codes:
            raise HTTPException(400, "unknown issue code")
        values = d.numeric(column) if column is not None else None
        out = []
        for r in d.queue_rows(q):
            p = d.pos_of[r]
            if code is not None and code not in d.flags[p] and code not in d.reasons[p]:
                continue
            if cluster is not None and d.cluster[p] != cluster:
                continue
            if values is not None:
                v = values[p]
                if v != v or (lo is not None and v < lo) or (hi is not None and v > hi):
                    continue
            out.append(r)
        return out

    @app.get("/api/bulk")
    def bulk_preview(q: str = Query(..., max_length=200), code: str | None = Query(None, max_length=200),
                     column: str | None = Query(None, max_length=200), min: float | None = None,
                     max: float | None = None, cluster: int | None = None) -> dict[str, Any]:
        rows = _bulk_rows(rv.queue(q), code or None, column or None, min, max, cluster)
        return {"rows": len(rows)}

    @app.post("/api/bulk")
    def bulk(body: BulkBody) -> dict[str, Any]:
        q = rv.queue(body.queue)
        rows = _bulk_rows(q, body.code or None, body.column or None, body.min, body.max, body.cluster)
        if not rows:
            raise HTTPException(400, "no row matches this filter")
        parts = [f"code={body.code}" if body.code else "", f"cluster={body.cluster}" if body.cluster is not None else "",
                 f"{body.min if body.min is not None else ''}<={body.column}<={body.max if body.max is not None else ''}"
                 if body.column else ""]
        label = f"{body.decision} {len(rows)} rows of {q} where " + (" and ".join(p for p in parts if p) or "any")
        batch = rv.store.record([(r, body.decision, None, None) for r in rows], kind="bulk", label=label)
        return {"batch": batch, "rows": len(rows), "label": label, **_after(q, None, None)}

    @app.post("/api/undo")
    def undo(body: dict[str, Any]) -> dict[str, Any]:
        q = rv.queue(str(body.get("queue", rv.default_queue)))
        undone = rv.store.undo()
        units = rv.data.units(q)
        if undone is not None:
            hit = set(undone["rows"])
            undone["index"] = next((i for i, u in enumerate(units) if hit & set(u.rows)), None)
        return {"undone": undone, **_after(q, None, None)}

    @app.post("/api/cursor")
    def cursor(body: CursorBody) -> dict[str, Any]:
        q = rv.queue(body.queue)
        rv.store.set_meta(f"cursor:{q}", str(body.index))
        return {"ok": True}

    return app
