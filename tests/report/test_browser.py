"""The report in a real browser (Debian chromium via Playwright): it opens cleanly, every chart draws,
nothing is fetched, and hostile dataset text shows as text without running."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from finesift.report import write_report

from .conftest import IMG, SCRIPT, write_compare, write_synthetic_audit


def _open(page, path):
    """Load the report from disk; return the URLs it requested (only itself, when it is self-contained)."""
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-charts=drawn]", timeout=30_000)
    return requests


def _all_charts_drawn(page) -> tuple[int, int]:
    """(chart divs, chart divs in which plotly drew an SVG holding at least one trace)."""
    return page.locator("[data-chart]").count(), page.evaluate(
        "[...document.querySelectorAll('[data-chart]')].filter(d => d.querySelector('.main-svg .trace')).length")


def test_audit_report_opens_cleanly_and_draws_every_chart(page, artifacts, audit_dir):
    path = write_report(audit_dir)
    requests = _open(page, path)
    assert page.console_errors == []
    assert requests == [path.as_uri()]  # no CDN, no network: everything is in the file
    n, drawn = _all_charts_drawn(page)
    assert n >= 10 and drawn == n
    # bars really have marks (an empty SVG would also have .main-svg)
    assert page.locator("#chart-1 .bars path").count() > 0
    page.screenshot(path=str(artifacts / "report-audit.png"), full_page=True)


def test_hostile_text_is_shown_literally_and_never_runs(page, artifacts, audit_dir):
    _open(page, write_report(audit_dir))
    page.get_by_role("button", name="open all").click()
    assert page.evaluate("[...document.querySelectorAll('details.issue')].every(d => d.open)")
    assert page.evaluate("window.__pwned") is None
    assert page.get_by_text(SCRIPT).count() >= 1
    assert page.get_by_text(IMG, exact=False).count() >= 2  # the row and its duplicate, side by side
    assert page.locator("main img").count() == 0
    # the page's own scripts only: the JSON data block, plotly.js and the drawing code
    assert page.locator("script").count() == 3
    assert page.console_errors == []
    page.get_by_text(IMG, exact=False).first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "report-hostile-text.png"))


def test_chart_labels_with_markup_stay_text(page, tmp_path):
    folder = write_synthetic_audit(tmp_path / "a", 400, extra={"cluster": pa.array(np.arange(400) % 3, pa.int64())})
    _open(page, write_report(folder))
    assert page.console_errors == []
    n, drawn = _all_charts_drawn(page)
    assert drawn == n
    ticks = page.evaluate("[...document.querySelectorAll('#stale .ytick text')].map(t => t.textContent)")
    assert "<b>old term</b>" in ticks and IMG in ticks
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#map .scatterlayer .point").count() > 100  # the 2-D map has its points


def test_curate_and_compare_reports_draw(page, artifacts, curate_dir, tmp_path):
    for name, folder in (("curate", curate_dir), ("compare", write_compare(tmp_path / "cmp"))):
        _open(page, write_report(folder))
        assert page.console_errors == [], name
        n, drawn = _all_charts_drawn(page)
        assert n >= 4 and drawn == n, name
        page.screenshot(path=str(artifacts / f"report-{name}.png"), full_page=True)
