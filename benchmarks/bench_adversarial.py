"""Time and peak memory per check on adversarial rows, next to ordinary rows.

    .venv/bin/python benchmarks/bench_adversarial.py            # every default check, every input
    .venv/bin/python benchmarks/bench_adversarial.py --checks typos --inputs word_1mb --runs 3

Inputs (JSONL files written to a temporary folder, read with ``finesift.io.read``):

* ``ordinary``: ``--rows`` Tatoeba rows (``Translate to French: ...`` -> French), the baseline;
* ``word_1mb``, ``words_5mb``, ``base64_1mb``, ``minified_1mb``: the ordinary rows plus one row whose
  prompt is ``"Summarize: " + blob`` and whose answer is the blob: one 1 MB lower-case word, 5 MB of
  random lower-case words (mostly misspelled, mostly distinct), a 1 MB base64 blob, 1 MB of minified
  JavaScript-like code;
* ``templated``: ``--templated-rows`` rows "Write a product description for item {i}." whose answers
  share a long template and differ in one or two tokens (one huge near-duplicate cluster).

Each (check, input) runs in a fresh subprocess (so ``ru_maxrss`` is that run's alone): the check's
``score`` time and its peak memory = peak RSS while scoring (the kernel's peak mark is reset after
reading) minus the RSS after reading the input. The cost of an
adversarial input is what it adds to the ordinary rows: ``(t(input) - t(ordinary)) / bytes added``,
compared with the ordinary cost per byte ``t(ordinary) / bytes(ordinary)``: a check must read a row
at least once, so a 1 MB row cannot cost what a 60-byte row costs, but it must not cost more than
10x what the same bytes of ordinary rows cost (``ratio`` <= 10). For ``templated`` (ordinary-sized
rows) the ratio is per row. Memory ratios are reported the same way. A child is stopped past
``--timeout`` seconds or ``--max-gb`` of address space (reported as ``timeout`` / ``memory``).

Then the full default audit (``finesift.audit``) on the templated rows, in its own subprocess:
time and peak RSS (target: under 1 GB).

Results: a markdown table on stdout and ``benchmarks/results/adversarial.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
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

RESULTS = Path(__file__).resolve().parent / "results" / "adversarial.json"
INPUTS = ("ordinary", "word_1mb", "words_5mb", "base64_1mb", "minified_1mb", "templated")
MB = 1 << 20


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / MB


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM), so the peak is the check's, not the reader's."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_mb(reset: bool) -> float:
    if reset:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- adversarial texts ------------------------------------------------------------------------------

def one_word(size: int, rng: random.Random) -> str:
    """One lower-case "word" of ``size`` random letters (no dictionary word, no near miss)."""
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=size))


def many_words(size: int, rng: random.Random) -> str:
    """``size`` characters of random lower-case words of 3-10 letters: mostly distinct misspellings."""
    out, n = [], 0
    while n < size:
        w = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10)))
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:size]


def base64_blob(size: int, rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(size * 3 // 4)).decode()[:size]


def minified(size: int, rng: random.Random) -> str:
    """Minified JavaScript-like code: no spaces or line breaks, short random identifiers."""
    parts, n = [], 0
    while n < size:
        a, b, c = ("".join(rng.choices("abcdefghijklmnopqrstuvwxyz_$", k=rng.randint(1, 3))) for _ in range(3))
        k = rng.randint(0, 999)
        s = rng.choice((f"function {a}({b},{c}){{return {b}+{c}*{k}}};", f"var {a}={b}.map(function({c}){{return {c}>{k}}});",
                        f"if({a}&&{b}.length>{k}){{{c}[{a}]=\"{b}{k}\"}}else{{{c}.push({a})}};",
                        f"for(var {a}=0;{a}<{k};{a}++){{{b}({a},{c})}}"))
        parts.append(s)
        n += len(s)
    return "".join(parts)[:size]


BLOBS = {"word_1mb": (one_word, MB), "words_5mb": (many_words, 5 * MB), "base64_1mb": (base64_blob, MB),
         "minified_1mb": (minified, MB)}

_COLORS = ("red", "blue", "green", "black", "white", "grey", "navy", "olive", "amber", "teal")


def templated_rows(n: int) -> list[dict]:
    """n rows of one template: prompts differ in the item number, answers in one or two tokens."""
    body = ("This premium {c} product is built to last and designed for everyday use at home, at work and "
            "on the go. It combines a durable frame, a soft-touch finish and a lightweight build, so it is "
            "easy to carry and pleasant to hold. Item {i} ships with a two-year warranty, free returns "
            "within thirty days and a quick start guide. Order today and enjoy fast, reliable delivery.")
    return [{"instruction": f"Write a product description for item {i}.", "input": "",
             "output": body.format(i=i, c=_COLORS[i % len(_COLORS)])} for i in range(n)]


def write_inputs(folder: Path, rows: int, templated: int, which: list[str]) -> dict[str, dict]:
    """Write each input as JSONL; return name -> {path, rows, bytes (prompt + answer characters)}."""
    base = scaled_rows(rows)
    base_bytes = sum(len(r["instruction"]) + len(r["output"]) for r in base)
    out = {}
    for name in which:
        rng = random.Random(0)
        if name == "ordinary":
            recs, nbytes = base, base_bytes
        elif name == "templated":
            recs = templated_rows(templated)
            nbytes = sum(len(r["instruction"]) + len(r["output"]) for r in recs)
        else:
            make, size = BLOBS[name]
            blob = make(size, rng)
            extra = {"instruction": "Summarize: " + blob, "input": "", "output": blob}
            recs = base[: rows // 2] + [extra] + base[rows // 2:]
            nbytes = base_bytes + len(extra["instruction"]) + len(blob)
        path = folder / f"{name}.jsonl"
        with open(path, "wb") as fh:
            for r in recs:
                fh.write(orjson.dumps(r) + b"\n")
        out[name] = {"path": str(path), "rows": len(recs), "bytes": nbytes}
    return out


# -- children ---------------------------------------------------------------------------------------

def _limit(max_gb: float) -> None:
    cap = int(max_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _child_check(check: str, path: str) -> None:
    from finesift.config import AuditConfig
    from finesift.io import read
    from finesift.pipeline import build_checks, score_all

    config = AuditConfig(checks=[check])
    ds = read(path)
    checks = build_checks(config)
    reset = _reset_peak()
    before = _rss_mb()
    t0 = time.perf_counter()
    scores, _ = score_all(ds, checks, config)
    flagged = int(checks[0].decide(scores).sum())
    seconds = time.perf_counter() - t0
    peak = _peak_mb(reset)
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "extra_mb": max(peak - before, 0.0),
                      "flagged": flagged}))


def _child_audit(path: str) -> None:
    import finesift

    t0 = time.perf_counter()
    result = finesift.audit(path)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "per_check": result.summary["seconds"]["checks"],
                      "counts": result.summary["counts"], "rows": result.summary["stats"]["rows"]}))


def _run_child(args: list[str], timeout: float, max_gb: float) -> dict:
    cmd = [sys.executable, __file__, "--max-gb", str(max_gb), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": "memory" if "MemoryError" in proc.stderr or "bad_alloc" in proc.stderr else tail[:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    out = dict(ok[0])
    for k in ("seconds", "peak_mb", "extra_mb"):
        if k in out:
            out[k] = statistics.median(r[k] for r in ok)
    out["runs"] = len(ok)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checks", nargs="+", default=None, help="default: every default check")
    ap.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=INPUTS)
    ap.add_argument("--rows", type=int, default=20_000, help="ordinary rows")
    ap.add_argument("--templated-rows", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=1, help="runs per (check, input); medians are reported")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--max-gb", type=float, default=16.0,
                    help="address-space cap per child (virtual: allocators reserve far more than they touch)")
    ap.add_argument("--no-audit", action="store_true", help="skip the full audit of the templated rows")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _limit(args.max_gb)
        return _child_audit(args.child[1]) if args.child[0] == "audit" else _child_check(*args.child)
    from finesift.config import DEFAULT_CHECKS

    checks = args.checks or list(DEFAULT_CHECKS)
    which = list(dict.fromkeys(["ordinary", *args.inputs]))
    results: dict = {"rows": args.rows, "templated_rows": args.templated_rows, "runs": args.runs,
                     "checks": {}, "audit_templated": None}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = write_inputs(Path(tmp), args.rows, args.templated_rows, which)
        results["inputs"] = {k: {"rows": v["rows"], "bytes": v["bytes"]} for k, v in inputs.items()}
        for check in checks:
            per = results["checks"][check] = {}
            for name in which:
                runs = [_run_child(["--child", check, inputs[name]["path"]], args.timeout, args.max_gb)
                        for _ in range(args.runs)]
                per[name] = _median(runs)
                r = per[name]
                shown = r.get("error") or f"{r['seconds']:.2f} s, +{r['extra_mb']:.0f} MB"
                print(f"{check:>20} {name:>13}: {shown}", file=sys.stderr, flush=True)
            _ratios(per, results["inputs"])
        if "templated" in which and not args.no_audit:
            runs = [_run_child(["--child", "audit", inputs["templated"]["path"]], max(args.timeout, 900), args.max_gb)
                    for _ in range(args.runs)]
            results["audit_templated"] = _median(runs)
            print(f"audit templated: {results['audit_templated']}", file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(markdown(results))


def _ratios(per: dict, inputs: dict) -> None:
    """Cost of each adversarial input relative to ordinary rows: per byte added (blobs) or per row (templated)."""
    base = per.get("ordinary", {})
    if "error" in base:
        return
    ob, orows = inputs["ordinary"]["bytes"], inputs["ordinary"]["rows"]
    for name, r in per.items():
        if name == "ordinary" or "error" in r:
            continue
        if name == "templated":
            unit_adv, unit_ord = inputs[name]["rows"], orows
            r["time_ratio"] = (r["seconds"] / unit_adv) / (base["seconds"] / unit_ord)
            r["mem_ratio"] = (r["extra_mb"] / unit_adv) / (max(base["extra_mb"], 1.0) / unit_ord)
        else:
            added = inputs[name]["bytes"] - ob
            r["time_ratio"] = max(r["seconds"] - base["seconds"], 0.0) / added / (base["seconds"] / ob)
            r["mem_ratio"] = max(r["extra_mb"] - base["extra_mb"], 0.0) / added / (max(base["extra_mb"], 1.0) / ob)


def markdown(results: dict) -> str:
    names = [n for n in INPUTS if n in results["inputs"]]
    adv = [n for n in names if n != "ordinary"]
    lines = ["| check | " + " | ".join(names) + " | worst time ratio | worst memory ratio |",
             "|---|" + "---:|" * (len(names) + 2)]
    for check, per in results["checks"].items():
        cells, tr, mr = [], [], []
        for n in names:
            r = per.get(n, {})
            if "error" in r:
                cells.append(r["error"])
                continue
            cell = f"{r['seconds']:.2f} s / {r['extra_mb']:.0f} MB"
            if "time_ratio" in r:
                cell += f" ({r['time_ratio']:.1f}x)"
                tr.append(r["time_ratio"])
                mr.append(r["mem_ratio"])
            cells.append(cell)
        failed = any("error" in per.get(n, {}) for n in adv)
        worst_t = "fails" if failed else (f"{max(tr):.1f}x" if tr else "")
        worst_m = "fails" if failed else (f"{max(mr):.1f}x" if mr else "")
        lines.append(f"| {check} | " + " | ".join(cells) + f" | {worst_t} | {worst_m} |")
    a = results.get("audit_templated")
    if a:
        lines.append("")
        if "error" in a:
            lines.append(f"Full default audit, {results['templated_rows']:,} templated rows: {a['error']}")
        else:
            lines.append(f"Full default audit, {results['templated_rows']:,} templated rows: {a['seconds']:.1f} s, "
                         f"peak {a['peak_mb']:.0f} MB (target < 1024 MB).")
    lines.append("")
    lines.append("Cells: score time / peak memory over the RSS after reading (median of "
                 f"{results['runs']} run(s)); (ratio): cost per byte added vs ordinary rows' cost per byte "
                 "(templated: per row). Ordinary: " f"{results['inputs']['ordinary']['rows']:,} Tatoeba rows.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
