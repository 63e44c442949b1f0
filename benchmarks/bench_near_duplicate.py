"""near_duplicate: our MinHash-LSH stage vs a datasketch baseline (and rensa's own LSH), side by side.

    .venv/bin/python benchmarks/bench_near_duplicate.py --rows 100000 --repeats 3

Every run is the whole ``near_duplicate`` stage (text normalization, word 2-gram shingles,
MinHash-LSH, exact Jaccard verification of the candidates, grouping) with the same
parameters; only the index behind ``NearDuplicate.index`` differs (same contract: ``docs``,
``pairs(max_candidates)``, ``estimate(a, b)``):

* finesift: rensa ``RMinHash`` signatures; rensa's one-shot band check keeps the texts that
  have any candidate; their candidate pairs are enumerated with numpy sorts on the signatures,
  MinHash estimates are numpy row comparisons.
* rensa: ``RMinHash`` + ``RMinHashLSH`` (``insert_many``, ``query_all`` per batch of texts,
  ``RMinHash.jaccard`` per candidate pair): what the stage did before.
* datasketch: ``MinHash.bulk`` + ``MinHashLSH`` (insertion session, one ``query`` per text),
  estimates from its signatures stacked and compared with numpy (its fastest route).

All use the same permutation count, the same bands and rows, the same seed, the same shingle
tokens; candidates are verified the same way, so the agreement numbers differ only by LSH
randomness (finesift and rensa have the very same candidates and flags).

Data: GPTeacher Toolformer (7,673 rows); its authors' similarity-0.8 file is a third party's
near-duplicate decisions (a row is "removed" when its (instruction, input, output) is in the
deduplicated file but not in the similarity-0.8 one): precision/recall/F1 of each run against
them. Then ``--rows`` Tatoeba-derived rows (four prompt templates x 76k pairs, repeated) for speed,
and ``--templated-rows`` rows of one template (``bench_adversarial.templated_rows``: one huge cluster
of near-identical answers), where an ``RMinHashLSH`` query returns the whole cluster (quadratic)
while the numpy banding takes a few candidates per text.
Each timing is the median of ``--repeats`` runs, the implementations alternating in one process.

Credit: the speed-up over datasketch is rensa's (Rust ``RMinHash`` signatures and LSH); the whole
stage ratio is printed next to the MinHash-LSH part's, and on ordinary data finesift's banding times
about what ``RMinHashLSH`` does. It is kept because it bounds the candidates per text.

Two tables: the whole stage (what a user waits for; normalization, shingling, exact
verification and grouping are shared and identical), and the MinHash-LSH part alone
(signatures, index, every candidate pair, and the MinHash estimate of each candidate pair)
on the same shingle sets of every distinct answer, where datasketch is also run the way its
documentation shows (one ``update`` per token).
Writes a markdown table to stdout and ``benchmarks/results/near_duplicate.json``.
"""

from __future__ import annotations

import argparse
import itertools
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
from bench_adversarial import templated_rows  # noqa: E402
from _tatoeba import scaled_rows  # noqa: E402

from finesift.engine.local import score_table  # noqa: E402
from finesift.checks.near_duplicate import NearDuplicate, auto_bands, lsh_index, shingle_sets  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "near_duplicate.json"


def _token_sets(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, list[list[bytes]]]:
    """The non-empty sets and their shingles as 8-byte tokens (what the third-party libraries take)."""
    docs = np.flatnonzero(np.diff(offsets) > 0)
    toks = values.view("S8").tolist()  # one C-level conversion, no per-shingle strings
    return docs, [toks[offsets[d]:offsets[d + 1]] for d in docs.tolist()]


def _key_batches(found: list[list[int]], start: int):
    """Candidate lists of keys start, start+1, ... as (a, b) arrays, a < b (each pair once, no self-matches)."""
    lens = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
    a = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64, count=int(lens.sum()))
    b = np.repeat(np.arange(start, start + len(found), dtype=np.int64), lens)
    keep = a < b
    return a[keep], b[keep]


