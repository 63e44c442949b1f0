"""Audit throughput and peak memory on Tatoeba-derived data, per check.

    .venv/bin/python benchmarks/bench_audit.py --rows 100000 300000 1000000

For each size it writes a JSONL file, then runs ``finesift.audit`` in a fresh
subprocess (so peak RSS is that run's alone) twice: the cheap checks only (rules,
hashes, MinHash) and every default check (adds the model-based ones: language ID,
spelling dictionaries, tokenizer). Reading the file is included in the total.
Beside each audit, in the same way (fresh process, median of ``--repeat`` runs
interleaved with the audit's), a plain parse of the same file: stdlib ``json.loads``
per line, and ``orjson.loads`` per line; the table gives the audit's time as a
multiple of each (the issue's yardsticks: the ratio holds on a busy machine where
absolute rows/s do not).
Results: a markdown table on stdout and ``benchmarks/results/audit.json``.
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

RESULTS = Path(__file__).resolve().parent / "results" / "audit.json"


def _parse(path: str, lib: str) -> None:
    """A plain parse of the file into a list of dicts, timed from inside the process like the audit."""
    import json as stdlib_json

    loads = orjson.loads if lib == "orjson" else stdlib_json.loads
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        rows = [loads(line) for line in fh]
    print(json.dumps({"mode": lib, "seconds": time.perf_counter() - t0, "rows": len(rows)}))


def _run(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(path: str, mode: str) -> None:
    if mode in ("json", "orjson"):
        return _parse(path, mode)
    import finesift
    from finesift.checks import registry
    from finesift.config import DEFAULT_CHECKS

    checks = list(DEFAULT_CHECKS)
    if mode == "cheap":
        reg = registry()
        checks = [c for c in checks if reg[c].cost == "cheap"]
    t0 = time.perf_counter()
    result = finesift.audit(path, checks=checks)
    total = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "checks": checks, "seconds": total, "peak_mb": peak_mb,
                      "per_check": result.summary["seconds"]["checks"], "rows": result.summary["stats"]["rows"],
                      "unique_rows": result.summary["stats"]["unique_rows"],
                      "flag_rate": result.summary["stats"]["flag_rate"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--modes", nargs="+", default=["cheap", "all"])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each audit and parse (medians)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            path = Path(tmp) / f"tatoeba_{n}.jsonl"
            with open(path, "wb") as fh:
                for r in scaled_rows(n):
                    fh.write(orjson.dumps(r) + b"\n")
            runs: dict[str, list[dict]] = {m: [] for m in (*args.modes, "json", "orjson")}
            for _ in range(args.repeat):  # interleaved: load on the machine hits every mode alike
                for mode in runs:
                    runs[mode].append(_run(str(path), mode))
            parse = {lib: statistics.median(r["seconds"] for r in runs[lib]) for lib in ("json", "orjson")}
            for mode in args.modes:
                res = sorted(runs[mode], key=lambda r: r["seconds"])[len(runs[mode]) // 2]  # the median run
                res["runs_seconds"] = [r["seconds"] for r in runs[mode]]
                res["rows_per_s"] = res["rows"] / res["seconds"]
                res["json_seconds"], res["orjson_seconds"] = parse["json"], parse["orjson"]
                res["x_json"], res["x_orjson"] = res["seconds"] / parse["json"], res["seconds"] / parse["orjson"]
                results.append(res)
                print(f"{n:>9} rows {mode:>5}: {res['seconds']:.1f} s, {res['rows_per_s']:,.0f} rows/s, "
                      f"{res['x_json']:.0f}x json, {res['x_orjson']:.0f}x orjson, peak {res['peak_mb']:.0f} MB",
                      file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print("| rows | checks | total s | rows/s | x json parse | x orjson parse | peak MB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['rows']:,} | {r['mode']} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {r['x_json']:.0f} "
              f"| {r['x_orjson']:.0f} | {r['peak_mb']:.0f} |")
    print()
    checks = sorted({c for r in results for c in r["per_check"]})
    print("| check | " + " | ".join(f"{r['rows']:,} {r['mode']}" for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for c in checks:
        cells = [f"{r['rows'] / r['per_check'][c]:,.0f}" if r["per_check"].get(c) else "" for r in results]
        print(f"| {c} rows/s | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
