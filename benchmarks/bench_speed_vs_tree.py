"""This tree's audit against an earlier commit's: same checks, same file, fresh processes, interleaved.

    .venv/bin/python benchmarks/bench_speed_vs_tree.py --base c41c115 --rows 100000 --repeat 5

Issue 8 asks that the redesign's "audit speed does not fall". The base commit's ``src`` is
extracted with ``git archive`` into a temporary folder; each round runs the base tree, this
tree with its default threads and this tree with ``threads=1`` (one after another, in a rotating
order so no arm always runs on a warmer or cooler machine), each in a fresh Python process that
reads the file and audits it with the same checks. Wall time is measured around the process; CPU
time and peak RSS come from its ``wait4`` resource usage. The medians and their ratios to the
base go to stdout and ``benchmarks/results/speed_vs_tree.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tatoeba import scaled_rows  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "speed_vs_tree.json"

#: the default checks of c41c115 (the tree before the protocol conversion): the set both trees run
BASE_CHECKS = ("exact_duplicate", "near_duplicate", "conflict", "empty_output", "placeholder_output",
               "truncated_output", "echo_output", "refusal_output", "wrong_language", "typos", "format_outlier",
               "missing_context", "pii", "too_long")

_CHILD = """
import sys, finesift
kwargs = {} if sys.argv[3] == "default" else {"threads": int(sys.argv[3])}
finesift.audit(sys.argv[1], checks=sys.argv[2].split(","), **kwargs)
"""


def _extract(commit: str, into: Path) -> Path:
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _timed(src: Path, path: Path, checks: tuple[str, ...], threads: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), ",".join(checks), threads], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"audit with PYTHONPATH={src} failed ({proc.returncode}):\n{err[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="c41c115", help="the commit to compare against")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_src = _extract(args.base, tmp / "base")
        path = tmp / "tatoeba.jsonl"
        with open(path, "wb") as fh:
            for row in scaled_rows(args.rows):
                fh.write(orjson.dumps(row) + b"\n")
        arms = {"base": (base_src, "default"), "this": (ROOT / "src", "default"),
                "this_threads2": (ROOT / "src", "2")}
        runs: dict[str, list[dict[str, float]]] = {a: [] for a in arms}
        names = list(arms)
        for i in range(args.repeat):
            for arm in names[i % 3:] + names[:i % 3]:  # a rotating order
                src, threads = arms[arm]
                runs[arm].append(_timed(src, path, BASE_CHECKS, threads))
                print(arm, {k: round(v, 2) for k, v in runs[arm][-1].items()}, file=sys.stderr)

    med = {a: {k: statistics.median(r[k] for r in runs[a]) for k in runs[a][0]} for a in arms}
    out = {"base": args.base, "rows": args.rows, "repeat": args.repeat, "checks": list(BASE_CHECKS),
           "cpus": len(os.sched_getaffinity(0)), "median": med,
           "ratio_to_base": {a: {k: med[a][k] / med["base"][k] for k in med[a]} for a in arms if a != "base"},
           "runs": runs}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"| tree | wall s | CPU s | peak MB | wall × {args.base} | CPU × {args.base} | peak × {args.base} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for a in arms:
        r = out["ratio_to_base"].get(a, {"wall_s": 1.0, "cpu_s": 1.0, "peak_mb": 1.0})
        print(f"| {a} | {med[a]['wall_s']:.2f} | {med[a]['cpu_s']:.2f} | {med[a]['peak_mb']:.0f} | "
              f"{r['wall_s']:.3f} | {r['cpu_s']:.3f} | {r['peak_mb']:.3f} |")


if __name__ == "__main__":
    main()
