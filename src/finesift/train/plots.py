"""Charts: a run's loss curve, and compare's loss curves, metric bars and learning curve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def _finite(xs, ys):
    pts = [(x, y) for x, y in zip(xs, ys) if isinstance(y, (int, float)) and math.isfinite(y)]
    return [p[0] for p in pts], [p[1] for p in pts]


def smooth(values: list[float], alpha: float = 0.2) -> list[float]:
    out, ema = [], None
    for v in values:
        ema = v if ema is None else alpha * v + (1 - alpha) * ema
        out.append(ema)
    return out


def loss_curve(metrics: list[dict[str, Any]], path: Path, title: str = "loss") -> Path:
    """Train loss per step (raw and smoothed), eval loss, and recovery events, one colour per attempt."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    attempts = sorted({m.get("attempt", 1) for m in metrics if m.get("kind") in ("train", "eval")}) or [1]
    for a in attempts:
        tr = [m for m in metrics if m.get("kind") == "train" and m.get("attempt", 1) == a]
        xs, ys = _finite([m["step"] for m in tr], [m["loss"] for m in tr])
        suffix = "" if len(attempts) == 1 else f" (attempt {a})"
        color = None
        if xs:
            line, = ax.plot(xs, ys, alpha=0.3, lw=1)
            color = line.get_color()
            ax.plot(xs, smooth(ys), color=color, lw=2, label="train" + suffix)
        ev = [m for m in metrics if m.get("kind") == "eval" and m.get("attempt", 1) == a]
        ex, ey = _finite([m["step"] for m in ev], [m["eval_loss"] for m in ev])
        if ex:  # per attempt: a rolled-back stretch must not join the retry's points
            ax.plot(ex, ey, "o--", color=color or "black", lw=1.2, ms=5, label="eval" + suffix)
    by_step: dict[int, list[str]] = {}
    for m in metrics:
        if m.get("kind") == "event":
            by_step.setdefault(m["step"], []).append(m["event"])
    for step, kinds in by_step.items():
        ax.axvline(step, color="red", ls=":", lw=1)
        ax.annotate(" + ".join(dict.fromkeys(kinds)), (step, 1), xycoords=("data", "axes fraction"), fontsize=7,
                    rotation=90, va="top", ha="right", color="red")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def compare_loss_curves(curves: dict[str, list[list[tuple[int, float]]]], path: Path) -> Path:
    """Smoothed train loss per arm: one thin line per seed, the mean thick."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for arm, runs in curves.items():
        color = None
        series = []
        for run in runs:
            if not run:
                continue
            xs, ys = zip(*run)
            line, = ax.plot(xs, smooth(list(ys)), lw=0.8, alpha=0.4, color=color)
            color = line.get_color()
            series.append(dict(zip(xs, smooth(list(ys)))))
        if series:
            steps = sorted(set.intersection(*(set(s) for s in series)))
            ax.plot(steps, [np.mean([s[x] for s in series]) for x in steps], lw=2.2, color=color, label=arm)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("train loss (smoothed)")
    ax.set_title("training loss per arm (thin: seeds, thick: mean)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def metric_bars(arms: dict[str, dict[str, dict[str, Any]]], metrics: list[str], path: Path) -> Path:
    """One panel per metric: bar = mean over seeds, whisker = 95% interval, dots = seeds."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.6), squeeze=False)
    names = list(arms)
    for ax, metric in zip(axes[0], metrics):
        means = [arms[a][metric]["mean"] for a in names]
        lo = [m - (arms[a][metric]["ci95"] or [m, m])[0] for a, m in zip(names, means)]
        hi = [(arms[a][metric]["ci95"] or [m, m])[1] - m for a, m in zip(names, means)]
        xs = np.arange(len(names))
        ax.bar(xs, means, yerr=[lo, hi], capsize=4, color=[f"C{i}" for i in range(len(names))], alpha=0.75)
        for i, a in enumerate(names):
            vals = arms[a][metric]["values"]
            ax.plot([i] * len(vals), vals, "k.", ms=4)
        ax.set_xticks(xs, names, rotation=20)
        ax.set_title(metric)
        if metric == "eval_loss":  # losses differ in the decimals: a zero-based axis hides the difference
            vals = [v for a in names for v in arms[a][metric]["values"]] + [m - l for m, l in zip(means, lo)] + \
                [m + h for m, h in zip(means, hi)]
            pad = (max(vals) - min(vals)) * 0.2 or 0.01
            ax.set_ylim(min(vals) - pad, max(vals) + pad)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def learning_curve(points: list[dict[str, Any]], metric: str, recommended: int | None, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [p["size"] for p in points]
    means = [p["mean"] for p in points]
    lo = [m - (p["ci95"] or [m, m])[0] for p, m in zip(points, means)]
    hi = [(p["ci95"] or [m, m])[1] - m for p, m in zip(points, means)]
    ax.errorbar(xs, means, yerr=[lo, hi], fmt="o-", capsize=4)
    if recommended is not None:
        ax.axvline(recommended, color="green", ls="--", label=f"recommended: {recommended}")
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("curated rows")
    ax.set_ylabel(metric)
    ax.set_title(f"learning curve ({metric}, 95% intervals)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
