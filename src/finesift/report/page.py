"""The HTML page: escaping, word diffs, and the self-contained document (plotly.js embedded once).

Dataset text is always text here: everything from the data goes through :func:`esc` (HTML) or
:func:`script_json` (JSON inside ``<script>``), and a Content-Security-Policy with a per-page nonce
refuses any script the page did not put there itself and any network request.
"""

from __future__ import annotations

import difflib
import html
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

#: characters of a prompt or answer shown in an example (the full text stays in the data files)
CLIP = 600

_TOKENS = re.compile(r"\s+|[^\s]+")


def esc(value: Any) -> str:
    """``value`` as HTML text (quotes escaped too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def clip(text: str | None, n: int = CLIP) -> str:
    if text is None:
        return ""
    return text if len(text) <= n else text[: n - 1] + "…"


def script_json(obj: Any) -> str:
    """JSON safe inside a ``<script>`` element: ``</script>``, ``<!--`` and ``&`` cannot end or bend it."""
    text = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def word_diff(a: str, b: str) -> tuple[str, str]:
    """HTML of ``a`` and ``b`` with the words that differ marked (``<mark>``), everything escaped."""
    ta, tb = _TOKENS.findall(a), _TOKENS.findall(b)
    sm = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    out_a: list[str] = []
    out_b: list[str] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        left, right = esc("".join(ta[i1:i2])), esc("".join(tb[j1:j2]))
        if op == "equal":
            out_a.append(left)
            out_b.append(right)
            continue
        if left:
            out_a.append(f'<mark class="del">{left}</mark>')
        if right:
            out_b.append(f'<mark class="ins">{right}</mark>')
    return "".join(out_a), "".join(out_b)


def table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table; ``rows`` cells are already-escaped HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{esc(cls)}">{thead}<tbody>{body}</tbody></table>'


def fmt_num(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:
            return "–"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_num(x) for x in v) or "[]"
    return str(v)


@dataclass
class Section:
    id: str
    title: str
    body: str = ""
    charts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Page:
    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)
    template: dict[str, Any] = field(default_factory=dict)
    _n: int = 0

    def chart(self, section: Section, spec: dict[str, Any] | None, cls: str = "chart") -> str:
        """Register a chart in ``section``; return the div it draws into (empty string when there is none)."""
        if spec is None:
            return ""
        self._n += 1
        cid = f"chart-{self._n}"
        section.charts.append({"id": cid, **spec})
        return f'<div class="{cls}" id="{cid}" data-chart="1"></div>'


CSS = """
:root { --fg:#1d232b; --muted:#5f6b7a; --line:#dde2e8; --bg:#f6f7f9; --card:#fff; --accent:#0072B2;
        --del:#ffd9d2; --ins:#d3f3df; --bad:#D55E00; --good:#009E73; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg);
       background:var(--bg); }
