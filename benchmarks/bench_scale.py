"""Issue 12's scale table: the CLI audit at 100k, 1M and 5M rows, local engine and local Ray.

    .venv/bin/python benchmarks/bench_scale.py                      # 100k, 1M, 5M; Ray up to 1M
    .venv/bin/python benchmarks/bench_scale.py --rows 100000 --repeat 3 --engines local
    .venv/bin/python benchmarks/bench_scale.py --quick              # 2k and 5k rows, both engines (< 1 min)

Each arm is a fresh process running the audit as a user would, with the defaults a user gets
(default checks, progress bar, report.html, which ``finesift audit`` always writes):
``python -m finesift audit FILE -o DIR [--engine ray]``. Wall time is measured around the process,
CPU time and the driver's peak RSS come from its ``os.wait4`` resource usage. Ray's work runs in
other processes (raylet, GCS, workers: descendants of the driver), which ``wait4`` does not see,
so every arm, local too so the two compare, also samples the memory of the whole process tree
every 0.2 s and keeps the largest sum of RSS (the table's "peak MB (tree)"; it counts pages
shared between processes, such as Ray's object store and the libraries, once per process) and
of PSS (shared pages split between their processes: the tree's real footprint). The run's
``summary.json`` gives seconds per stage (``features``, each check; ``total`` is the audit from
the read table to the decisions); what lies outside ``total`` (interpreter start-up and imports,
Ray start-up, reading, writing audit.parquet, summary.json and the report) is the wall time
left over.

Beside each size, in the same way, an ``orjson.loads`` parse of the file per line (the issue's
yardstick, timed inside its process as in ``bench_audit.py``); "x orjson parse" is the audit's
wall time over that. With ``--repeat N`` the arms of a size run N rounds in a rotating order
(load on the machine hits each alike) and the median run by wall time is reported.

The JSONL files (``_tatoeba.scaled_rows``) are written to ``--workdir`` and reused when present:
the name holds the row count, the seed and :data:`GEN_VERSION`. Results: markdown tables on
stdout and ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tatoeba import TEMPLATES, pairs, scaled_rows

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
QUICK_RESULTS = ROOT / "benchmarks" / "results" / "scale_quick.json"
#: bump when scaled_rows or the way the file is written changes, so a stale file is not reused
GEN_VERSION = 1
SEED = 0
SAMPLE_S = 0.2

try:
    import psutil
except ImportError:  # the /proc fallback below does the same on Linux
    psutil = None


# --------------------------------------------------------------------------- data


def data_file(workdir: Path, n: int) -> Path:
    """The JSONL file of ``scaled_rows(n)``, written once per (rows, seed, version) and then reused."""
    path = workdir / f"tatoeba_scaled_v{GEN_VERSION}_seed{SEED}_{n}.jsonl"
    if path.exists():
        return path
    workdir.mkdir(parents=True, exist_ok=True)
    # scaled_rows(n) is its first len(base) rows repeated: encode those once and cycle them, rather than
    # holding n dicts (several GB at 5M rows) in this process while the arms are measured
    period = len(TEMPLATES) * len(pairs())
    lines = [orjson.dumps(r) + b"\n" for r in scaled_rows(min(n, period), seed=SEED)]
    tmp = path.with_suffix(".part")  # renamed when complete: an interrupted run leaves no short file to reuse
    with open(tmp, "wb") as fh:
        for start in range(0, n, len(lines)):
            fh.writelines(lines[:n - start])
    tmp.rename(path)
    return path


# --------------------------------------------------------------------------- memory of a process tree


def _proc_tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc (no psutil)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])  # after "(comm)": state, ppid
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _proc_mem(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of one process from /proc; (0, 0) once it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def tree_memory(root: int) -> tuple[int, int]:
    """Sum of RSS and of PSS over ``root`` and all its descendants, in bytes."""
    rss = pss = 0
    if psutil is None:
        for pid in _proc_tree(root):
            r, p = _proc_mem(pid)
            rss, pss = rss + r, pss + p
        return rss, pss
    try:
        procs = [psutil.Process(root)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return 0, 0
    for proc in procs:
        try:
            info = proc.memory_full_info()  # smaps_rollup: has PSS
            rss, pss = rss + info.rss, pss + info.pss
        except psutil.AccessDenied:
            try:
                rss += proc.memory_info().rss
            except psutil.Error:
                pass
        except psutil.Error:
            pass  # exited between the listing and the read
    return rss, pss


class TreeSampler(threading.Thread):
    """Largest tree RSS / PSS of a process, sampled every :data:`SAMPLE_S` seconds until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop = pid, threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.samples = 0

    def run(self) -> None:
        while True:
            rss, pss = tree_memory(self.pid)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.samples += 1
            if self.stop.wait(SAMPLE_S):
                return


