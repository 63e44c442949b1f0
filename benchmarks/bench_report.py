"""How fast report.html is built and opens for a large audit.

    .venv/bin/python benchmarks/bench_report.py --rows 1000000

Writes Tatoeba-derived rows (4 prompt templates, repeated to the row count) as JSONL, audits
them with the cheap checks in a child process (the audit is not what is measured), then:

* builds the report on demand (``finesift report DIR``: reads audit.parquet and summary.json, re-reads
  and verifies the input for the example rows' text), in a fresh child process (its peak RSS is the
  report's own);
* builds it again with the dataset already in memory (what ``audit`` and ``curate`` do at their end);
* opens it in Debian's chromium (headless, Playwright) three times: seconds until the ``load`` event
  and until every chart has drawn (medians).

Results: a line per figure on stdout and ``benchmarks/results/report.json``.

    .venv/bin/python benchmarks/bench_report.py --screenshot docs/img/report.png

audits the bundled example (as ``make demo`` does), builds its report and saves the top of the page
at 1280x900 (the README's picture), plus ``report-examples.png`` beside it: the examples section.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tatoeba import scaled_rows  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "report.json"
CHROMIUM = "/usr/bin/chromium"


def _audit_child(data: str, out: str) -> None:
    import finesift
    from finesift.checks import registry
    from finesift.config import DEFAULT_CHECKS

    reg = registry()
    finesift.audit(data, out=out, checks=[c for c in DEFAULT_CHECKS if reg[c].cost == "cheap"])


def _report_child(out: str) -> None:
    from finesift.report import write_report

    t0 = time.perf_counter()
    path = write_report(out)
    secs = time.perf_counter() - t0
    print(json.dumps({"seconds": secs, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "bytes": path.stat().st_size}))


def _browser(path: Path, repeats: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    loads, drawn, charts = [], [], 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load", timeout=120_000)
            loads.append(time.perf_counter() - t0)
            page.wait_for_selector("body[data-charts=drawn]", timeout=120_000)
            drawn.append(time.perf_counter() - t0)
            charts = page.locator("[data-chart]").count()
            if errors:
                raise RuntimeError(f"page errors: {errors}")
            page.close()
        browser.close()
    return {"load_s": statistics.median(loads), "charts_drawn_s": statistics.median(drawn), "charts": charts,
            "load_s_all": loads, "charts_drawn_s_all": drawn}


def screenshot(path: Path) -> None:
    import finesift
    from finesift.report import write_report
    from playwright.sync_api import sync_playwright

    example = Path(__file__).resolve().parents[1] / "examples" / "translate_fr.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        finesift.audit(example, out=Path(tmp) / "audit", max_tokens=256)
        report = write_report(Path(tmp) / "audit")
        path.parent.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(report.as_uri())
            page.wait_for_selector("body[data-charts=drawn]")
            page.screenshot(path=str(path))
            page.evaluate("""['near_duplicate', 'conflict'].forEach(c => document.getElementById('ex-' + c).open = true);
                document.getElementById('ex-near_duplicate').scrollIntoView()""")
            page.evaluate("window.scrollBy(0, -50)")  # below the sticky navigation bar
            page.screenshot(path=str(path.with_name(path.stem + "-examples" + path.suffix)))
            browser.close()
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--screenshot", type=Path, help="save a screenshot of the example's report here and stop")
    ap.add_argument("--audit-child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--report-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.audit_child:
        return _audit_child(*args.audit_child)
    if args.report_child:
        return _report_child(args.report_child)
    if args.screenshot:
        return screenshot(args.screenshot)
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data.jsonl", Path(tmp) / "audit"
        with open(data, "wb") as fh:
            for r in scaled_rows(args.rows):
                fh.write(orjson.dumps(r) + b"\n")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--audit-child", str(data), str(out)], check=True)
        audit_s = time.perf_counter() - t0
        proc = subprocess.run([sys.executable, __file__, "--report-child", str(out)], check=True,
                              capture_output=True, text=True)
        on_demand = json.loads(proc.stdout.strip().splitlines()[-1])

        from finesift.io import read
        from finesift.report import write_report

        ds = read(str(data))
        t0 = time.perf_counter()
        path = write_report(out, dataset=ds)
        in_memory_s = time.perf_counter() - t0
        browser = _browser(path, args.repeats)
        html = path.read_text(encoding="utf-8")
        result = {
            "rows": args.rows, "audit_seconds": round(audit_s, 1),
            "report_on_demand_seconds": round(on_demand["seconds"], 2),
            "report_on_demand_peak_mb": round(on_demand["peak_mb"]),
            "report_with_dataset_in_memory_seconds": round(in_memory_s, 2),
            "page_mb": round(len(html.encode()) / 1e6, 2),
            "browser_load_seconds": round(browser["load_s"], 2),
            "browser_all_charts_drawn_seconds": round(browser["charts_drawn_s"], 2),
            "charts": browser["charts"],
            "browser_runs": {"load": browser["load_s_all"], "drawn": browser["charts_drawn_s_all"]},
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    for k, v in result.items():
        if k != "browser_runs":
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
