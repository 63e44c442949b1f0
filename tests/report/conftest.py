"""Report fixtures: real audit and curate folders of tiny datasets, hand-written audit and compare folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

#: text that would run script if the report ever put dataset text into the page as markup
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
#: the checks of the audit fixtures: fast ones only (no language model, dictionaries or tokenizer)
CHECKS = ["exact_duplicate", "near_duplicate", "conflict", "empty_output", "placeholder_output", "truncated_output",
          "echo_output", "format_outlier", "missing_context", "pii"]

SENTENCES = [("Good morning.", "Bonjour."), ("Thank you very much.", "Merci beaucoup."),
             ("Where is the station?", "Où est la gare ?"), ("I like green tea.", "J'aime le thé vert."),
             ("The cat sleeps on the sofa.", "Le chat dort sur le canapé."),
             ("We are going to the beach tomorrow.", "Nous allons à la plage demain."),
             ("My brother plays the guitar.", "Mon frère joue de la guitare."),
             ("It is very cold this winter.", "Il fait très froid cet hiver."),
             ("The museum opens at ten.", "Le musée ouvre à dix heures."),
             ("Can you help me, please?", "Pouvez-vous m'aider, s'il vous plaît ?"),
             ("The train is late again.", "Le train est encore en retard."),
             ("She reads a book every week.", "Elle lit un livre chaque semaine.")]


def rows() -> list[dict]:
    """Clean translations plus one of each problem; two rows carry hostile markup."""
    out = [{"instruction": f"Translate to French: {en}", "input": "", "output": fr} for en, fr in SENTENCES]
    out.append(dict(out[0]))  # exact duplicate of row 0
    out.append({"instruction": "Translate to French: Thank you very much.", "input": "", "output": "Merci"})
    out.append({"instruction": f"Translate to French: {SCRIPT}", "input": "", "output": ""})  # empty answer
    hostile = {"instruction": "Translate to French: write to me", "input": "",
               "output": f"Écrivez-moi à jane.doe@example.com {IMG}"}
    out.append(hostile)  # pii
    out.append(dict(hostile))  # exact duplicate of the hostile row: shown side by side with its partner
    return out


@pytest.fixture
def audit_dir(tmp_path, write_jsonl) -> Path:
    import finesift

    path = write_jsonl(rows(), name="train.jsonl")
    finesift.audit(path, out=tmp_path / "audit", checks=CHECKS)
    return tmp_path / "audit"


@pytest.fixture
def curate_dir(tmp_path, write_jsonl) -> Path:
    from finesift.api import curate

    path = write_jsonl(rows(), name="train.jsonl")
    curate(path, tmp_path / "curate", {"checks": CHECKS}, no_models=True, target=8)
    return tmp_path / "curate"


def write_synthetic_audit(folder: Path, n: int, *, seed: int = 0, extra: dict | None = None) -> Path:
    """A hand-written audit folder of ``n`` rows: scores, flags, partners, 2-D map, clusters, stale terms."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    conflict = rng.random(n).astype(np.float32)
    dup_of = np.where(rng.random(n) < 0.1, rng.integers(0, max(n // 10, 1), n), -1)
    dup_of[: max(n // 10, 1)] = -1
    flags = [(["exact_duplicate"] if dup_of[i] >= 0 else []) + (["conflict"] if conflict[i] >= 0.9 else [])
             + (["stale"] if i % 7 == 0 else []) for i in range(n)]
    terms = [["<b>old term</b>", IMG] if i % 7 == 0 else [] for i in range(n)]
    cols = {
        "row": pa.array(np.arange(n), pa.int64()),
        "id": pa.array([f"id{i}" for i in range(n)]),
        "flags": pa.array(flags, pa.list_(pa.string())),
        "duplicate_of": pa.array(dup_of, mask=dup_of < 0, type=pa.int64()),
        "exact_duplicate_group_size": pa.array(np.where(dup_of >= 0, 2, 1), pa.int32()),
        "exact_duplicate_of": pa.array(dup_of, mask=dup_of < 0, type=pa.int64()),
        "conflict_score": pa.array(conflict),
        "conflict_group": pa.nulls(n, pa.int64()),
        "conflict_of": pa.array(np.zeros(n, dtype=np.int64), mask=conflict < 0.9, type=pa.int64()),
        "stale_score": pa.array(rng.random(n)),
        "stale_pvalue": pa.array(rng.random(n)),
        "stale_era": pa.array(["old" if i % 2 else "current" for i in range(n)]),
        "stale_terms": pa.array(terms, pa.list_(pa.string())),
        "map_x": pa.array(rng.normal(size=n).astype(np.float32)),
        "map_y": pa.array(rng.normal(size=n).astype(np.float32)),
        **(extra or {}),
    }
    pq.write_table(pa.table(cols), folder / "audit.parquet")
    counts = {"exact_duplicate": int((dup_of >= 0).sum()), "conflict": int((conflict >= 0.9).sum()),
              "stale": sum(1 for f in flags if "stale" in f)}
    summary = {
        "dataset": {"source": str(folder / "gone.jsonl"), "format": "jsonl", "shape": "alpaca", "rows": n},
        "stats": {"rows": n, "unique_rows": n, "effective_rows": n, "flagged_rows": 0, "flag_rate": 0.0,
                  "lengths": {"prompt": {"words": {"mean": 5.0, "p50": 5.0, "p95": 9.0, "max": 12.0}}}},
        "counts": counts,
        "checks": {},
        "config": {"params": {"exact_duplicate": {"min_group_size": 2}, "conflict": {"threshold": 0.9},
                              "stale": {"threshold": 0.5, "max_pvalue": 0.05}}},
        "examples": {"conflict": [{"row": 1, "prompt": f"a prompt {SCRIPT}", "output": "an answer", "scores": {}}]},
    }
    (folder / "summary.json").write_bytes(orjson.dumps(summary))
    return folder


def write_compare(folder: Path, *, with_runs: bool = True) -> Path:
    """A compare folder as finesift compare writes it: compare.json and runs/*/metrics.jsonl."""
    def agg(values):
        m = float(np.mean(values))
        return {"mean": m, "ci95": [m - 1.0, m + 1.0], "std": 1.0, "n": len(values), "values": values}

    arms = {}
    for k, name in enumerate(["raw", "curated", "random", "curated@4"]):
        runs = []
        for seed in (0, 1):
            run_dir = folder / "runs" / f"{name}-seed{seed}"
            if with_runs:
                run_dir.mkdir(parents=True, exist_ok=True)
                lines = [orjson.dumps({"kind": "train", "step": s, "loss": 3.0 - 0.1 * s - 0.05 * k + 0.01 * seed})
                         for s in range(1, 21)]
                lines.append(b'{"kind": "train", "step": 21, "lo')  # a line cut short by a killed run
                (run_dir / "metrics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
            runs.append({"seed": seed, "run_dir": str(run_dir), "status": "completed", "steps": 20})
        arms[name] = {"data": f"{name}.jsonl", "rows": 100 if name == "raw" else 10, "examples": 10,
                      "epoch_tokens": 1000, "max_steps": 20,
                      "metrics": {"chrf": agg([20.0 + k, 21.0 + k]), "eval_loss": agg([2.0 - 0.1 * k, 2.1 - 0.1 * k])},
                      "tokens": agg([500.0, 510.0]), "seconds": agg([10.0, 12.0]),
                      "inference": {"tokens_per_answer": agg([9.0 - k, 10.0 - k]),
                                    "seconds_per_answer": agg([0.2, 0.3])},
                      "runs": runs}
    report = {
        "arms": arms,
        "differences": {"curated-raw": {"chrf": {"mean": 1.0, "ci95": [0.2, 1.8], "p_value": 0.03,
                                                 "excludes_zero": True, "method": "t-seeds"}}},
        "verdict": {"metric": "chrf", "curated_vs_raw": "better",
                    "text": "curated vs raw on chrf: +1.00: curated is better"},
        "budget": {"kind": "steps", "max_steps": {a: 20 for a in arms}, "max_tokens": None},
        "eval": {"source": "eval.jsonl", "items": 8, "rows": 8, "references_per_item": 1.0, "max_new_tokens": 16},
        "baseline": {"metrics": {"chrf": 15.0, "eval_loss": 2.9}, "seconds": 1.0},
        "learning_curve": {"metric": "chrf", "points": [
            {"size": 4, "arm": "curated@4", "mean": 21.0, "ci95": [20.0, 22.0], "values": [20.5, 21.5]},
            {"size": 10, "arm": "curated", "mean": 21.5, "ci95": [20.5, 22.5], "values": [21.0, 22.0]}],
            "best_size": 10, "recommended_size": 4, "rule": "smallest size within noise of the best"},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compare.json").write_bytes(orjson.dumps(report))
    return folder
