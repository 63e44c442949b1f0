"""near_duplicate: our rensa MinHash-LSH stage vs a datasketch baseline, side by side.

    .venv/bin/python benchmarks/bench_near_duplicate.py --rows 100000 --repeats 3

Both run the whole ``near_duplicate`` stage (text normalization, word 2-gram shingles,
MinHash-LSH, exact Jaccard verification of every candidate, grouping) with the same
parameters: only the MinHash signatures and the LSH index differ (rensa ``RMinHash`` +
``RMinHashLSH`` vs datasketch ``MinHash`` + ``MinHashLSH`` with the same permutations count,
the same bands and rows, the same seed, fed the same shingle tokens). Candidates are verified
the same way, so the agreement numbers differ only by LSH randomness.

Data: GPTeacher Toolformer (7,673 rows); its authors' similarity-0.8 file is a third party's
near-duplicate decisions (a row is "removed" when its (instruction, input, output) is in the
deduplicated file but not in the similarity-0.8 one): precision/recall/F1 of each run against
them. Then ``--rows`` Tatoeba-derived rows (four prompt templates x 76k pairs, repeated) for speed.
Each timing is the median of ``--repeats`` runs, both libraries alternating in one process.

Two tables: the whole stage (what a user waits for; normalization, shingling and exact
verification are shared and identical), and the MinHash-LSH core alone (signatures, index,
all candidate pairs) on the same shingle sets, where datasketch is also run the way its
documentation shows (one ``update`` per token).
Writes a markdown table to stdout and ``benchmarks/results/near_duplicate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import alpaca_table, gpteacher, prf  # noqa: E402
from _tatoeba import scaled_rows  # noqa: E402

from finesift.checks.base import Context  # noqa: E402
from finesift.checks.near_duplicate import NearDuplicate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "near_duplicate.json"


class _DatasketchLSH:
    """datasketch MinHashLSH behind the two calls the stage makes (insert all, query many)."""

    def __init__(self, threshold: float, num_perm: int, num_bands: int):
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=(num_bands, num_perm // num_bands))

    def insert_all(self, sigs: list) -> None:
        with self.lsh.insertion_session() as session:
            for key, sig in enumerate(sigs):
                session.insert(key, sig, check_duplication=False)

    def query_all(self, sigs: list) -> list[list[int]]:
        return [self.lsh.query(sig) for sig in sigs]


def datasketch_index(values: np.ndarray, offsets: np.ndarray, num_perm: int, num_bands: int, threshold: float,
                     seed: int, per_token: bool = False):
    """Same contract as :func:`finesift.checks.near_duplicate.lsh_index`, built with datasketch.

    ``MinHash.bulk`` (vectorized per document) by default; ``per_token``: one ``update`` call
    per shingle, the usage datasketch's documentation shows.
    """
    from datasketch import MinHash

    docs = np.flatnonzero(np.diff(offsets) > 0)
    toks = values.view("S8").tolist()  # the very same 8-byte shingle tokens rensa gets
    sets = [toks[offsets[d]:offsets[d + 1]] for d in docs.tolist()]
    if per_token:
        sigs = []
        for tokens in sets:
            m = MinHash(num_perm=num_perm, seed=seed)
            for tok in tokens:
                m.update(tok)
            sigs.append(m)
    else:
        sigs = MinHash.bulk(sets, num_perm=num_perm, seed=seed)
    lsh = _DatasketchLSH(threshold, num_perm, num_bands)
    lsh.insert_all(sigs)
    return docs, sigs, lsh


def core_times(table, params: dict, repeats: int) -> dict:
    """Signatures + LSH index + all candidate pairs, on the same shingle sets, per implementation."""
    from finesift.checks.base import normalize_text
    from finesift.checks.near_duplicate import auto_bands, lsh_index, query_batches, shingle_sets

    texts = pc_unique(normalize_text(table["output"]))
    values, offsets = shingle_sets(texts, params["shingle_size"])
    bands = params["num_bands"] or auto_bands(params["num_perm"], params["threshold"])
    impls = {
        "rensa RMinHash + RMinHashLSH": lsh_index,
        "datasketch MinHash.bulk + MinHashLSH": datasketch_index,
        "datasketch MinHash.update per token + MinHashLSH": lambda *a: datasketch_index(*a, per_token=True),
    }
    out = {"texts": len(texts), "shingles": int(len(values)), "bands": bands, "runs": {}}
    for label, build in impls.items():
        times, pairs = [], 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            docs, sigs, lsh = build(values, offsets, params["num_perm"], bands, params["threshold"], 0)
            pairs = sum(len(a) for a, _ in query_batches(docs, sigs, lsh))
            times.append(time.perf_counter() - t0)
        out["runs"][label] = {"median_s": round(statistics.median(times), 4), "candidate_pairs": pairs}
    base = out["runs"]["rensa RMinHash + RMinHashLSH"]["median_s"]
    for run in out["runs"].values():
        run["slower_than_rensa"] = round(run["median_s"] / base, 1)
    return out


def pc_unique(arr) -> list[str]:
    import pyarrow.compute as pc

    return pc.unique(arr).to_pylist()


class DatasketchNearDuplicate(NearDuplicate):
    index = staticmethod(datasketch_index)


def _run(cls, table, params):
    check = cls(params)
    t0 = time.perf_counter()
    scores = check.score(table, Context())  # fresh context: normalization is timed too
    return time.perf_counter() - t0, check.decide(scores)


def compare(name: str, table, repeats: int, params: dict, gold: list[bool] | None) -> dict:
    times = {"finesift (rensa)": [], "datasketch": []}
    flags = {}
    for _ in range(repeats):
        for label, cls in (("finesift (rensa)", NearDuplicate), ("datasketch", DatasketchNearDuplicate)):
            seconds, flagged = _run(cls, table, params)
            times[label].append(seconds)
            flags[label] = flagged
    out = {"data": name, "rows": table.num_rows, "repeats": repeats, "runs": {}}
    for label in times:
        run = {"median_s": round(statistics.median(times[label]), 4), "all_s": [round(t, 4) for t in times[label]],
               "flagged": int(flags[label].sum())}
        if gold is not None:
            run.update(prf(flags[label].tolist(), gold))
        out["runs"][label] = run
    ours, theirs = out["runs"]["finesift (rensa)"]["median_s"], out["runs"]["datasketch"]["median_s"]
    out["speedup"] = round(theirs / ours, 1) if ours else None
    out["same_flags"] = float(np.mean(flags["finesift (rensa)"] == flags["datasketch"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="Tatoeba-derived rows for the speed run (0 = skip)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--params", type=json.loads, default={}, help='near_duplicate params as JSON, e.g. \'{"threshold": 0.6}\'')
    args = ap.parse_args()
    params = NearDuplicate.Params(**args.params).model_dump()
    # warm-up outside the timings (imports, Unicode tables)
    _run(NearDuplicate, alpaca_table([{"instruction": "a b", "output": "c d e"}] * 2), params)
    _run(DatasketchNearDuplicate, alpaca_table([{"instruction": "a b", "output": "c d e"}] * 2), params)

    results, cores = [], []
    rows, removed = gpteacher()
    datasets = [("GPTeacher Toolformer", alpaca_table(rows), removed)]
    if args.rows:
        datasets.append((f"Tatoeba-derived ({args.rows:,} rows)", alpaca_table(scaled_rows(args.rows)), None))
    for name, table, gold in datasets:
        results.append(compare(name, table, args.repeats, params, gold))
        cores.append({"data": name, "rows": table.num_rows, **core_times(table, params, args.repeats)})

    print(f"\nnear_duplicate, params {json.dumps({k: params[k] for k in ('fields', 'shingle_size', 'threshold', 'num_perm', 'prompt_threshold', 'min_shingles', 'grouping')})}\n")
    print("| data | rows | whole stage with | median s | speed-up | flagged | precision | recall | F1 |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for label, run in r["runs"].items():
            speed = f"{r['speedup']}x" if label.startswith("finesift") else "1x"
            print(f"| {r['data']} | {r['rows']:,} | {label} | {run['median_s']:.3f} | {speed} | {run['flagged']:,} | "
                  f"{run.get('precision', '-')} | {run.get('recall', '-')} | {run.get('f1', '-')} |")
    print("\nMinHash-LSH core only (signatures, index, every candidate pair; same shingle sets):\n")
    print("| data | distinct texts | implementation | median s | x rensa | candidate pairs |")
    print("|---|---:|---|---:|---:|---:|")
    for c in cores:
        for label, run in c["runs"].items():
            print(f"| {c['data']} | {c['texts']:,} | {label} | {run['median_s']:.3f} | {run['slower_than_rensa']}x | "
                  f"{run['candidate_pairs']:,} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "params": params, "stage": results, "core": cores,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
    }, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
