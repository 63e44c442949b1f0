"""semantic_duplicate against the GPTeacher authors' own near-duplicate removals, threshold tuned and judged apart.

    .venv/bin/python benchmarks/bench_semantic.py [--splits 5] [--embeddings static]

GPTeacher Toolformer, 7,673 rows (exact-deduplicated); the 2,964 rows its authors removed at 0.8
similarity are the reference (``_data.gpteacher``). One ``finesift.audit`` with only
``semantic_duplicate`` scores every row (``semantic_duplicate_sim``: min(prompt cosine,
answer cosine) with its most similar earlier row); a row is predicted removed when that
similarity reaches the threshold. The shipped threshold (0.95) was chosen on these same rows,
so its F1 on all of them is an in-sample figure. Out of sample: the rows are split at random
in two halves (``--splits`` times, seeded); the threshold with the best F1 on one half
is judged on the other half, next to the shipped 0.95 on that same half.

Writes ``benchmarks/results/semantic.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import gpteacher, prf  # noqa: E402
from _heldout import machine, timed_audit, write_result  # noqa: E402

GRID = np.round(np.arange(0.80, 0.9951, 0.005), 3)


def best_threshold(sim: np.ndarray, gold: np.ndarray) -> float:
    f1 = [prf(list(sim >= t), list(gold))["f1"] for t in GRID]
    return float(GRID[int(np.argmax(f1))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--embeddings", default="static", choices=["static", "sentence"])
    args = ap.parse_args()

    before = machine()
    rows, removed = gpteacher()
    gold = np.array(removed)
    result, seconds = timed_audit(rows, checks=["semantic_duplicate"], embeddings=args.embeddings)
    sim = np.nan_to_num(result.table["semantic_duplicate_sim"].to_numpy(zero_copy_only=False).astype(float), nan=-1.0)
    shipped = result.summary["config"]["params"]["semantic_duplicate"]["threshold"]
    flagged = np.array(["semantic_duplicate" in f for f in result.table["flags"].to_pylist()])
    in_sample = prf(list(flagged), list(gold))
    splits = []
    for s in range(args.splits):
        a = np.random.default_rng(s).permutation(len(rows)) < len(rows) // 2
        for tune, test, name in ((a, ~a, "A->B"), (~a, a, "B->A")):
            t = best_threshold(sim[tune], gold[tune])
            splits.append({"split_seed": s, "direction": name, "tuned_threshold": t,
                           "tuned_f1_on_tuning_half": prf(list(sim[tune] >= t), list(gold[tune]))["f1"],
                           "heldout_at_tuned": prf(list(sim[test] >= t), list(gold[test])),
                           "heldout_at_shipped": prf(list(sim[test] >= shipped), list(gold[test]))})
    f1_tuned = [float(x["heldout_at_tuned"]["f1"]) for x in splits]
    f1_shipped = [float(x["heldout_at_shipped"]["f1"]) for x in splits]
    payload = {
        "benchmark": "semantic_duplicate vs GPTeacher removals", "command": "benchmarks/bench_semantic.py " + " ".join(sys.argv[1:]),
        "embeddings": args.embeddings, "rows": len(rows), "gold_removed": int(gold.sum()),
        "audit_seconds": round(seconds, 2), "shipped_threshold": shipped,
        "in_sample_all_rows_at_shipped": in_sample,
        "best_threshold_all_rows": best_threshold(sim, gold),
        "heldout_summary": {"halves": len(splits),
                            "f1_at_tuned_median": round(float(np.median(f1_tuned)), 4),
                            "f1_at_tuned_range": [min(f1_tuned), max(f1_tuned)],
                            "f1_at_shipped_median": round(float(np.median(f1_shipped)), 4),
                            "f1_at_shipped_range": [min(f1_shipped), max(f1_shipped)],
                            "tuned_thresholds": sorted({x["tuned_threshold"] for x in splits})},
        "splits": splits,
        "machine_before": before, "machine_after": machine(),
    }
    write_result("semantic", payload)
    h = payload["heldout_summary"]
    print(f"GPTeacher {len(rows):,} rows, {args.embeddings} embeddings, audit {seconds:.1f} s")
    print(f"in sample (all rows, threshold {shipped}): P {in_sample['precision']} R {in_sample['recall']} F1 {in_sample['f1']}")
    print(f"held-out halves ({h['halves']}): F1 at the threshold tuned on the other half {h['f1_at_tuned_median']} "
          f"{h['f1_at_tuned_range']} (thresholds {h['tuned_thresholds']}); at {shipped}: {h['f1_at_shipped_median']} "
          f"{h['f1_at_shipped_range']}")


if __name__ == "__main__":
    main()
