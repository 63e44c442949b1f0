"""False-flag rate of the whole default audit on clean Tatoeba rows, on the tuning sample and held out.

    .venv/bin/python benchmarks/bench_clean_flags.py [--rows 2000] [--seeds 0,1,2]

Rows are "Translate to French: <en>" -> "<fr>"; every default check runs (``finesift.audit``).
Seed 0 is ``clean_sample(2000, seed=0)``, the sample the default thresholds were tuned on (an
in-sample figure). Every other seed draws 2,000 pairs that share no English sentence with
it (``_heldout.heldout_sample``): the out-of-sample false-flag rate. Prints the flag rate
overall and per code with examples, and writes benchmarks/results/clean_flags.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _heldout import TUNING_SEED, heldout_sample, machine, timed_audit, write_result  # noqa: E402
from _tatoeba import clean_sample  # noqa: E402


def run(rows: int, seed: int) -> dict:

    tuning = seed == TUNING_SEED
    sample = clean_sample(rows, seed) if tuning else heldout_sample(rows, seed)
    result, seconds = timed_audit(sample)
    s = result.summary
    # a near duplicate of the same English sentence is two translations one word apart: arguably real
    flags, partner = result.table["flags"].to_pylist(), result.table["near_duplicate_of"].to_pylist()
    near = [i for i, f in enumerate(flags) if "near_duplicate" in f]
    same = sum(partner[i] is not None and sample[partner[i]]["instruction"] == sample[i]["instruction"] for i in near)
    return {"rows": rows, "seed": seed,
            "sample": "tuning (clean_sample seed 0)" if tuning else f"heldout seed {seed} (no English sentence of the tuning sample)",
            "flag_rate": s["stats"]["flag_rate"], "flagged_rows": s["stats"]["flagged_rows"],
            "counts": {k: v for k, v in s["counts"].items() if v}, "audit_seconds": round(seconds, 2),
            "near_duplicate_same_english": same,
            "examples": {k: v for k, v in s["examples"].items() if v}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--seeds", default="0,1,2", help=f"seed {TUNING_SEED} = the tuning sample; others held out")
    args = ap.parse_args()
    before = machine()
    runs = [run(args.rows, int(s)) for s in args.seeds.split(",") if s]
    held = [r for r in runs if r["seed"] != TUNING_SEED]
    pooled = None
    if held:
        flagged, total = sum(r["flagged_rows"] for r in held), sum(r["rows"] for r in held)
        pooled = {"flagged_rows": flagged, "rows": total, "flag_rate": round(flagged / total, 6)}
    path = write_result("clean_flags", {
        "benchmark": "clean_flags", "command": "benchmarks/bench_clean_flags.py " + " ".join(sys.argv[1:]),
        "machine_before": before, "machine_after": machine(), "heldout_pooled": pooled, "runs": runs})
    print("| sample | rows flagged | rate | by code |\n|---|---:|---:|---|")
    for r in runs:
        codes = ", ".join(f"{k} {v}" for k, v in r["counts"].items())
        if r["counts"].get("near_duplicate"):
            codes += f" ({r['near_duplicate_same_english']} near duplicates share the English sentence)"
        print(f"| {r['sample']} | {r['flagged_rows']} of {r['rows']} | {r['flag_rate']:.2%} | {codes} |")
    if pooled:
        print(f"held out, pooled: {pooled['flagged_rows']} of {pooled['rows']} ({pooled['flag_rate']:.2%})")
    for r in runs:
        for code, exs in r["examples"].items():
            for ex in exs:
                print(f"  seed {r['seed']} {code}: row {ex['row']}: {ex['prompt']!r} -> {ex['output']!r}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