class DatasketchIndex:
    """Same contract as :func:`finesift.checks.near_duplicate.lsh_index`, built with datasketch:
    ``MinHash.bulk`` (vectorized per document; or one ``update`` per shingle, the usage its
    documentation shows) into a ``MinHashLSH`` with the same bands and rows, queried once per
    set. Estimates come from its signatures' hash values, stacked and compared with numpy (its
    fastest route; ``MinHash.jaccard`` per pair is ~10x slower)."""

    def __init__(self, values, offsets, num_perm, num_bands, threshold, seed, per_token=False):
        from datasketch import MinHash, MinHashLSH

        self.docs, sets = _token_sets(values, offsets)  # the very same 8-byte shingle tokens
        if per_token:
            sigs = []
            for tokens in sets:
                m = MinHash(num_perm=num_perm, seed=seed)
                for tok in tokens:
                    m.update(tok)
                sigs.append(m)
        else:
            sigs = MinHash.bulk(sets, num_perm=num_perm, seed=seed)
        self.sigs = sigs
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=(num_bands, num_perm // num_bands))
        with self.lsh.insertion_session() as session:
            for key, sig in enumerate(sigs):
                session.insert(key, sig, check_duplication=False)
        self._hv = None

    def pairs(self, max_candidates, batch=2048):
        for start in range(0, len(self.sigs), batch):
            yield _key_batches([self.lsh.query(sig) for sig in self.sigs[start:start + batch]], start)

    def estimate(self, ka, kb, chunk=1 << 14):
        if self._hv is None:
            self._hv = np.stack([m.hashvalues for m in self.sigs]) if self.sigs else np.zeros((0, 1))
        out = np.empty(len(ka))
        for lo in range(0, len(ka), chunk):
            out[lo:lo + chunk] = (self._hv[ka[lo:lo + chunk]] == self._hv[kb[lo:lo + chunk]]).mean(axis=1)
        return out


class RensaIndex:
    """The same contract with rensa ``RMinHash.from_token_sets`` + ``RMinHashLSH`` (``query_all`` per
    batch of sets, ``RMinHash.jaccard`` per candidate pair): what the stage used before its own
    numpy MinHash-LSH."""

    def __init__(self, values, offsets, num_perm, num_bands, threshold, seed):
        from rensa import RMinHash, RMinHashLSH

        self.docs, sets = _token_sets(values, offsets)
        self.sigs = RMinHash.from_token_sets(sets, num_perm, seed)
        self.lsh = RMinHashLSH(threshold, num_perm, num_bands)
        self.lsh.insert_many(self.sigs)

    def pairs(self, max_candidates, batch=2048):
        for start in range(0, len(self.sigs), batch):
            yield _key_batches(self.lsh.query_all(self.sigs[start:start + batch]), start)

    def estimate(self, ka, kb):
        sigs = self.sigs
        return np.fromiter((sigs[x].jaccard(sigs[y]) for x, y in zip(ka.tolist(), kb.tolist())),
                           dtype=np.float64, count=len(ka))


def datasketch_index(values, offsets, num_perm, num_bands, threshold, seed, per_token=False):
    return DatasketchIndex(values, offsets, num_perm, num_bands, threshold, seed, per_token)


def rensa_index(values, offsets, num_perm, num_bands, threshold, seed):
    return RensaIndex(values, offsets, num_perm, num_bands, threshold, seed)


IMPLS = {
    "finesift (rensa RMinHash, numpy banding)": lsh_index,
    "rensa RMinHash + RMinHashLSH": rensa_index,
    "datasketch MinHash.bulk + MinHashLSH": datasketch_index,
    "datasketch MinHash.update per token + MinHashLSH": lambda *a: datasketch_index(*a, per_token=True),
}
OURS = "finesift (rensa RMinHash, numpy banding)"


def core_times(table, params: dict, repeats: int) -> dict:
    """Signatures + LSH index + all candidate pairs + their MinHash estimates, on the same shingle
    sets, per implementation."""
    from finesift.checks.base import normalize_text

    texts = pc_unique(normalize_text(table["output"]))
    values, offsets = shingle_sets(texts, params["shingle_size"])
    bands = params["num_bands"] or auto_bands(params["num_perm"], params["threshold"])
    out = {"texts": len(texts), "shingles": int(len(values)), "bands": bands, "runs": {}}
    for label, build in IMPLS.items():
        times, pairs = [], 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            index = build(values, offsets, params["num_perm"], bands, params["threshold"], 0)
            pairs = 0
            for a, b in index.pairs(1 << 40):
                index.estimate(a, b)
                pairs += len(a)
            times.append(time.perf_counter() - t0)
        out["runs"][label] = {"median_s": round(statistics.median(times), 4), "candidate_pairs": pairs}
    base = out["runs"][OURS]["median_s"]
    for run in out["runs"].values():
        run["x_ours"] = round(run["median_s"] / base, 1)
    return out


def pc_unique(arr) -> list[str]:
    import pyarrow.compute as pc

    return pc.unique(arr)


class DatasketchNearDuplicate(NearDuplicate):
    index = staticmethod(datasketch_index)


class RensaNearDuplicate(NearDuplicate):
    index = staticmethod(rensa_index)


STAGES = (("finesift", NearDuplicate), ("rensa", RensaNearDuplicate), ("datasketch", DatasketchNearDuplicate))


def _run(cls, table, params):
    check = cls(params)
    t0 = time.perf_counter()
    scores = score_table(check, table)  # normalization (the features) is timed too
    return time.perf_counter() - t0, check.decide(scores)


def compare(name: str, table, repeats: int, params: dict, gold: list[bool] | None) -> dict:
    times = {label: [] for label, _ in STAGES}
    flags = {}
    for _ in range(repeats):
        for label, cls in STAGES:
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
    theirs = out["runs"]["datasketch"]["median_s"]
    for label, run in out["runs"].items():
        run["speedup_vs_datasketch"] = round(theirs / run["median_s"], 1) if run["median_s"] else None
    out["speedup"] = out["runs"]["finesift"]["speedup_vs_datasketch"]
    out["same_flags"] = float(np.mean(flags["finesift"] == flags["datasketch"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="Tatoeba-derived rows for the speed run (0 = skip)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--templated-rows", type=int, default=2000,
                    help="rows of one template (0 = skip); RMinHashLSH costs the square of this")
    ap.add_argument("--params", type=json.loads, default={}, help='near_duplicate params as JSON, e.g. \'{"threshold": 0.6}\'')
    args = ap.parse_args()
    params = NearDuplicate.Params(**args.params).model_dump()
    # warm-up outside the timings (imports, Unicode tables)
    for _, cls in STAGES:
        _run(cls, alpaca_table([{"instruction": "a b", "output": "c d e f g h i j"}] * 2), params)

    results, cores = [], []
    rows, removed = gpteacher()
    datasets = [("GPTeacher Toolformer", alpaca_table(rows), removed)]
    if args.rows:
        datasets.append((f"Tatoeba-derived ({args.rows:,} rows)", alpaca_table(scaled_rows(args.rows)), None))
    if args.templated_rows:
        datasets.append((f"templated ({args.templated_rows:,} rows)", alpaca_table(templated_rows(args.templated_rows)),
                         None))
    for name, table, gold in datasets:
        results.append(compare(name, table, args.repeats, params, gold))
        cores.append({"data": name, "rows": table.num_rows, **core_times(table, params, args.repeats)})

    print(f"\nnear_duplicate, params {json.dumps({k: params[k] for k in ('fields', 'shingle_size', 'threshold', 'num_perm', 'prompt_threshold', 'min_shingles', 'grouping')})}\n")
    print("| data | rows | whole stage with | median s | speed-up | flagged | precision | recall | F1 |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for label, run in r["runs"].items():
            speed = f"{run['speedup_vs_datasketch']}x"
            print(f"| {r['data']} | {r['rows']:,} | {label} | {run['median_s']:.3f} | {speed} | {run['flagged']:,} | "
                  f"{run.get('precision', '-')} | {run.get('recall', '-')} | {run.get('f1', '-')} |")
    print("\nMinHash-LSH part only (signatures, index, every candidate pair and its MinHash estimate; same shingle "
          "sets):\n")
    print("| data | distinct texts | implementation | median s | x finesift | candidate pairs |")
    print("|---|---:|---|---:|---:|---:|")
    for c in cores:
        for label, run in c["runs"].items():
            print(f"| {c['data']} | {c['texts']:,} | {label} | {run['median_s']:.3f} | {run['x_ours']}x | "
                  f"{run['candidate_pairs']:,} |")
    credit = credit_lines(results, cores)
    print("\n" + "\n".join(credit))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "params": params, "stage": results, "core": cores, "credit": credit,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
    }, indent=2))
    print(f"\nwrote {RESULTS}")


def credit_lines(results: list[dict], cores: list[dict]) -> list[str]:
    """Who the speed belongs to: the whole stage vs datasketch, and the MinHash-LSH part by library."""
    out = []
    for r, c in zip(results, cores):
        st, core = r["runs"], c["runs"]
        ours, rensa = core[OURS]["median_s"], core["rensa RMinHash + RMinHashLSH"]["median_s"]
        ds = core["datasketch MinHash.bulk + MinHashLSH"]["median_s"]
        f1 = (f"; F1 vs the third party: finesift {st['finesift']['f1']}, datasketch {st['datasketch']['f1']}"
              if "f1" in st["finesift"] else "")
        out.append(
            f"- {r['data']}: whole stage (normalize, shingle, MinHash-LSH, verify, group) "
            f"{st['finesift']['median_s']:.3f} s vs datasketch {st['datasketch']['median_s']:.3f} s = "
            f"{st['finesift']['speedup_vs_datasketch']}x{f1}. MinHash-LSH part: datasketch {ds:.3f} s, rensa's "
            f"RMinHash + RMinHashLSH {rensa:.3f} s ({ds / rensa if rensa else float('nan'):.1f}x: rensa's speed-up), "
            f"finesift's numpy banding on rensa's signatures {ours:.3f} s (RMinHashLSH time / this = "
            f"{rensa / ours if ours else float('nan'):.2f}).")
    return out


if __name__ == "__main__":
    main()
