"""The review app's API (FastAPI TestClient): decisions, groups, bulk, undo, self-check, security."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from finesift.errors import InputError
from finesift.review.app import create_app
from finesift.review.store import ReviewStore

from .conftest import XSS_OUTPUT, XSS_PROMPT

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
TOKEN = "test-token"
H = {"X-Finesift-Token": TOKEN}


def client(folder, **kw) -> TestClient:
    return TestClient(create_app(folder, port=PORT, token=TOKEN, **kw), base_url=BASE)


def decide(c, rows, queue="kept", cursor=None):
    r = c.post("/api/decide", json={"queue": queue, "rows": rows, "cursor": cursor}, headers=H)
    assert r.status_code == 200, r.text
    return r.json()


def test_queue_units_group_duplicates_and_conflicts_into_one_card(curated):
    c = client(curated)
    q = c.get("/api/queue", params={"q": "kept"}).json()
    assert q["counts"]["rows"] == 19 and q["counts"]["pending"] == 19 and len(q["status"]) == 19
    first = c.get("/api/unit", params={"q": "kept", "i": 0}).json()
    assert first["kind"] == "group"
    assert [m["row"] for m in first["members"]] == [0, 19, 20]  # the kept member first
    assert [m["tool"] for m in first["members"]] == ["kept", "rejected", "rejected"]
    conflict = c.get("/api/unit", params={"q": "kept", "i": 4}).json()
    assert [m["row"] for m in conflict["members"]] == [4, 21]
    # the echoed English answer differs from the French one: highlighted as changed
    assert any(changed for _, changed in conflict["members"][1]["diff_output"])
    row = c.get("/api/row/21").json()
    assert {p["column"] for p in row["partners"]} >= {"duplicate_of"} and row["partners"][0]["row"] == 4
    assert "conflict" in row["flags"] and any(s["column"] == "conflict_score" and s["flagged"] for s in row["scores"])


def test_decide_edit_undo_and_resume(curated):
    c = client(curated)
    decide(c, [{"row": 1, "decision": "accept"}], cursor=2)
    decide(c, [{"row": 2, "decision": "reject"}], cursor=3)
    res = decide(c, [{"row": 3, "decision": "edit", "output": "Il fait très beau."}], cursor=4)
    assert {k: res["counts"][k] for k in ("accepted", "rejected", "edited", "pending")} == \
        {"accepted": 1, "rejected": 1, "edited": 1, "pending": 16}
    assert c.get("/api/row/3").json()["state"] == {"status": "edited", "prompt": None, "output": "Il fait très beau."}
    undone = c.post("/api/undo", json={"queue": "kept"}, headers=H).json()
    assert undone["undone"]["rows"] == [3] and undone["undone"]["index"] == 3
    assert c.get("/api/row/3").json()["state"] is None
    # a new app on the same folder (a restarted server) resumes at the cursor with the decisions
    c2 = client(curated)
    q = c2.get("/api/queue", params={"q": "kept"}).json()
    assert q["cursor"] == 4 and q["counts"]["accepted"] == 1 and q["counts"]["rejected"] == 1


def test_group_card_is_one_batch_and_one_undo(curated):
    c = client(curated)
    decide(c, [{"row": 0, "decision": "accept"}, {"row": 19, "decision": "accept"}, {"row": 20, "decision": "reject"}])
    st = ReviewStore(curated / "review.sqlite").states()
    assert (st[0].status, st[19].status, st[20].status) == ("accepted", "accepted", "rejected")
    assert c.post("/api/undo", json={"queue": "kept"}, headers=H).json()["undone"]["rows"] == [0, 19, 20]
    assert ReviewStore(curated / "review.sqlite").states() == {}


def test_bulk_action_on_a_filter_and_its_undo(curated):
    c = client(curated)
    decide(c, [{"row": 19, "decision": "accept"}], queue="all")
    assert c.get("/api/bulk", params={"q": "all", "code": "exact_duplicate"}).json() == {"rows": 2}
    assert c.get("/api/bulk", params={"q": "all", "column": "empty_output_chars", "max": 0}).json() == {"rows": 1}
    assert c.get("/api/bulk", params={"q": "kept", "cluster": 1}).json()["rows"] >= 1
    res = c.post("/api/bulk", json={"queue": "all", "decision": "reject", "code": "exact_duplicate"}, headers=H).json()
    assert res["rows"] == 2
    st = ReviewStore(curated / "review.sqlite").states()
    assert st[19].status == "rejected" and st[20].status == "rejected"
    c.post("/api/undo", json={"queue": "all"}, headers=H)
    st = ReviewStore(curated / "review.sqlite").states()
    assert st[19].status == "accepted" and 20 not in st  # one undo reverted the whole bulk action
    bad = c.post("/api/bulk", json={"queue": "all", "decision": "reject", "column": "../../etc/passwd"}, headers=H)
    assert bad.status_code == 400


def test_self_check_repeats_a_decided_row_and_keeps_the_original(curated):
    c = client(curated, self_check=1.0)
    recheck = None
    for r in range(1, 12):
        res = decide(c, [{"row": r, "decision": "accept" if r % 2 else "reject"}])
        recheck = recheck or res["recheck"]
    assert recheck is not None
    row = recheck["members"][0]
    assert row["state"] is None  # unannounced: shown as if it were new
    original = ReviewStore(curated / "review.sqlite").states()[row["row"]].decision
    flipped = "reject" if original == "accept" else "accept"
    ans = c.post("/api/recheck", json={"id": recheck["recheck"], "decision": flipped, "queue": "kept"}, headers=H)
    assert ans.status_code == 200
    assert ans.json()["counts"]["self_check"] == {"rechecked": 1, "agreed": 0, "rate": 0.0}
    assert ReviewStore(curated / "review.sqlite").states()[row["row"]].decision == original


def test_no_self_check_by_chance_at_rate_zero(curated):
    c = client(curated, self_check=0.0)
    assert all(decide(c, [{"row": r, "decision": "accept"}])["recheck"] is None for r in range(1, 15))


def test_dataset_text_is_served_as_data_with_a_strict_policy(curated):
    c = client(curated)
    row = c.get("/api/row/18").json()
    assert row["prompt"] == XSS_PROMPT and row["output"] == XSS_OUTPUT
    page = c.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert TOKEN in page.text


@pytest.mark.parametrize("path", [
    "/static/../../etc/passwd", "/static/..%2f..%2fetc%2fpasswd", "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..%252f..%252fetc%252fpasswd", "/static/....//....//etc/passwd", "/static/%2fetc%2fpasswd",
    "/static/..\\..\\etc\\passwd", "/static/index.html", "/static/../review.sqlite", "/static/..%2freview.sqlite",
    "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/row/..%2f..%2fetc%2fpasswd", "/api/row/-1",
    "/api/row/1%2f..%2f..%2fetc%2fpasswd", "/review.sqlite", "/summary.json", "/audit.parquet",
])
def test_no_route_reads_a_file_by_name(curated, path):
    c = client(curated)
    r = c.get(path)
    assert r.status_code in (404, 422)
    assert b"root:" not in r.content and b"SQLite" not in r.content


@pytest.mark.parametrize("q", ["../../etc/passwd", "code:../../etc/passwd", "code:", "kept/../all"])
def test_queue_names_are_checked(curated, q):
    c = client(curated)
    assert c.get("/api/queue", params={"q": q}).status_code == 400
    assert c.get("/api/unit", params={"q": q, "i": 0}).status_code == 400


def test_state_changing_requests_from_other_origins_are_refused(curated):
    c = client(curated)
    body = {"queue": "kept", "rows": [{"row": 1, "decision": "reject"}]}
    cases = {
        "no token": ({}, 403),
        "wrong token": ({"X-Finesift-Token": "guess"}, 403),
        "foreign origin": ({**H, "Origin": "http://evil.example"}, 403),
        "other port": ({**H, "Origin": "http://127.0.0.1:9999"}, 403),
        "cross-site fetch": ({**H, "Sec-Fetch-Site": "cross-site"}, 403),
        "rebound host": ({**H, "Host": "evil.example"}, 403),
    }
    for name, (headers, code) in cases.items():
        assert c.post("/api/decide", json=body, headers=headers).status_code == code, name
    # a plain HTML form can only send form or text bodies
    form = c.post("/api/decide", content=b'{"queue":"kept","rows":[{"row":1,"decision":"reject"}]}',
                  headers={**H, "Content-Type": "text/plain"})
    assert form.status_code == 415
    assert c.post("/api/undo", json={}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert ReviewStore(curated / "review.sqlite").states() == {}
    ok = c.post("/api/decide", json=body, headers={**H, "Origin": BASE, "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 200
    # reading the data through a rebound name is refused too
    assert c.get("/api/row/1", headers={"Host": "evil.example:8765"}).status_code == 403


def test_edit_checks(curated):
    c = client(curated)
    r = c.post("/api/decide", json={"queue": "kept", "rows": [{"row": 1, "decision": "edit"}]}, headers=H)
    assert r.status_code == 400
    r = c.post("/api/decide", json={"queue": "kept", "rows": [{"row": 999, "decision": "accept"}]}, headers=H)
    assert r.status_code == 404


def test_decisions_on_other_content_are_refused(curated):
    client(curated)
    ReviewStore(curated / "review.sqlite").set_meta("fingerprint", "other")
    with pytest.raises(InputError, match="other content"):
        create_app(curated)


def test_not_a_curate_folder(tmp_path):
    with pytest.raises(InputError, match="summary.json"):
        create_app(tmp_path)
