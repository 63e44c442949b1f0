"""False-flag rate of the whole default audit on clean Tatoeba rows.

    .venv/bin/python benchmarks/bench_clean_flags.py [--rows 2000] [--seed 0]

2,000 pairs drawn at random from ../shared/data/tatoeba-fra-eng.tsv become
"Translate to French: <en>" -> "<fr>" rows; every default check runs. Prints the
flag rate overall and per code, with examples, and writes benchmarks/results/clean_flags.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tatoeba import clean_sample  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "clean_flags.json"


def run(rows: int, seed: int) -> dict:
    import finesift

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clean.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in clean_sample(rows, seed)))
        result = finesift.audit(path)
    s = result.summary
    return {"rows": rows, "seed": seed, "flag_rate": s["stats"]["flag_rate"], "flagged_rows": s["stats"]["flagged_rows"],
            "counts": s["counts"], "examples": s["examples"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    res = run(args.rows, args.seed)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print(f"{res['flagged_rows']} of {res['rows']} clean rows flagged ({res['flag_rate']:.2%})")
    print("| code | rows flagged |\n|---|---:|")
    for code, n in res["counts"].items():
        print(f"| {code} | {n} |")
    for code, exs in res["examples"].items():
        for ex in exs:
            print(f"  {code}: row {ex['row']}: {ex['prompt']!r} -> {ex['output']!r}")


if __name__ == "__main__":
    main()
