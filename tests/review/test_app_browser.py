"""The review flow in a real browser (Debian chromium via Playwright), against a real server process.

By keyboard: group keep/drop, accept, reject, edit, undo, bulk action and its undo; reload; kill -9 and
restart the server: every decision is still there, and the export matches the decisions.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import orjson

from finesift.review.store import ReviewStore

from .conftest import XSS_OUTPUT, XSS_PROMPT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder, port):
    proc = subprocess.Popen([sys.executable, "-m", "finesift", "review", str(folder), "--port", str(port),
                             "--self-check", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=1).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode())
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the review server did not start")


def wait_idle(page, index=None):
    cond = "() => document.body.dataset.ready === '1' && !S.busy && document.getElementById('bulk').hidden" + (f" && S.index === {index}" if index is not None else "")
    page.wait_for_function(cond, timeout=10_000)


def states(folder):
    return {r: st.status for r, st in ReviewStore(folder / "review.sqlite").states().items()}


def test_review_flow_by_keyboard_survives_reload_and_kill_9(curated, page, artifacts, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_server(curated, port)
    try:
        page.goto(url)
        wait_idle(page, 0)
        # 1. the first card is the duplicate group of row 0: keep the copy (member 2) too, then save
        assert page.locator(".member").count() == 3
        page.keyboard.press("2")
        assert page.locator(".member.keep").count() == 2
        page.keyboard.press("a")
        wait_idle(page, 1)
        # 2. accept, reject, edit the answer in place (Ctrl+Enter saves)
        page.keyboard.press("a")
        wait_idle(page, 2)
        page.keyboard.press("r")
        wait_idle(page, 3)
        page.keyboard.press("e")
        box = page.locator("textarea[data-field=output]")
        box.fill("Il fait très beau aujourd'hui.")
        page.keyboard.press("Control+Enter")
        wait_idle(page, 4)
        # 3. the conflict group (row 4 and its echoed answer): the tool's choice as shown
        assert page.locator(".member").count() == 2
        page.keyboard.press("Enter")
        wait_idle(page, 5)
        # 4. accept then undo: row 5 comes back pending; reject it instead (x)
        page.keyboard.press("a")
        wait_idle(page, 6)
        page.keyboard.press("u")
        wait_idle(page, 5)
        assert page.locator(".badge").first.text_content() == "pending"
        page.keyboard.press("x")
        wait_idle(page, 6)
        # 5. Esc cancels an edit: nothing saved
        page.keyboard.press("e")
        page.locator("textarea").first.fill("discarded")
        page.keyboard.press("Escape")
        wait_idle(page, 6)
        page.keyboard.press("s")  # skip
        wait_idle(page, 7)
        page.keyboard.press("ArrowLeft")
        wait_idle(page, 6)
        page.keyboard.press("j")
        wait_idle(page, 7)
        expected = {0: "accepted", 19: "accepted", 20: "rejected", 1: "accepted", 2: "rejected", 3: "edited",
                    4: "accepted", 21: "rejected", 5: "rejected"}
        assert states(curated) == expected
        # 6. bulk action on the "all" queue: reject every exact duplicate, then one u undoes all of it
        page.select_option("#queue", "all")
        page.wait_for_function("() => S.queue === 'all'")
        wait_idle(page)
        page.keyboard.press("b")
        page.select_option("#f-code", "exact_duplicate")
        page.wait_for_function("() => document.getElementById('f-count').textContent === '2'")
        page.click("#f-reject")
        wait_idle(page)
        assert states(curated)[19] == "rejected"
        page.keyboard.press("u")
        wait_idle(page)
        assert states(curated) == expected
        page.keyboard.press("b")
        page.select_option("#f-code", "placeholder_output")
        page.wait_for_function("() => document.getElementById('f-count').textContent === '1'")
        page.click("#f-accept")
        wait_idle(page)
        expected[23] = "accepted"
        assert states(curated) == expected
        # 7. dataset text renders literally: no element, no script run
        page.select_option("#queue", "kept")
        page.wait_for_function("() => S.queue === 'kept'")
        wait_idle(page)
        page.evaluate("() => run(() => go(18))")
        wait_idle(page, 18)
        assert page.locator("pre[data-field=prompt]").text_content() == XSS_PROMPT
        assert page.locator("pre[data-field=output]").text_content() == XSS_OUTPUT
        assert page.locator("#card img, #card script").count() == 0
        page.keyboard.press("e")
        assert page.locator("textarea[data-field=output]").input_value() == XSS_OUTPUT
        page.keyboard.press("Escape")
        assert page.evaluate("() => window.__xss") is None
        page.keyboard.press("k")
        wait_idle(page, 17)
        counts = page.locator("header").text_content()
        # 8. reload: same counts, resumes where it stopped
        page.reload()
        wait_idle(page, 17)
        assert page.locator("header").text_content() == counts
        # 9. kill -9 the server, restart it: everything is still there
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = start_server(curated, port)
        page.reload()
        wait_idle(page, 17)
        assert page.locator("header").text_content() == counts
        assert states(curated) == expected
        page.evaluate("() => run(() => go(0))")
        wait_idle(page, 0)
        page.screenshot(path=str(artifacts / "review-app.png"), full_page=True)
        assert page.console_errors == []
    finally:
        proc.kill()
        proc.wait()
    # 10. the export matches the decisions
    out = subprocess.run([sys.executable, "-m", "finesift", "review", str(curated), "--export", str(tmp_path / "exp")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    got = [orjson.loads(x) for x in (tmp_path / "exp" / "validated.jsonl").read_bytes().splitlines()]
    kept_rows = sorted(r for r, s in expected.items() if s != "rejected")
    assert len(got) == len(kept_rows) == 6  # rows 0, 1, 3, 4, 19, 23
    assert [g["source"] for g in got] == ["test", "test", "test", "test", "copy", "ph"]
    assert got[2]["output"] == "Il fait très beau aujourd'hui."


def test_cross_origin_page_cannot_change_decisions(curated, page):
    """A page on another origin posting to the app (a CSRF form or fetch) changes nothing."""
    port = _free_port()
    proc = start_server(curated, port)
    other = subprocess.Popen([sys.executable, "-m", "http.server", str(port2 := _free_port()), "--bind", "127.0.0.1",
                              "--directory", str(curated.parent)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (curated.parent / "evil.html").write_text(
            f'<form id=f method=post enctype=text/plain action="http://127.0.0.1:{port}/api/decide">'
            '<input name=\'{"queue":"kept","rows":[{"row":1,"decision":"reject"}],"x":"\' value=\'"}\'></form>')
        for _ in range(50):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port2}/evil.html", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        page.goto(f"http://127.0.0.1:{port2}/evil.html")
        # a script of the other origin: a simple (no-preflight) POST, and one with the JSON type and a guessed token
        page.evaluate(f"""async () => {{
            const body = '{{"queue":"kept","rows":[{{"row":2,"decision":"reject"}}]}}';
            await fetch('http://127.0.0.1:{port}/api/decide', {{method: 'POST', mode: 'no-cors',
                        headers: {{'Content-Type': 'text/plain'}}, body}}).catch(() => null);
            await fetch('http://127.0.0.1:{port}/api/decide', {{method: 'POST',
                        headers: {{'Content-Type': 'application/json', 'X-Finesift-Token': 'guess'}}, body}}).catch(() => null);
        }}""")
        # a form posting JSON-looking text (the classic CSRF against JSON APIs)
        with page.expect_navigation():
            page.evaluate("() => document.getElementById('f').submit()")
        assert "refused" in page.content() or "JSON" in page.content()
        assert states(curated) == {}
    finally:
        proc.kill()
        other.kill()
        proc.wait()
        other.wait()
