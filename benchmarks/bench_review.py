"""Seconds per decision in the review app, by keyboard: the lower bound for a person.

    .venv/bin/python benchmarks/bench_review.py [--rows 100] [--seed 0]
    .venv/bin/python benchmarks/bench_review.py --screenshot docs/img/review.png

Curates clean Tatoeba pairs from ../shared/data (no models) to a set of ``--rows`` rows, serves it
with ``finesift review`` (a real server process, self-check off), and drives Debian's chromium with
Playwright through every card by keyboard: accept and reject alternating, an in-place edit of the
answer every 10th card (``e``, type, ``Ctrl+Enter``). Each key waits for the server's answer and
the next card, as a person would. Writes benchmarks/results/review.json.

``--screenshot PATH`` instead curates examples/translate_fr.jsonl (``--target 20``, no models),
makes a few decisions and saves a screenshot of a conflict card for the README.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results" / "review.json"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "finesift", "review", str(folder), "--port", str(port),
                             "--self-check", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=1).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(proc.stderr.read().decode())
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the review server did not start")


def idle(page, index=None) -> None:
    cond = "() => document.body.dataset.ready === '1' && !S.busy" + (f" && S.index === {index}" if index is not None else "")
    page.wait_for_function(cond, timeout=15_000)


def bench(rows: int, seed: int) -> dict:
    from playwright.sync_api import sync_playwright

    from _tatoeba import clean_sample
    from finesift.api import curate

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "clean.jsonl"
        data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in clean_sample(rows * 4, seed)))
        curate(str(data), Path(tmp) / "cur", target=rows, no_models=True)
        port = free_port()
        proc = serve(Path(tmp) / "cur", port)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/")
                idle(page, 0)
                total = page.evaluate("() => S.total")
                times, kinds = [], []
                t_all = time.perf_counter()
                for i in range(total):
                    t0 = time.perf_counter()
                    if i % 10 == 9 and page.evaluate("() => S.unit.kind") == "row":
                        page.keyboard.press("e")
                        page.locator("textarea[data-field=output]").press("End")
                        page.keyboard.type(" (vérifié)")
                        page.keyboard.press("Control+Enter")
                        kinds.append("edit")
                    else:
                        page.keyboard.press("a" if i % 2 == 0 else "r")
                        kinds.append("accept" if i % 2 == 0 else "reject")
                    idle(page, i + 1 if i + 1 < total else None)
                    times.append(time.perf_counter() - t0)
                wall = time.perf_counter() - t_all
                counts = page.evaluate("() => S.counts")
                browser.close()
        finally:
            proc.kill()
            proc.wait()
    return {"cards": total, "rows_decided": counts["decided_total"], "edits": kinds.count("edit"),
            "seconds_total": round(wall, 3), "seconds_per_decision": round(wall / total, 4),
            "median_seconds": round(statistics.median(times), 4), "max_seconds": round(max(times), 4),
            "counts": {k: counts[k] for k in ("accepted", "rejected", "edited", "pending")}}


def screenshot(path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from finesift.api import curate

    root = HERE.parent
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "translate_fr-curated"
        curate(str(root / "examples" / "translate_fr.jsonl"), folder, target=20, no_models=True)
        port = free_port()
        proc = serve(folder, port)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 760})
                page.goto(f"http://127.0.0.1:{port}/")
                idle(page, 0)
                for i in range(3):
                    page.keyboard.press("a" if i != 1 else "r")
                    idle(page, i + 1)
                # the group card with the most highlighted differences: in the curated set, else among all rows
                for queue in ("kept", "all"):
                    info = page.evaluate(f"async () => await api('GET', '/api/queue?q={queue}')")
                    best = (0, None)
                    for i in range(len(info["status"])):
                        unit = page.evaluate(f"async () => await api('GET', '/api/unit?q={queue}&i={i}')")
                        if unit["kind"] != "group":
                            continue
                        changed = sum(len(t) for m in unit["members"] for f in ("diff_prompt", "diff_output")
                                      for t, c in m.get(f) or [] if c)
                        best = max(best, (changed, i), key=lambda x: x[0])
                    target = best[1]
                    if target is not None:
                        break
                if target is not None:
                    if queue != "kept":
                        page.select_option("#queue", queue)
                        page.wait_for_function(f"() => S.queue === '{queue}'")
                        idle(page)
                    page.evaluate(f"() => run(() => go({target}))")
                    idle(page, target)
                path.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(path))
                browser.close()
        finally:
            proc.kill()
            proc.wait()
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--screenshot", type=Path)
    args = ap.parse_args()
    if args.screenshot:
        screenshot(args.screenshot)
        return
    res = bench(args.rows, args.seed)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    print(f"{res['seconds_per_decision']:.3f} s per decision over {res['cards']} cards "
          f"({res['edits']} edits), median {res['median_seconds']:.3f} s")


if __name__ == "__main__":
    main()