# --------------------------------------------------------------------------- arms


def timed(cmd: list[str], log: Path, stdout: Path | None = None) -> dict:
    """Run ``cmd`` in a fresh process: wall, CPU and peak RSS (wait4), peak tree RSS / PSS (sampled)."""
    t0 = time.perf_counter()
    with open(log, "wb") as err, open(stdout or os.devnull, "wb") as std:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=std, stderr=err, cwd=ROOT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        # the sampler stops before the child is reaped, so it never reads a pid that was reused
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb_wait4": usage.ru_maxrss / 1024,
            "peak_mb_tree": sampler.peak_rss / 2**20, "peak_mb_tree_pss": sampler.peak_pss / 2**20,
            "memory_samples": sampler.samples}


def run_audit(path: Path, engine: str, scratch: Path) -> dict:
    out = scratch / f"audit_{engine}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "finesift", "audit", str(path), "-o", str(out)]
    if engine == "ray":
        cmd += ["--engine", "ray"]
    res = timed(cmd, scratch / f"audit_{engine}.log")
    summary = json.loads((out / "summary.json").read_text())
    res["rows"] = summary["stats"]["rows"]
    res["seconds"] = summary["seconds"]
    res["stages"] = stages(summary["seconds"], res["wall_s"])
    res["flag_rate"] = summary["stats"]["flag_rate"]
    res["output_mb"] = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 2**20
    shutil.rmtree(out)  # audit.parquet at 5M rows is large, and the next arm's disk writes should not wait on it
    return res


def stages(seconds: dict, wall: float) -> dict[str, float]:
    """Seconds per stage of one run: summary.json's, plus what ``total`` and the wall time leave over.

    ``total`` covers the audit of the read table (features, checks, decisions, summary); any other
    top-level entry summary.json may gain (a read or write time) is counted as outside it.
    """
    checks = dict(seconds.get("checks", {}))
    out = {("features" if k == "features" else f"check {k}"): float(v) for k, v in checks.items()}
    total = float(seconds.get("total", 0.0))
    out["decisions + summary (total - checks)"] = max(0.0, total - sum(checks.values()))
    extra = {k: float(v) for k, v in seconds.items() if k not in ("checks", "total") and isinstance(v, (int, float))}
    out.update(extra)
    out["outside the audit: start-up, read, write, report"] = max(0.0, wall - total - sum(extra.values()))
    return out


_PARSE = """
import sys, time, json, orjson
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as fh:
    rows = [orjson.loads(line) for line in fh]
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": len(rows)}))
"""


def run_parse(path: Path, scratch: Path) -> dict:
    # the parse's own seconds come from inside the process (no interpreter start-up), as in bench_audit.py
    proc_out = scratch / "parse.out"
    res = timed([sys.executable, "-c", _PARSE, str(path)], scratch / "parse.log", stdout=proc_out)
    inner = json.loads(proc_out.read_text().strip().splitlines()[-1])
    res["seconds"], res["rows"] = inner["seconds"], inner["rows"]
    return res


def median_run(runs: list[dict]) -> dict:
    res = dict(sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2])
    res["runs_wall_s"] = [r["wall_s"] for r in runs]
    return res


# --------------------------------------------------------------------------- tables


