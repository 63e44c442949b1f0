"""Rows/s of the model-based stages: embeddings, LM scoring, semantic-duplicate search, off-topic.

Data: ``../shared/data/tatoeba-fra-eng.tsv`` turned into "Translate to French: <en>" -> "<fr>"
rows (the file's truncated last line is dropped). Each figure is the median of ``--reps`` runs
after one warm-up call (model loading and the one-time model2vec distillation are not timed).

    python benchmarks/bench_models.py                 # CPU defaults: about 5 minutes on 2 cores
    python benchmarks/bench_models.py --device cuda   # GPU: sentence embeddings and LM on the GPU

Prints a markdown table and writes ``benchmarks/results/models.json``. The static (model2vec)
embeddings and the neighbour search run on the CPU whatever ``--device`` says.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tatoeba-fra-eng.tsv"


def tatoeba_rows(n: int | None = None, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` rows sampled without replacement (all rows, in file order, when n is None)."""
    lines = DATA.read_text(encoding="utf-8").splitlines()[:-1]  # the last line is cut mid-sentence
    pairs = [tuple(line.split("\t")[:2]) for line in lines]
    if n is not None and n < len(pairs):
        idx = np.sort(np.random.default_rng(seed).choice(len(pairs), n, replace=False))
        pairs = [pairs[i] for i in idx]
    return [(f"Translate to French: {en}", fr) for en, fr in pairs]


def scaled_rows(n: int) -> list[tuple[str, str]]:
    """``n`` rows sampled from the file; beyond its 76k rows, all of them plus re-worded prompts ("Translate into
    French: ...") with the same answers, i.e. real semantic duplicates."""
    base = tatoeba_rows()
    if n <= len(base):  # a random sample: the file is sorted by length
        return tatoeba_rows(n, seed=2)
    out = list(base)
    i = 0
    while len(out) < n:
        p, o = base[i % len(base)]
        out.append((p.replace("Translate to French:", "Translate into French:", 1), o))
        i += 1
    return out


def timed(fn, reps: int) -> tuple[float, object]:
    """Median seconds of ``reps`` calls (after the caller's warm-up) and the last result."""
    times, result = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def table_of(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"row": pa.array(range(len(rows)), pa.int64()), "prompt": [p for p, _ in rows],
                     "output": [o for _, o in rows]})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--embed-rows", type=int, default=2000)
    ap.add_argument("--lm-rows", type=int, default=None, help="default: 64 on CPU, 2000 on GPU")
    ap.add_argument("--lm-batch", type=int, default=16)
    ap.add_argument("--search-sizes", default="10000,100000")
    ap.add_argument("--reps", type=int, default=3, help="repetitions for the fast stages (slow ones run once)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "models.json"))
    args = ap.parse_args(argv)

    import torch

    import pyarrow.compute as pc

    from finesift.checks.off_topic import OffTopicParams, task_distance
    from finesift.checks.semantic_duplicate import duplicate_groups
    from finesift.models.embeddings import embed, row_texts
    from finesift.models.lm_scores import LMScorer
    from finesift.models.loading import pick_device

    device = args.device or pick_device()
    gpu = device.startswith("cuda")
    results: list[dict] = []

    def record(stage: str, rows: int, seconds: float, reps: int, **extra) -> None:
        item = {"stage": stage, "rows": rows, "seconds": round(seconds, 3),
                "rows_per_s": round(rows / seconds, 1) if seconds > 0 else None, "reps": reps, **extra}
        results.append(item)
        print(f"  {stage:<45} {rows:>7} rows {seconds:8.2f} s {item['rows_per_s']:>10} rows/s", flush=True)

    rows = tatoeba_rows(args.embed_rows)
    texts = row_texts(table_of(rows))
    print(f"device {device}; torch threads {torch.get_num_threads()}; {os.cpu_count()} CPUs", flush=True)

    # --- embeddings -------------------------------------------------------------------------------
    embed(texts[:8], backend="static")  # warm-up: loads (or distils, the first time) the static model
    sec, _ = timed(lambda: embed(texts, backend="static"), args.reps)
    record("embeddings: static model2vec (cpu)", len(texts), sec, args.reps)
    embed(texts[:8], backend="sentence", device=device)
    sec, _ = timed(lambda: embed(texts, backend="sentence", device=device), args.reps)
    record(f"embeddings: MiniLM sentence-transformers ({device})", len(texts), sec, args.reps)

    # --- LM scoring -------------------------------------------------------------------------------
    lm_rows = args.lm_rows or (2000 if gpu else 64)
    lm_pairs = tatoeba_rows(lm_rows, seed=1)
    scorer = LMScorer(device=device, batch_size=args.lm_batch)
    scorer.score([p for p, _ in lm_pairs[:2]], [o for _, o in lm_pairs[:2]])
    lm_reps = args.reps if gpu else 1
    sec, out = timed(lambda: scorer.score([p for p, _ in lm_pairs], [o for _, o in lm_pairs]), lm_reps)
    record(f"LM scores: SmolLM2-135M, batch {args.lm_batch} ({device}, "
           f"{'bf16' if gpu else 'fp32'})", lm_rows, sec, lm_reps,
           median_ifd=round(float(np.nanmedian(out["ifd"])), 4),
           ifd_above_1=int(np.sum(out["ifd"] > 1)))

    # --- semantic duplicates and off-topic, on static embeddings ----------------------------------
    for n in [int(x) for x in args.search_sizes.split(",") if x]:
        big = table_of(scaled_rows(n))
        t0 = time.perf_counter()
        out_emb = embed(row_texts(big, "output"), backend="static")
        prompt_emb = embed(row_texts(big, "prompt"), backend="static")
        record("embeddings: static, prompt + answer (cpu)", n, time.perf_counter() - t0, 1)
        reps = args.reps if n <= 20_000 else 1
        key = pc.binary_join_element_wise(big["prompt"], big["output"], "\x00")
        sec, res = timed(lambda: duplicate_groups(out_emb, prompt_emb, key, threshold=0.95, floor=0.8,
                                                  exact_max_rows=n + 1), reps)
        flagged = int(np.sum(np.nan_to_num(res[0], nan=-1) >= 0.95))
        record("semantic_duplicate search, exact (cpu)", n, sec, reps, flagged=flagged)
        if n >= 50_000:
            sec, res2 = timed(lambda: duplicate_groups(out_emb, prompt_emb, key, threshold=0.95, floor=0.8,
                                                       exact_max_rows=0), 1)
            got = np.nan_to_num(res2[0], nan=-1) >= 0.95
            want = np.nan_to_num(res[0], nan=-1) >= 0.95
            recall = float((got & want).sum() / max(1, want.sum()))
            record("semantic_duplicate search, approximate (cpu)", n, sec, 1, flagged=int(got.sum()),
                   recall_vs_exact=round(recall, 4))
        if n <= 20_000:
            text_emb = embed(row_texts(big), backend="static")
            sec, (dist, z) = timed(lambda: task_distance(text_emb, seed=0), reps)
            flagged = int(np.sum((z >= OffTopicParams().max_z) & (dist >= OffTopicParams().min_distance)))
            record("off_topic: clustering + distances (cpu)", n, sec, reps, flagged=flagged)

    print()
    print("| stage | rows | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['stage']} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,} |")
    payload = {
        "benchmark": "models",
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if gpu else None,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "results": results,
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    tmp.replace(out_path)
    print(f"\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
