"""How clean is what ``finesift curate --target 300`` keeps from the experiment's noisy Tatoeba set?

    .venv/bin/python benchmarks/bench_curate_clean.py                  # seeds 0 (tuning), 1, 2 (held out)
    .venv/bin/python benchmarks/bench_curate_clean.py --no-models      # no embeddings, no LM scores
    .venv/bin/python benchmarks/bench_curate_clean.py --seeds 0 --no-write

For each seed the noisy set is built by ``experiment_tatoeba`` (its ``cpu`` preset: 4,000 Alpaca rows with hidden
noise labels, the eval split of 80 sentences passed as ``eval_data`` like the experiment does) and curated by the
real ``finesift.curate`` with its defaults (``--target 300``; models as by default: static embeddings and the LM
scoring its candidate pool). The labels are never shown to curate. Per seed:

* ``clean_fraction``: kept rows labelled ``clean`` (the experiment's own ``composition``). ``clean_content_fraction``
  also counts a kept exact copy of a clean row (``repeated:clean``) as clean: its text is identical to the original
  (only the hidden id differs), so no curate can tell which of the two it kept, and one copy is a clean example.
* ``defects``: kept rows by noise kind, with examples: the row, the flags curate had on it, its quality.
* ``groups``: every group of rows sharing an English source sentence (the same instruction: the builder writes
  each English sentence once, except conflicting answers and repeats, which copy the instruction) that holds a
  clean original: whenever any member is kept, is a clean member kept? ``violations`` lists the others.
* ``seconds``: curate's wall time.

``--compare FILE`` puts an earlier result's headline figures beside this run's (``before``).
Results: ``benchmarks/results/curate_clean.json`` (with the command that produced it).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from experiment_tatoeba import CANONICAL, PRESETS, composition, noisy_rows, split, write_jsonl  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "curate_clean.json"
CLEAN_COPY = "repeated:clean"


def run_seed(seed: int, work: Path, no_models: bool, target: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from finesift.curate import curate

    preset = PRESETS["cpu"]
    pool, ev = split(seed, preset.eval_items)
    rows = noisy_rows(pool, preset.noisy_rows, seed)
    labels = {r["id"]: r["noise"] for r in rows}
    noisy = write_jsonl(work / f"noisy-{seed}.jsonl", rows, drop=("noise",))
    eval_path = write_jsonl(work / f"eval-{seed}.jsonl", [{"instruction": CANONICAL.format(en), "input": "",
                                                          "output": fr} for en, frs in ev for fr in frs])
    t0 = time.perf_counter()
    res = curate(str(noisy), str(work / f"curated-{seed}"), target=target, seed=seed, eval_data=str(eval_path),
                 no_models=no_models)
    seconds = time.perf_counter() - t0
    audit = pq.read_table(res.outdir / "audit.parquet").to_pylist()
    kept = set(int(r) for r in res.kept_rows)
    kept_ids = [rows[r]["id"] for r in sorted(kept)]

    comp = composition(kept_ids, labels)
    content_clean = sum(labels[i] in ("clean", CLEAN_COPY) for i in kept_ids)
    defects: dict[str, dict[str, Any]] = {}
    for r in sorted(kept):
        noise = rows[r]["noise"]
        if noise in ("clean", CLEAN_COPY):
            continue
        d = defects.setdefault(noise, {"kept": 0, "examples": []})
        d["kept"] += 1
        if len(d["examples"]) < 4:
            a = audit[r]
            d["examples"].append({"row": r, "instruction": rows[r]["instruction"], "output": rows[r]["output"],
                                  "flags": a["flags"], "audit_flags": a.get("audit_flags"),
                                  "quality": round(a["quality"], 4), "scores": _soft_scores(a)})
    # rows sharing an English sentence share the instruction (see the module docstring)
    by_prompt: dict[str, list[int]] = {}
    for r, row in enumerate(rows):
        by_prompt.setdefault(row["instruction"], []).append(r)
    checked = violations = 0
    bad: list[dict[str, Any]] = []
    for members in by_prompt.values():
        if len(members) < 2 or not any(rows[m]["noise"] == "clean" for m in members):
            continue
        checked += 1
        kept_m = [m for m in members if m in kept]
        if kept_m and not any(rows[m]["noise"] in ("clean", CLEAN_COPY) for m in kept_m):
            violations += 1
            clean = [m for m in members if rows[m]["noise"] == "clean"]
            if len(bad) < 10:
                bad.append({"instruction": rows[members[0]]["instruction"],
                            "kept": [{"row": m, "noise": rows[m]["noise"], "output": rows[m]["output"],
                                      "quality": round(audit[m]["quality"], 4)} for m in kept_m],
                            "clean": [{"row": m, "output": rows[m]["output"], "reasons": audit[m]["reasons"],
                                       "quality": round(audit[m]["quality"], 4)} for m in clean]})
    return {
        "seed": seed, "role": "tuning" if seed == 0 else "held out",
        "rows": len(rows), "kept": len(kept), "pool": res.summary["counts"]["pool"],
        "clean_fraction": comp["clean_fraction"],
        "clean_content_fraction": round(content_clean / max(len(kept_ids), 1), 3),
        "composition": comp["counts"],
        "defects": dict(sorted(defects.items(), key=lambda kv: -kv[1]["kept"])),
        "groups": {"checked": checked, "violations": violations, "examples": bad},
        "lm": res.summary.get("lm"),
        "seconds": round(seconds, 1),
        "seconds_by_stage": res.summary["seconds"],
    }


def _soft_scores(a: dict[str, Any]) -> dict[str, Any]:
    """The score columns that say most about this benchmark's defects (None when the check did not run)."""
    keys = ("format_outlier_score", "typos_rate", "typos_prompt_rate", "typos_output_rate", "conflict_score",
            "truncated_output_z", "wrong_language_prob", "echo_output_score", "lm_ifd", "lm_ppl")
    out = {}
    for k in a:
        if k in keys or (k.startswith(("typos_", "format_outlier", "truncated_output", "conflict_score"))
                         and isinstance(a[k], float)):
            out[k] = round(a[k], 4) if isinstance(a[k], float) else a[k]
    return out


