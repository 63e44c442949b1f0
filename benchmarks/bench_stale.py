"""Old era vs new era on real data: Bitext customer support 2023-08-07 (old) vs 2023-08-18 (rewritten).

    .venv/bin/python benchmarks/bench_stale.py [--seed 0]

Rows are the CSVs' instruction -> response with the version date as a ``date`` field; each
scenario is one ``finesift.audit`` (only ``stale`` runs) and is timed end to end, reading included.

* ``current``: all 10,994 rows dated, ``--current 'date>=2023-08-10'`` (the README figure).
  The check never flags a row the condition marks current, so precision is 1 by
  construction here; recall is the share of old rows the cross-fitted model tells apart.
* ``current_half_undated``: only a random half of the rows keep their date; the other half
  are unknown-era rows judged by a model trained on the dated half. Precision and recall
  on the undated half are out of sample: no label of theirs was seen.
* ``reference``: ``--reference`` = a random half of the new rows; the dataset = every old row +
  the other half of the new rows, unlabelled.
* ``quiet_*``: new rows only, under random dates, and against a new-only reference: should flag 0.

Writes ``benchmarks/results/stale.json``.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DATA  # noqa: E402
from _heldout import machine, write_result  # noqa: E402

OLD, NEW = "2023-08-07", "2023-08-18"
CONDITION = "date>=2023-08-10"


def bitext(version: str) -> list[dict]:
    with open(DATA / f"bitext-customer-support-{version}.csv", newline="", encoding="utf-8") as fh:
        return [{"instruction": r["instruction"], "output": r["response"], "intent": r["intent"], "era": version}
                for r in csv.DictReader(fh)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps({k: v for k, v in r.items() if k != "era"}) + b"\n" for r in rows))
    return path


def scenario(name: str, rows: list[dict], tmp: Path, *, judged=None, current: str | None = None,
             reference: list[dict] | None = None) -> dict:
    """Audit ``rows`` for staleness; precision/recall of the flag against the true era on the ``judged`` rows."""
    import finesift

    data = write_jsonl(tmp / f"{name}.jsonl", rows)
    kw = {"current": current} if current else {"reference": str(write_jsonl(tmp / f"{name}-ref.jsonl", reference))}
    t0 = time.perf_counter()
    result = finesift.audit(data, checks=[], **kw)
    seconds = time.perf_counter() - t0
    t = result.table
    flag = np.array(["stale" in f for f in t["flags"].to_pylist()])
    truth = np.array([r["era"] == OLD for r in rows])
    judged = np.ones(len(rows), dtype=bool) if judged is None else judged
    f, y = flag[judged], truth[judged]
    tp = int((f & y).sum())
    terms = Counter(term for i in np.flatnonzero(flag) for term in (t["stale_terms"][int(i)].as_py() or []))
    return {
        "scenario": name, "rows": len(rows), "reference_rows": len(reference) if reference else 0,
        "judged_rows": int(judged.sum()), "judged_old": int(y.sum()), "flagged": int(f.sum()),
        "precision": round(tp / f.sum(), 4) if f.sum() else None,
        "recall": round(tp / y.sum(), 4) if y.sum() else None,
        "seconds": round(seconds, 2), "stale_check_seconds": result.summary["seconds"]["checks"].get("stale"),
        "top_terms_in_flagged_rows": terms.most_common(8),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    before = machine()
    old, new = bitext(OLD), bitext(NEW)
    rng = random.Random(args.seed)
    runs = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        everything = [dict(r, date=r["era"]) for r in old + new]
        rng.shuffle(everything)
        runs.append(scenario("current", everything, tmp, current=CONDITION))

        dated = np.zeros(len(everything), dtype=bool)
        dated[rng.sample(range(len(everything)), len(everything) // 2)] = True
        half = [r if d else {k: v for k, v in r.items() if k != "date"} for r, d in zip(everything, dated)]
        runs.append(scenario("current_half_undated", half, tmp, judged=~dated, current=CONDITION))

        shuffled = rng.sample(new, len(new))
        ref, mix_new = shuffled[: len(new) // 2], shuffled[len(new) // 2:]
        mix = old + mix_new
        rng.shuffle(mix)
        runs.append(scenario("reference", mix, tmp, reference=ref))

        quiet = [dict(r, date=rng.choice([OLD, NEW])) for r in mix_new]
        runs.append(scenario("quiet_random_dates", quiet, tmp, current=CONDITION))
        runs.append(scenario("quiet_new_vs_new_reference", mix_new, tmp, reference=ref))
    write_result("stale", {"benchmark": "stale", "command": "benchmarks/bench_stale.py " + " ".join(sys.argv[1:]),
                           "data": {"old": f"bitext-customer-support-{OLD}.csv ({len(old)} rows)",
                                    "new": f"bitext-customer-support-{NEW}.csv ({len(new)} rows)"},
                           "machine_before": before, "machine_after": machine(), "runs": runs})
    print("| scenario | rows | judged (old) | flagged | precision | recall | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print(f"| {r['scenario']} | {r['rows']:,} (+{r['reference_rows']:,} ref) | {r['judged_rows']:,} "
              f"({r['judged_old']:,}) | {r['flagged']:,} | {r['precision']} | {r['recall']} | {r['seconds']} |")
    print("top evidence terms (current):", [t for t, _ in runs[0]["top_terms_in_flagged_rows"][:5]])


if __name__ == "__main__":
    main()