def main_table(results: list[dict]) -> list[str]:
    lines = ["| rows | engine | wall s | rows/s | x orjson parse | CPU s | peak MB (tree) | peak MB (tree PSS) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if r.get("skipped"):
            lines.append(f"| {r['rows']:,} | {r['engine']} | skipped: {r['skipped']} | | | | | |")
            continue
        lines.append(f"| {r['rows']:,} | {r['engine']} | {r['wall_s']:.1f} | {r['rows_per_s']:,.0f} "
                     f"| {r['x_orjson']:.0f} | {r['cpu_s']:.1f} | {r['peak_mb_tree']:,.0f} "
                     f"| {r['peak_mb_tree_pss']:,.0f} |")
    return lines


def stage_table(results: list[dict], top: int = 12) -> list[str]:
    done = [r for r in results if not r.get("skipped")]
    if not done:
        return []
    names = {s for r in done for s in r["stages"]}
    # ordered by the stage's largest share of an arm's wall time: the stages that matter anywhere come first
    order = sorted(names, key=lambda s: -max(r["stages"].get(s, 0.0) / r["wall_s"] for r in done))
    lines = ["| stage, s (% of wall) | " + " | ".join(f"{r['rows']:,} {r['engine']}" for r in done) + " |",
             "|---|" + "---:|" * len(done)]
    for s in order[:top]:
        cells = [f"{r['stages'][s]:.2f} ({100 * r['stages'][s] / r['wall_s']:.0f}%)" if s in r["stages"] else ""
                 for r in done]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    rest = order[top:]
    if rest:
        cells = [f"{sum(r['stages'].get(s, 0.0) for s in rest):.2f}" for r in done]
        lines.append(f"| {len(rest)} other stages | " + " | ".join(cells) + " |")
    return lines


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    ap.add_argument("--engines", nargs="+", choices=("local", "ray"), default=["local", "ray"])
    ap.add_argument("--repeat", type=int, default=1, help="rounds of each arm per size (median run reported)")
    ap.add_argument("--ray-max-rows", type=int, default=1_000_000,
                    help="Ray arms above this many rows are skipped (and recorded as skipped)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "finesift-bench-scale",
                    help="where the generated JSONL files are kept and reused")
    ap.add_argument("--out", type=Path, default=None, help=f"results JSON (default {RESULTS.relative_to(ROOT)}; "
                                                           f"--quick: {QUICK_RESULTS.relative_to(ROOT)})")
    ap.add_argument("--quick", action="store_true", help="2,000 and 5,000 rows, both engines: proves the script")
    ap.add_argument("--make-data", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make_data:
        data_file(Path(args.make_data[0]), int(args.make_data[1]))
        return
    if args.quick:
        args.rows, args.engines = [2_000, 5_000], ["local", "ray"]
    out_path = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    # asked in a child: importing Ray Data here would grow this process by ~150 MB, and a child's wait4 peak RSS
    # starts from its parent's at the fork
    if "ray" in args.engines and subprocess.run([sys.executable, "-c", "import ray, ray.data"],
                                                check=False, capture_output=True).returncode:
        raise SystemExit("--engines ray needs ray[data] in this interpreter (pip install 'finesift[ray]')")

    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        scratch = Path(tmp)
        for n in args.rows:
            # in a child, for the same reason: building the rows grows a process by hundreds of MB that it keeps
            subprocess.run([sys.executable, __file__, "--make-data", str(args.workdir), str(n)], check=True)
            path = data_file(args.workdir, n)
            arms = ["orjson", *args.engines]
            skipped = [e for e in args.engines if e == "ray" and n > args.ray_max_rows]
            arms = [a for a in arms if a not in skipped]
            runs: dict[str, list[dict]] = {a: [] for a in arms}
            for i in range(args.repeat):
                for arm in arms[i % len(arms):] + arms[:i % len(arms)]:  # a rotating order
                    res = run_parse(path, scratch) if arm == "orjson" else run_audit(path, arm, scratch)
                    runs[arm].append(res)
                    print(f"{n:>9,} rows {arm:>6}: wall {res['wall_s']:.1f} s, CPU {res['cpu_s']:.1f} s, "
                          f"tree {res['peak_mb_tree']:,.0f} MB (PSS {res['peak_mb_tree_pss']:,.0f}), "
                          f"wait4 {res['peak_mb_wait4']:,.0f} MB", file=sys.stderr, flush=True)
            parse = median_run(runs["orjson"])
            for engine in args.engines:
                if engine in skipped:
                    results.append({"rows": n, "engine": engine,
                                    "skipped": f"rows > --ray-max-rows {args.ray_max_rows:,}"})
                    continue
                res = median_run(runs[engine])
                if res["rows"] != n:
                    raise SystemExit(f"the audit of {path} counted {res['rows']} rows, expected {n}")
                res.update(engine=engine, rows_per_s=n / res["wall_s"], orjson_parse_s=parse["seconds"],
                           orjson_parse_wall_s=parse["wall_s"], orjson_parse_peak_mb=parse["peak_mb_wait4"],
                           x_orjson=res["wall_s"] / parse["seconds"], file=str(path),
                           file_mb=path.stat().st_size / 2**20)
                results.append(res)

    out = {"rows": args.rows, "engines": args.engines, "repeat": args.repeat, "ray_max_rows": args.ray_max_rows,
           "cpus": len(os.sched_getaffinity(0)), "python": sys.version.split()[0],
           "memory_sampler": "psutil" if psutil else "/proc", "sample_s": SAMPLE_S, "gen_version": GEN_VERSION,
           "seed": SEED, "results": results}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=2) + "\n")
    print("\n".join(main_table(results)))
    print()
    print("\n".join(stage_table(results)))


if __name__ == "__main__":
    main()
