"""Chart specs for the report: plotly figures built from summaries computed here with numpy.

The page carries bins and counts, never one point per row, so a 1M-row audit draws as fast as a
100-row one. Every label that can hold dataset text goes through :func:`label` first: plotly reads
a small HTML subset (``<b>``, ``<a href>``, ``<br>``) in labels, and dataset text must stay text.
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

#: colours: a calm categorical palette (Okabe-Ito, readable by colour-blind people)
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#999999", "#8C510A", "#01665E", "#762A83"]
KEPT_COLOR, REJECTED_COLOR, THRESHOLD_COLOR = "#009E73", "#D55E00", "#C00000"
BINS = 40


def label(text: Any) -> str:
    """Text for a plotly label or hover: shown literally (plotly decodes the entities back to characters)."""
    return html.escape("" if text is None else str(text), quote=False)


def layout(title: str, height: int = 300, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": {"text": label(title), "font": {"size": 14}, "x": 0.01, "xanchor": "left"},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 44, "b": 48},
        "bargap": 0.05,
        "showlegend": False,
    }
    out.update(extra)
    if out.get("showlegend"):  # the legend sits between the title and the plot
        out["margin"] = {**out["margin"], "t": 70}
        out.setdefault("legend", {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "xanchor": "left"})
    return out


def figure(fig: go.Figure) -> dict[str, Any]:
    """A figure as the page embeds it: data and layout, without the per-figure template (shared once)."""
    spec = fig.to_plotly_json()
    spec["layout"].pop("template", None)
    return {"data": spec["data"], "layout": spec["layout"]}


def _round(values: np.ndarray, digits: int = 6) -> list[float]:
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=np.float64)]


def histogram(values: np.ndarray, *, integer: bool = False) -> dict[str, Any] | None:
    """Bins of the finite ``values``: edges, counts, and how many values lie above the drawn range.

    Heavy tails (lengths, token counts) would squash every bar into the first bin, so the range
    stops at the 99.5th percentile and the rest is counted as ``above``.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    lo, hi_all = float(v.min()), float(v.max())
    hi = float(np.percentile(v, 99.5)) if len(v) > 200 else hi_all
    if hi <= lo:
        hi = hi_all
    above = int((v > hi).sum())
    if integer and hi - lo <= 60:
        edges = np.arange(math.floor(lo), math.floor(hi) + 2, dtype=np.float64) - 0.5
    elif hi > lo:
        edges = np.linspace(lo, hi, BINS + 1)
    else:
        edges = np.array([lo - 0.5, lo + 0.5])
    counts, edges = np.histogram(v[v <= hi], bins=edges)
    return {"edges": edges, "counts": counts, "above": above, "n": int(len(v)), "min": lo, "max": hi_all,
            "range_max": hi}


def histogram_figure(hist: dict[str, Any], title: str, *, threshold: float | None = None,
                     threshold_label: str = "threshold", xlabel: str = "", color: str = PALETTE[0]) -> go.Figure:
    edges, counts = hist["edges"], hist["counts"]
    centers = (edges[:-1] + edges[1:]) / 2
    widths = np.diff(edges)
    fig = go.Figure(go.Bar(
        x=_round(centers), y=counts.tolist(), width=_round(widths), marker={"color": color},
        customdata=np.stack([edges[:-1], edges[1:]], axis=1).tolist(),
        hovertemplate="%{customdata[0]:.4g} to %{customdata[1]:.4g}: %{y} rows<extra></extra>"))
    notes = []
    if hist["above"]:
        notes.append(f"{hist['above']:,} rows above {hist['range_max']:.4g} (max {hist['max']:.4g}) not drawn")
    nonzero = counts[counts > 0]
    # mostly-zero score columns: a log axis keeps the rare flagged tail visible
    log_y = len(nonzero) > 1 and nonzero.max() / max(nonzero.min(), 1) >= 100
    lay = layout(title, xaxis={"title": {"text": label(xlabel)}},
                          yaxis={"title": {"text": "rows" + (" (log)" if log_y else "")},
                                 "type": "log" if log_y else "linear"})
    if threshold is not None and math.isfinite(threshold):
        right = float(edges[-1])
        if threshold > right + 3 * max(right - float(edges[0]), 1e-9):
            notes.append(f"{threshold_label} {threshold:g} lies far right of every value")
        else:
            lay["shapes"] = [{"type": "line", "x0": threshold, "x1": threshold, "yref": "paper", "y0": 0, "y1": 1,
                                 "line": {"color": THRESHOLD_COLOR, "width": 2, "dash": "dash"}}]
            lay["annotations"] = [{"x": threshold, "y": 1, "yref": "paper", "yanchor": "bottom",
                                      "text": label(f"{threshold_label} {threshold:g}"), "showarrow": False,
                                      "font": {"color": THRESHOLD_COLOR, "size": 11}}]
    if notes:
        lay.setdefault("annotations", []).append(
            {"x": 1, "xref": "paper", "xanchor": "right", "y": -0.28, "yref": "paper", "showarrow": False,
             "text": label("; ".join(notes)), "font": {"size": 10, "color": "#666"}})
        lay["margin"]["b"] = 64
    fig.update_layout(**lay)
    return fig