def headline(res: dict[str, Any]) -> dict[str, Any]:
    return {str(s["seed"]): {"clean_fraction": s["clean_fraction"], "clean_content_fraction":
                             s["clean_content_fraction"], "group_violations": s["groups"]["violations"],
                             "composition": s["composition"], "seconds": s["seconds"]} for s in res["seeds"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2", help="data seeds (0 tunes, the others are held out)")
    ap.add_argument("--target", type=int, default=PRESETS["cpu"].target)
    ap.add_argument("--no-models", action="store_true", help="curate with no embeddings and no LM scores")
    ap.add_argument("--workdir", type=Path, help="where the data and curate folders go (default: a temp folder)")
    ap.add_argument("--compare", type=Path, help="an earlier curate_clean.json: its figures go under 'before'")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="finesift-curate-clean-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        per_seed = [run_seed(s, work, args.no_models, args.target) for s in seeds]
    res: dict[str, Any] = {
        "command": " ".join([".venv/bin/python benchmarks/bench_curate_clean.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "target": args.target, "models": not args.no_models, "seeds": per_seed,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if args.compare:
        res["before"] = headline(orjson.loads(args.compare.read_bytes()))
    print("| seed | role | kept | clean | clean content | group violations | kept defects | s |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for s in per_seed:
        kinds = ", ".join(f"{k} {v['kept']}" for k, v in s["defects"].items()) or "-"
        print(f"| {s['seed']} | {s['role']} | {s['kept']} | {s['clean_fraction']:.1%} | "
              f"{s['clean_content_fraction']:.1%} | {s['groups']['violations']} of {s['groups']['checked']} | "
              f"{kinds} | {s['seconds']:.0f} |")
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return res


if __name__ == "__main__":
    main()