header { background:#13202d; color:#fff; padding:18px 28px 14px; }
header h1 { margin:0 0 4px; font-size:21px; font-weight:600; }
header .sub { color:#b9c4cf; font-size:13px; overflow-wrap:anywhere; }
nav { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line);
      padding:6px 28px; display:flex; flex-wrap:wrap; gap:4px 16px; font-size:13px; }
nav a { color:var(--accent); text-decoration:none; }
main { max-width:1240px; margin:0 auto; padding:8px 28px 60px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 18px 18px;
          margin:18px 0; }
section > h2 { margin:0 0 10px; font-size:17px; }
h3 { font-size:15px; margin:16px 0 6px; }
p.note { color:var(--muted); margin:6px 0; }
.cards { display:flex; flex-wrap:wrap; gap:10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:130px; background:#fbfcfd; }
.card .v { font-size:20px; font-weight:600; }
.card .k { color:var(--muted); font-size:12px; }
.card.bad .v { color:var(--bad); } .card.good .v { color:var(--good); }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(370px,1fr)); gap:10px 16px; }
.chart { min-height:200px; }
.chart.wide { width:100%; }
table { border-collapse:collapse; width:100%; font-size:13px; margin:6px 0; }
th, td { border-bottom:1px solid var(--line); padding:5px 8px; text-align:left; vertical-align:top; }
th { background:#f0f3f6; font-weight:600; }
td.num, th.num, span.num { text-align:right; font-variant-numeric:tabular-nums; }
table.facts td:first-child { color:var(--muted); width:210px; }
code { font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; background:#eef1f4; padding:0 3px;
       border-radius:3px; }
details.issue { border:1px solid var(--line); border-radius:6px; margin:8px 0; background:#fff; }
details.issue > summary { cursor:pointer; padding:8px 12px; font-weight:600; background:#f7f9fb; }
details.issue[open] > summary { border-bottom:1px solid var(--line); }
details.issue .inner { padding:6px 12px 10px; }
.ex { border-top:1px dashed var(--line); padding:8px 0; }
.ex:first-child { border-top:none; }
.ex-head { font-size:12px; color:var(--muted); margin-bottom:4px; }
.ex-head b { color:var(--fg); }
.why { display:inline-block; background:#f0f3f6; border:1px solid var(--line); border-radius:4px; padding:0 5px;
       margin:1px 4px 1px 0; color:var(--muted); font-size:12px; }
.why.hit { background:#fff4e5; border-color:#f3d19e; color:#6b4300; }
.fig .cap { font-size:12px; color:var(--muted); padding:0 8px 6px 60px; }
.pair { display:grid; grid-template-columns:1fr 1fr; gap:10px; }
.side { border:1px solid var(--line); border-radius:5px; padding:6px 8px; min-width:0; }
.side h5 { margin:0 0 4px; font-size:12px; color:var(--muted); }
.lbl { font-size:11px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin-top:4px; }
pre.t { white-space:pre-wrap; overflow-wrap:anywhere; margin:2px 0; font:13px/1.4 ui-monospace,SFMono-Regular,
        Menlo,Consolas,monospace; background:#fafbfc; padding:4px 6px; border-radius:4px; max-height:260px;
        overflow:auto; }
mark.del { background:var(--del); } mark.ins { background:var(--ins); }
.tag { display:inline-block; padding:0 6px; border-radius:9px; font-size:11px; background:#e8edf2;
       margin-right:3px; }
.tag.kept { background:#d3f3df; } .tag.rejected { background:#ffd9d2; }
.verdict { font-size:15px; padding:8px 12px; border-left:4px solid var(--accent); background:#f0f6fb; }
button { font:inherit; font-size:12px; padding:2px 10px; border:1px solid var(--line); border-radius:4px;
         background:#fff; cursor:pointer; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:20px; }
"""

JS = """
(function () {
  var D = JSON.parse(document.getElementById("finesift-data").textContent);
  var cfg = {displaylogo: false, responsive: true, showLink: false,
             modeBarButtonsToRemove: ["sendDataToCloud", "lasso2d", "select2d"]};
  var jobs = D.charts.map(function (c) {
    var el = document.getElementById(c.id);
    c.layout.template = D.template;
    return Plotly.newPlot(el, c.data, c.layout, cfg);
  });
  var toggle = document.getElementById("toggle-examples");
  if (toggle) toggle.addEventListener("click", function () {
    var open = toggle.textContent === "open all";
    document.querySelectorAll("details.issue").forEach(function (d) { d.open = open; });
    toggle.textContent = open ? "close all" : "open all";
  });
  Promise.all(jobs).then(function () {
    document.body.setAttribute("data-charts", "drawn");
  }, function (e) { console.error("chart failed: " + e); });
})();
"""


def render(page: Page, plotly_js: str) -> str:
    """The whole document. ``plotly_js`` is embedded once; each chart is JSON drawn by ``Plotly.newPlot``."""
    nonce = secrets.token_urlsafe(18)
    # no network at all, and only the page's own two scripts run: a row holding <script> or an
    # onerror= attribute that escaped escaping would still be inert
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
           "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'")
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in page.sections)
    body = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in page.sections)
    charts = [c for s in page.sections for c in s.charts]
    data = script_json({"charts": charts, "template": page.template})
    plotly_js = plotly_js.replace("</script", "<\\/script")  # never true of plotly.js today; cheap to be sure
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(page.title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{esc(page.title)}</h1><div class="sub">{page.subtitle}</div></header>'
        f"<nav>{nav}</nav><main>{body}</main>"
        "<footer>finesift report: self-contained, works offline; the full row lists are in the folder's "
        "data files.</footer>"
        f'<script type="application/json" id="finesift-data">{data}</script>'
        f'<script nonce="{nonce}">{plotly_js}</script>'
        f'<script nonce="{nonce}">{JS}</script>'
        "</body></html>\n"
    )