def hbar(labels: Sequence[Any], values: Sequence[float], title: str, *, color: str = PALETTE[0],
         hover: Sequence[str] | None = None, xlabel: str = "rows") -> go.Figure:
    """Horizontal bars, first label on top."""
    labels = [label(x) for x in labels]
    fig = go.Figure(go.Bar(
        y=labels, x=list(values), orientation="h", marker={"color": color},
        text=[f"{v:,}" if isinstance(v, (int, np.integer)) else f"{v:.3g}" for v in values], textposition="auto",
        hovertext=[label(h) for h in hover] if hover else None,
        hovertemplate="%{y}: %{x}" + ("<br>%{hovertext}" if hover else "") + "<extra></extra>"))
    fig.update_layout(**layout(title, height=max(180, 60 + 24 * len(labels)),
                                     yaxis={"autorange": "reversed", "automargin": True},
                                     xaxis={"title": {"text": label(xlabel)}}))
    return fig


def stacked_hbar(labels: Sequence[Any], series: dict[str, Sequence[float]], colors: dict[str, str],
                 title: str) -> go.Figure:
    labels = [label(x) for x in labels]
    fig = go.Figure([go.Bar(y=labels, x=list(vals), name=label(name), orientation="h",
                            marker={"color": colors.get(name)}, hovertemplate="%{y}: %{x} " + label(name) +
                            "<extra></extra>") for name, vals in series.items()])
    fig.update_layout(**layout(title, height=max(200, 80 + 24 * len(labels)), barmode="stack",
                                     showlegend=True,
                                     yaxis={"autorange": "reversed", "automargin": True},
                                     xaxis={"title": {"text": "rows"}}))
    return fig


def overlaid_histograms(groups: dict[str, np.ndarray], colors: dict[str, str], title: str,
                        xlabel: str = "") -> go.Figure | None:
    """Histograms of several groups on the same bins (e.g. quality of kept vs rejected rows)."""
    allv = np.concatenate([np.asarray(v, dtype=np.float64) for v in groups.values()]) if groups else np.array([])
    allv = allv[np.isfinite(allv)]
    if not len(allv):
        return None
    lo, hi = float(allv.min()), float(allv.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1, BINS + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    traces = []
    for name, vals in groups.items():
        v = np.asarray(vals, dtype=np.float64)
        counts, _ = np.histogram(v[np.isfinite(v)], bins=edges)
        traces.append(go.Bar(x=_round(centers), y=counts.tolist(), name=label(name), opacity=0.75,
                             marker={"color": colors.get(name)}, width=float(edges[1] - edges[0]),
                             hovertemplate=f"{label(name)}: %{{y}} rows at %{{x:.3g}}<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_layout(**layout(title, barmode="overlay", showlegend=True,
                                     xaxis={"title": {"text": label(xlabel)}}, yaxis={"title": {"text": "rows"}}))
    return fig


def group_sizes_figure(sizes: dict[str, np.ndarray]) -> go.Figure:
    """Groups per size, one trace per grouping code."""
    traces = []
    for i, (code, s) in enumerate(sizes.items()):
        vals, counts = np.unique(np.asarray(s, dtype=np.int64), return_counts=True)
        traces.append(go.Bar(x=vals.tolist(), y=counts.tolist(), name=label(code),
                             marker={"color": PALETTE[i % len(PALETTE)]},
                             hovertemplate=f"{label(code)}: %{{y}} groups of %{{x}} rows<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_layout(**layout("groups by size (members, the kept one included)", barmode="group",
                                     showlegend=True,
                                     xaxis={"title": {"text": "rows in the group"}, "type": "log"
                                            if max((int(np.max(s)) for s in sizes.values() if len(s)), default=1)
                                            > 50 else "linear"},
                                     yaxis={"title": {"text": "groups"}}))
    return fig


def scatter_map(x: np.ndarray, y: np.ndarray, groups: np.ndarray, title: str, hover: list[str]) -> go.Figure:
    """A 2-D map, one trace per group (legend entries), SVG markers (no WebGL: headless browsers lack it)."""
    traces = []
    names = list(dict.fromkeys(groups.tolist()))
    for i, g in enumerate(names):
        m = groups == g
        traces.append(go.Scatter(
            x=_round(x[m], 4), y=_round(y[m], 4), mode="markers", name=label(g),
            marker={"size": 5, "opacity": 0.75, "color": PALETTE[i % len(PALETTE)]},
            hovertext=[hover[j] for j in np.flatnonzero(m)], hovertemplate="%{hovertext}<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_layout(**layout(title, height=460, showlegend=True,
                               legend={"orientation": "v", "x": 1.02, "y": 1, "yanchor": "top", "font": {"size": 10}},
                                     xaxis={"showticklabels": False, "zeroline": False, "title": {"text": ""}},
                                     yaxis={"showticklabels": False, "zeroline": False}))
    return fig


def interval_bars(arms: list[str], means: list[float | None], cis: list[list[float] | None],
                  seeds: list[list[float]], title: str, *, baseline: float | None = None,
                  ylabel: str = "") -> go.Figure:
    """Bars of means with 95% interval whiskers and one dot per seed."""
    plus = [(c[1] - m) if c and m is not None else 0 for m, c in zip(means, cis)]
    minus = [(m - c[0]) if c and m is not None else 0 for m, c in zip(means, cis)]
    names = [label(a) for a in arms]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(arms))]
    traces = [go.Bar(x=names, y=[m if m is not None and math.isfinite(m) else None for m in means],
                     marker={"color": colors},
                     error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                              "color": "#333", "thickness": 1.5, "width": 6},
                     hovertemplate="%{x}: %{y:.4g}<extra></extra>")]
    xs, ys = [], []
    for name, vals in zip(names, seeds):
        for v in vals:
            if v is not None and math.isfinite(v):
                xs.append(name)
                ys.append(v)
    if xs:
        traces.append(go.Scatter(x=xs, y=ys, mode="markers",
                                 marker={"color": "#222", "size": 6, "symbol": "circle-open"},
                                 hovertemplate="%{x} seed: %{y:.4g}<extra></extra>"))
    fig = go.Figure(traces)
    lay = layout(title, yaxis={"title": {"text": label(ylabel)}})
    if baseline is not None and math.isfinite(baseline):
        lay["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": baseline, "y1": baseline,
                             "line": {"color": "#777", "dash": "dot", "width": 1.5}}]
        lay["annotations"] = [{"xref": "paper", "x": 1, "xanchor": "right", "y": baseline, "yanchor": "bottom",
                                  "text": f"untrained {baseline:.3g}", "showarrow": False,
                                  "font": {"size": 10, "color": "#555"}}]
    fig.update_layout(**lay)
    return fig


