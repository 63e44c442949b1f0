"""Held-out samples and run records for the README-figure benchmarks.

The thresholds of the Tatoeba-tuned checks (conflict, the false-flag rate of the whole audit)
were chosen on ``clean_sample(2000, seed=0)``. A held-out sample here shares no English
sentence with that tuning sample (Tatoeba repeats an English sentence once per valid French
translation, so excluding row indices alone would leak sentences), and is drawn with its own seed.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tatoeba import pairs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TUNING_ROWS, TUNING_SEED = 2000, 0


def tuning_english(rows: int = TUNING_ROWS, seed: int = TUNING_SEED) -> set[str]:
    """English sentences of ``clean_sample(rows, seed)`` (same draw: ``random.Random(seed).sample``)."""
    ps = pairs()
    return {ps[i][0] for i in random.Random(seed).sample(range(len(ps)), rows)}


def heldout_pairs(n: int, seed: int, exclude: set[str] | None = None) -> list[tuple[str, str]]:
    """``n`` (english, french) pairs drawn with ``seed`` from pairs whose English is not in ``exclude``
    (default: the tuning sample's sentences)."""
    exclude = tuning_english() if exclude is None else exclude
    pool = [p for p in pairs() if p[0] not in exclude]
    return [pool[i] for i in random.Random(seed).sample(range(len(pool)), n)]


def heldout_sample(n: int, seed: int, exclude: set[str] | None = None) -> list[dict]:
    """:func:`heldout_pairs` as Alpaca rows ``"Translate to French: <en>" -> "<fr>"`` (as ``clean_sample``)."""
    return [{"instruction": f"Translate to French: {en}", "input": "", "output": fr}
            for en, fr in heldout_pairs(n, seed, exclude)]


def machine() -> dict[str, Any]:
    """Where and under what load a figure was measured (the machine is shared: timings are noisy)."""
    from finesift import __version__

    try:
        uptime = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        uptime = None
    return {"finesift": __version__, "platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "load_avg_1_5_15": [float(x) for x in uptime] if uptime else None,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def timed_audit(rows: list[dict], **options: Any) -> tuple[Any, float]:
    """``finesift.audit`` of ``rows`` written as a temporary JSONL (reading included): (result, seconds).

    Fields the records' shape does not use (e.g. a ``kind`` label) ride along as metadata; no check reads them.
    """
    import tempfile

    import finesift
    import orjson

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        t0 = time.perf_counter()
        result = finesift.audit(path, **options)
        return result, time.perf_counter() - t0


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """``benchmarks/results/<name>.json``, written to a temporary name and renamed."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=_plain))
    tmp.replace(path)
    return path


def _plain(obj):
    """numpy scalars (counts and rates computed with numpy) as plain numbers."""
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def median(values) -> float | None:
    import numpy as np

    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[~np.isnan(v)]
    return round(float(np.median(v)), 4) if len(v) else None


def auc(pos, neg) -> float | None:
    """P(a positive scores above a negative), ties half: how well a score separates two sets."""
    import numpy as np

    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    pos, neg = pos[~np.isnan(pos)], neg[~np.isnan(neg)]
    if not len(pos) or not len(neg):
        return None
    from scipy.stats import mannwhitneyu

    return round(float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg))), 4)
