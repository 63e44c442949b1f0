"""Time to curate the 76k-row Tatoeba file to 500 rows on CPU, and rows/s per stage.

    .venv/bin/python benchmarks/bench_curate.py                 # default recipe (static embeddings + LM)
    .venv/bin/python benchmarks/bench_curate.py --no-lm         # without the LM scores
    .venv/bin/python benchmarks/bench_curate.py --rows 20000 --target 200
    .venv/bin/python benchmarks/bench_curate.py --no-lm --baselines     # + coverage of other selections
    .venv/bin/python benchmarks/bench_curate.py --recall-only            # semantic_duplicate: index vs exact
    .venv/bin/python benchmarks/bench_curate.py --kmeans                 # k-means: faiss vs scikit-learn

``--recall`` / ``--recall-only``: the ``semantic_duplicate`` search over the same Tatoeba rows and over
GPTeacher Toolformer (static embeddings, default parameters), once exact and once through the
approximate index (``exact_max_rows=0``): seconds of each, and how much of the exact search's
result the index finds: duplicate pairs (a row and an earlier row at or above the threshold),
flagged rows, the same partner, and rows whose score is the exact one. Written to
``benchmarks/results/curate_recall.json``.

``--kmeans``: ``off_topic``'s clustering of the same Tatoeba rows (static ``embedding``, 100 clusters fitted
on 20,000 sampled rows, 3 restarts, seeds 0 and 1), once with :func:`finesift.models.embeddings.kmeans`
(faiss at this size) and once with scikit-learn's KMeans as it ran before (k-means++, float64, up to 100
iterations): seconds, mean cosine of a row to its centroid, and ``off_topic``'s flagged rows of each and
in common. Written to ``benchmarks/results/curate_kmeans.json``.

``--baselines``: after the timed run, one audit of the data is reused (``audit_dir``) to curate it
again with the default and other selections, for each seed of ``--baseline-seeds`` (the recipe seed picks the k-means
clusters and the facility-location demand sample): facility location without the cluster
floor (``cover_clusters: false``), quality-only (``method: quality``) with and without it, and
``--random-draws`` random draws of the target size from the same candidate pool. Each reports
how many of the pool's clusters its kept rows cover.

The data: every line of ``../shared/data/tatoeba-fra-eng.tsv`` (headerless ``english<TAB>french``)
as an Alpaca row ``"Translate to French: <en>" -> "<fr>"``, the truncated last line included
(a real defect curate should reject). The file is written as JSONL and curated with
``finesift.curate.curate`` in this process; the summary's seconds per stage give the rates.
Results: a markdown table on stdout and ``benchmarks/results/curate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tatoeba import pairs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "curate.json"
RECALL = Path(__file__).resolve().parent / "results" / "curate_recall.json"
KMEANS = Path(__file__).resolve().parent / "results" / "curate_kmeans.json"


def write_tatoeba(path: Path, rows: int | None) -> int:
    """Tatoeba as Alpaca JSONL (the truncated last line kept); returns the number of rows written."""
    ps = pairs(drop_truncated_last=False)
    if rows is not None and rows < len(ps):
        ps = ps[:rows - 1] + [ps[-1]]  # keep the truncated last line in any cut
    with open(path, "wb") as fh:
        for en, fr in ps:
            fh.write(orjson.dumps({"instruction": f"Translate to French: {en}", "input": "", "output": fr}) + b"\n")
    return len(ps)


def pool_coverage(folder: Path, target: int, draws: int, seed: int) -> dict:
    """Clusters of the candidate pool (rows kept or cut only by the target size) covered by this run's kept
    rows, and by ``draws`` seeded random draws of ``target`` pool rows."""
    import numpy as np
    import pyarrow.parquet as pq

    t = pq.read_table(folder / "audit.parquet", columns=["decision", "reasons", "cluster"])
    kept = np.array([d == "kept" for d in t["decision"].to_pylist()])
    pool = kept | np.array([r == ["not_selected"] for r in t["reasons"].to_pylist()])
    labels = np.asarray(t["cluster"].to_pylist(), dtype=object)
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(pool)
    rand = [len(set(labels[rng.choice(idx, target, replace=False)])) for _ in range(draws)]
    return {"pool": int(pool.sum()), "clusters_in_pool": len(set(labels[pool])), "clusters_kept": len(set(labels[kept])),
            "random_clusters_median": float(np.median(rand)), "random_clusters_range": [min(rand), max(rand)]}


def run_baselines(data: Path, recipe, args, tmp: Path) -> list[dict]:
    """Every variant, the default selection included, from one audit of the data per seed (so they differ
    only by the selection; the seeded checks' scores depend on the seed, and curate refuses an audit scored
    with another one). The audit is a plain ``finesift.audit`` with curate's audit config: reusing curate's own
    output folder instead changes a few decisions (its ``flags`` are curate's regrouped ones)."""
    import finesift
    from finesift.curate import curate

    variants = [("facility_location", True), ("facility_location", False), ("quality", False), ("quality", True)]
    out = []
    for seed in [int(x) for x in args.baseline_seeds.split(",") if x]:
        audit_dir = tmp / f"audit-{seed}"
        finesift.audit(data, recipe.model_copy(update={"seed": seed}).audit_config(), out=audit_dir)
        for method, cover in variants:
            folder = tmp / f"baseline-{seed}-{method}-{cover}"
            rec = recipe.model_copy(update={"seed": seed, "selection": recipe.selection.model_copy(
                update={"method": method, "cover_clusters": cover})})
            curate(data, folder, rec, target=args.target, audit_dir=audit_dir)
            cov = pool_coverage(folder, args.target, args.random_draws, seed)
            out.append({"seed": seed, "method": method, "cover_clusters": cover, **cov})
    return out


def print_baselines(baselines: list[dict], target: int) -> None:
    print(f"| seed | selection of {target} | clusters covered | random {target} (median, range) |")
    print("|---:|---|---:|---:|")
    for b in baselines:
        floor = "with" if b["cover_clusters"] else "without"
        print(f"| {b['seed']} | {b['method']}, {floor} the cluster floor | {b['clusters_kept']} of {b['clusters_in_pool']} | "
              f"{b['random_clusters_median']:.0f} ({b['random_clusters_range'][0]}-{b['random_clusters_range'][1]}) |")


def search_recall(name: str, records: list[dict]) -> dict:
    """``semantic_duplicate``'s search over ``records``, exact and through the index, compared."""
    import numpy as np
    import pyarrow.compute as pc
    from _data import alpaca_table

    import finesift.checks.semantic_duplicate as sd
    from finesift.models.embeddings import embed, row_texts

    table = alpaca_table(records)
    a, b = embed(row_texts(table, "output")), embed(row_texts(table, "prompt"))
    key = pc.binary_join_element_wise(table["prompt"], table["output"], "\x00")
    p = sd.SemanticDuplicateParams()
    runs = {}
    real_add = sd._Groups.add
    for label, limit in (("exact", len(records) + 1), ("index", 0)):
        edges: list = []
        # the pairs each search links (the groups' input): the public result keeps only one partner a row
        sd._Groups.add = lambda self, qi, kj, edges=edges: edges.append((np.asarray(qi), np.asarray(kj))) or \
            real_add(self, qi, kj)
        try:
            t0 = time.perf_counter()
            sim, root = sd.duplicate_groups(a, b, key, threshold=p.threshold, floor=p.floor, exact_max_rows=limit,
                                            probes=p.probes, neighbours=p.neighbours)
            secs = time.perf_counter() - t0
        finally:
            sd._Groups.add = real_add
        pairs_found = {(int(i), int(j)) for qi, kj in edges for i, j in zip(qi, kj)}
        runs[label] = (sim, root, pairs_found, secs)
    sim_e, root_e, pairs_e, sec_e = runs["exact"]
    sim_i, root_i, pairs_i, sec_i = runs["index"]
    flag_e, flag_i = np.nan_to_num(sim_e, nan=-1) >= p.threshold, np.nan_to_num(sim_i, nan=-1) >= p.threshold
    same_score = np.isclose(np.nan_to_num(sim_i, nan=-9), np.nan_to_num(sim_e, nan=-9), atol=1e-6, rtol=0)
    # pairs are among distinct texts: a repeat of an identical earlier row scores 1 without any search
    return {
        "data": name, "rows": len(records), "distinct_rows": len(set(key.to_pylist())),
        "exact_seconds": round(sec_e, 2), "index_seconds": round(sec_i, 2),
        "exact_pairs": len(pairs_e), "index_pairs_found": len(pairs_e & pairs_i),
        "index_pairs_not_in_exact": len(pairs_i - pairs_e),
        "pair_recall": round(len(pairs_e & pairs_i) / max(1, len(pairs_e)), 5),
        "exact_flagged": int(flag_e.sum()), "index_flagged_found": int((flag_e & flag_i).sum()),
        "index_flagged_extra": int((flag_i & ~flag_e).sum()),
        "flag_recall": round(float((flag_e & flag_i).sum() / max(1, flag_e.sum())), 5),
        "same_partner_of_flagged": round(float(np.mean(root_i[flag_e] == root_e[flag_e])) if flag_e.any() else 1.0, 5),
        "rows_with_exact_score": round(float(same_score.mean()), 5),
        "scored_rows_exact": int((~np.isnan(sim_e)).sum()), "scored_rows_index": int((~np.isnan(sim_i)).sum()),
        "index_scores_above_exact": int((np.nan_to_num(sim_i, nan=-9) > np.nan_to_num(sim_e, nan=-9) + 1e-6).sum()),
    }


def run_recall() -> list[dict]:
    from _data import gpteacher

    tatoeba = [{"instruction": f"Translate to French: {en}", "input": "", "output": fr}
               for en, fr in pairs(drop_truncated_last=False)]
    load = round(os.getloadavg()[0], 2)
    out = [search_recall("tatoeba-fra-eng (all rows)", tatoeba), search_recall("gpteacher-toolformer", gpteacher()[0])]
    for r in out:
        r["load_avg_1m_before"] = load
    RECALL.parent.mkdir(parents=True, exist_ok=True)
    RECALL.write_text(json.dumps(out, indent=2))
    print("| data | distinct rows | exact s | index s | pairs found | flagged found (extra) | same partner | "
          "exact scores |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in out:
        print(f"| {r['data']} | {r['distinct_rows']:,} | {r['exact_seconds']:.2f} | {r['index_seconds']:.2f} | "
              f"{r['index_pairs_found']:,}/{r['exact_pairs']:,} ({r['pair_recall']:.2%}) | "
              f"{r['index_flagged_found']:,}/{r['exact_flagged']:,} ({r['index_flagged_extra']}) | "
              f"{r['same_partner_of_flagged']:.2%} | {r['rows_with_exact_score']:.2%} |")
    print()
    return out


def run_kmeans(seeds=(0, 1)) -> list[dict]:
    import numpy as np
    from sklearn.cluster import KMeans

    import finesift.models.embeddings as em
    from finesift.checks.off_topic import OffTopic, task_distance

    texts = [f"Translate to French: {en}\n{fr}" for en, fr in pairs(drop_truncated_last=False)]
    emb = em.embed(texts)
    p = OffTopic().params
    real, real_kmeans = em._faiss_centroids, em.kmeans

    def sklearn_before(fit, k, seed, n_init, max_iter):
        # what kmeans() ran before faiss: k-means++ seeds, float64, up to 100 iterations
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed, max_iter=100).fit(
            fit.astype(np.float64)).cluster_centers_

    load = round(os.getloadavg()[0], 2)
    out = []
    for seed in seeds:
        arms = {}
        for label, fn in (("faiss", real), ("sklearn", sklearn_before)):
            got = []
            em._faiss_centroids = fn
            em.kmeans = lambda *a, got=got, **kw: got.append(real_kmeans(*a, **kw)) or got[-1]
            try:
                t0 = time.perf_counter()
                # off_topic's own scoring of these rows (its k-means call included), with this arm's clustering
                dist, z = task_distance(emb, seed=seed, min_task_share=p.min_task_share,
                                        min_task_rows=p.min_task_rows)
                secs = time.perf_counter() - t0
            finally:
                em._faiss_centroids, em.kmeans = real, real_kmeans
            labels, cents = got[0]
            flagged = set(np.flatnonzero((z >= p.max_z) & (dist >= p.min_distance)).tolist())
            arms[label] = {"seconds": round(secs, 2), "clusters": len(cents),
                           "mean_cosine": round(float((emb * cents[labels]).sum(axis=1).mean()), 5),
                           "off_topic_flagged": len(flagged), "_flagged": flagged}
        common = len(arms["faiss"].pop("_flagged") & arms["sklearn"].pop("_flagged"))
        out.append({"seed": seed, "rows": len(emb), **{f"{a}_{k}": v for a, r in arms.items() for k, v in r.items()},
                    "off_topic_flagged_in_common": common, "load_avg_1m_before": load})
    KMEANS.parent.mkdir(parents=True, exist_ok=True)
    KMEANS.write_text(json.dumps(out, indent=2))
    print("| seed | faiss s | sklearn s | mean cosine faiss / sklearn | off_topic flagged faiss / sklearn (common) |")
    print("|---:|---:|---:|---:|---:|")
    for r in out:
        print(f"| {r['seed']} | {r['faiss_seconds']:.2f} | {r['sklearn_seconds']:.2f} | {r['faiss_mean_cosine']:.4f} / "
              f"{r['sklearn_mean_cosine']:.4f} | {r['faiss_off_topic_flagged']} / {r['sklearn_off_topic_flagged']} "
              f"({r['off_topic_flagged_in_common']}) |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=None, help="Use the first N rows (default: all 76,038).")
    ap.add_argument("--target", type=int, default=500)
    ap.add_argument("--no-lm", action="store_true", help="Recipe with models.lm: false.")
    ap.add_argument("--method", default="facility_location", help="Selection method.")
    ap.add_argument("--seed", type=int, default=None, help="Recipe seed (default: the recipe's).")
    ap.add_argument("--threads", type=int, default=None, help="Audit checks scored at once (default: curate's, 1).")
    ap.add_argument("--keep", type=Path, default=None, help="Keep the output folder here.")
    ap.add_argument("--baselines", action="store_true", help="Also curate with other selections (audit reused).")
    ap.add_argument("--baseline-seeds", default="0,1")
    ap.add_argument("--random-draws", type=int, default=20)
    ap.add_argument("--recall", action="store_true", help="Also compare semantic_duplicate's index with exact search.")
    ap.add_argument("--recall-only", action="store_true", help="Only that comparison (no curate run).")
    ap.add_argument("--kmeans", action="store_true", help="Only compare k-means with faiss and scikit-learn.")
    args = ap.parse_args()
    if args.kmeans:
        run_kmeans()
        return
    if args.recall or args.recall_only:
        run_recall()
        if args.recall_only:
            return

    from finesift import __version__
    from finesift.curate import curate
    from finesift.curate.recipe import Recipe

    recipe = Recipe()
    recipe = recipe.model_copy(update={
        "models": recipe.models.model_copy(update={"lm": not args.no_lm}),
        "selection": recipe.selection.model_copy(update={"method": args.method}),
        **({"seed": args.seed} if args.seed is not None else {}),
    })
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "tatoeba.jsonl"
        n = write_tatoeba(data, args.rows)
        out = args.keep or Path(tmp) / "out"
        t0 = time.perf_counter()
        result = curate(data, out, recipe, target=args.target, threads=args.threads)
        total = time.perf_counter() - t0
        baselines = run_baselines(data, recipe, args, Path(tmp)) if args.baselines else None
    s = result.summary
    sec = s["seconds"]
    audit_checks = s["audit"].get("seconds", {}).get("checks", {})
    pool = s["counts"]["pool"]
    stages = []
    for name in ("read", "audit", "quality", "grouping", "embeddings", "clusters", "selection", "diversity", "write"):
        if name in sec:
            rows = pool if name == "selection" else n
            stages.append({"stage": name, "seconds": sec[name], "rows": rows,
                           "rows_per_s": round(rows / sec[name], 1) if sec[name] > 0 else None})
    record = {
        "finesift": __version__,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "load_avg_1m_before": load_before,
                    "load_avg_1m_after": round(os.getloadavg()[0], 2)},
        "device": "cpu",
        "rows": n,
        "target": args.target,
        "lm": not args.no_lm,
        "method": args.method,
        "threads": args.threads or 1,
        "total_seconds": round(total, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "stages": stages,
        "audit_checks_seconds": audit_checks,
        "counts": s["counts"],
        "selection": s["selection"],
        "coverage": {k: v for k, v in s["coverage"].items() if k != "clusters"},
        "diversity": s["diversity"],
        "quality": s["quality"],
    }
    if baselines is not None:
        record["baselines"] = baselines
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    if RESULTS.exists():
        try:
            runs = [r for r in json.loads(RESULTS.read_text()) if (r.get("rows"), r.get("lm"), r.get("method"))
                    != (n, record["lm"], args.method)]
        except (ValueError, AttributeError):
            runs = []
    RESULTS.write_text(json.dumps(runs + [record], indent=2))
    if baselines is not None:
        print_baselines(baselines, args.target)
        print()

    print(f"Curate {n:,} Tatoeba rows to {args.target} on CPU ({os.cpu_count()} cores, "
          f"LM {'on' if record['lm'] else 'off'}, {args.method}): **{total:.1f} s** total, "
          f"peak RSS {record['peak_rss_mb']} MB\n")
    print("| stage | seconds | rows | rows/s |")
    print("|---|---:|---:|---:|")
    for st in stages:
        rate = f"{st['rows_per_s']:,.0f}" if st["rows_per_s"] else "-"
        print(f"| {st['stage']} | {st['seconds']:.2f} | {st['rows']:,} | {rate} |")
    if audit_checks:
        print("\n| audit check | seconds |")
        print("|---|---:|")
        for name, secs in audit_checks.items():
            print(f"| {name} | {secs:.2f} |")
    c = s["counts"]
    print(f"\nkept {c['kept']}, rejected {c['rejected']} ({c['filtered']} by filters, {c['not_selected']} not selected); "
          f"clusters kept {s['coverage']['clusters_kept']}/{s['coverage']['clusters_in_pool']}")


if __name__ == "__main__":
    main()