def loss_curves(curves: dict[str, list[list[tuple[int, float]]]], title: str) -> go.Figure:
    """Per arm: one thin line per seed, the mean over seeds thick."""
    traces = []
    for i, (arm, runs) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        runs = [r for r in runs if r]
        for j, run in enumerate(runs):
            xs, ys = zip(*run)
            traces.append(go.Scatter(x=list(xs), y=_round(np.asarray(ys), 5), mode="lines", legendgroup=label(arm),
                                     showlegend=False, line={"color": color, "width": 1}, opacity=0.35,
                                     hovertemplate=f"{label(arm)} seed {j}: step %{{x}}, loss %{{y:.4g}}"
                                                   "<extra></extra>"))
        if runs:
            common = sorted(set.intersection(*(set(dict(r)) for r in runs)))
            mean = [float(np.mean([dict(r)[s] for r in runs])) for s in common]
            traces.append(go.Scatter(x=common, y=_round(np.asarray(mean), 5), mode="lines", name=label(arm),
                                     legendgroup=label(arm), line={"color": color, "width": 2.5},
                                     hovertemplate=f"{label(arm)} mean: step %{{x}}, loss %{{y:.4g}}<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_layout(**layout(title, height=360, showlegend=True, xaxis={"title": {"text": "optimizer step"}},
                                     yaxis={"title": {"text": "train loss"}}))
    return fig


def learning_curve(points: list[dict[str, Any]], metric: str, recommended: int | None) -> go.Figure:
    xs = [p["size"] for p in points]
    ys = [p["mean"] for p in points]
    plus = [(p["ci95"][1] - p["mean"]) if p.get("ci95") else 0 for p in points]
    minus = [(p["mean"] - p["ci95"][0]) if p.get("ci95") else 0 for p in points]
    traces = [go.Scatter(x=xs, y=ys, mode="lines+markers", marker={"size": 8, "color": PALETTE[0]},
                         error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
                         name="mean over seeds", hovertemplate="%{x} rows: %{y:.4g}<extra></extra>")]
    rec = [p for p in points if p["size"] == recommended]
    if rec:  # a marker rather than a line shape: shapes on a log axis take log coordinates
        traces.append(go.Scatter(x=[rec[0]["size"]], y=[rec[0]["mean"]], mode="markers+text",
                                 marker={"size": 16, "symbol": "star", "color": THRESHOLD_COLOR},
                                 text=[f"recommended: {recommended}"], textposition="top center",
                                 name="recommended", hovertemplate="recommended size %{x}<extra></extra>"))
    fig = go.Figure(traces)
    log_x = len(xs) > 1 and max(xs) / max(min(xs), 1) >= 8
    fig.update_layout(**layout(f"learning curve: {metric} by curated subset size", height=340,
                                     xaxis={"title": {"text": "curated rows trained on"},
                                            "type": "log" if log_x else "linear"},
                                     yaxis={"title": {"text": label(metric)}}))
    return fig
