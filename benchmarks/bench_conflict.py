"""How conflicts score: clean alternative translations vs injected wrong answers, in and out of sample.

    .venv/bin/python benchmarks/bench_conflict.py [--heldout-seeds 1,2] [--rows 2000]

Each sample is ``--rows`` clean Tatoeba rows "Translate to French: <en>" -> "<fr>" plus, for 20
random rows per kind, a copy of the prompt with a wrong answer (``_data.with_wrong_answers``:
the English echoed, another language, another row's translation, "<en> is <fr>", the
translation cut in half). The whole default audit runs (``finesift.audit``) and the
``conflict`` columns are read back.

* ``tuning``: ``clean_sample(2000, seed=0)`` with wrong answers seed 1, the sample the
  conflict weights and its 0.5 cut were chosen on (the README's first figure).
* ``heldout-S``: 2,000 rows sharing no English sentence with the tuning sample, drawn with
  seed S, wrong answers injected with seed S.
* ``first lines``: the file's first ``--rows`` pairs as they are, nothing injected (the shortest
  sentences: idioms with many valid alternative translations, the hardest case for false flags).

Writes ``benchmarks/results/conflict.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import WRONG_KINDS, tatoeba_rows, with_wrong_answers
from _heldout import heldout_sample, machine, median, timed_audit, write_result
from _tatoeba import clean_sample


def measure(rows: list[dict], label: str) -> dict:

    result, seconds = timed_audit(rows)  # `kind` rides along as metadata; the audit never reads it
    t = result.table
    kinds = np.array([r["kind"] for r in rows])
    score = t["conflict_score"].to_numpy(zero_copy_only=False).astype(float)
    in_group = t["conflict_group"].is_valid().to_numpy(zero_copy_only=False)
    flags = t["flags"].to_pylist()
    by_conflict = np.array(["conflict" in f for f in flags])
    by_any = np.array([bool(f) for f in flags])
    clean, wrong = kinds == "clean", kinds != "clean"
    grouped_clean = clean & in_group
    per_kind = {}
    for kind in WRONG_KINDS:
        m = kinds == kind
        per_kind[kind] = {"rows": int(m.sum()), "flagged_conflict": int((m & by_conflict).sum()),
                          "flagged_any": int((m & by_any).sum()), "median_score": median(score[m])}
    # the wrong answer should out-score the right one of its own prompt group
    group = t["conflict_group"].to_pylist()
    members: dict[int, list[int]] = {}
    for i, g in enumerate(group):
        if g is not None:
            members.setdefault(g, []).append(i)
    above = 0
    for i in np.flatnonzero(wrong):
        right = [j for j in members.get(group[i], []) if kinds[j] == "clean"]
        above += bool(right) and all(score[i] > score[j] for j in right)
    return {
        "sample": label,
        "rows": len(rows),
        "clean_rows": int(clean.sum()),
        "wrong_rows": int(wrong.sum()),
        "audit_seconds": round(seconds, 2),
        "clean_in_conflict_groups": int(grouped_clean.sum()),
        "clean_grouped_score_median": median(score[grouped_clean]),
        "clean_grouped_score_p95": round(float(np.percentile(score[grouped_clean], 95)), 4) if grouped_clean.any() else None,
        "clean_grouped_score_max": round(float(score[grouped_clean].max()), 4) if grouped_clean.any() else None,
        "clean_flagged_conflict": int((clean & by_conflict).sum()),
        "clean_flagged_any": int((clean & by_any).sum()),
        "clean_flag_codes": dict(Counter(c for f, k in zip(flags, kinds) if k == "clean" for c in f)),
        "wrong_flagged_conflict": int((wrong & by_conflict).sum()),
        "wrong_flagged_any": int((wrong & by_any).sum()),
        "wrong_score_median": median(score[wrong]),
        "wrong_above_right_in_group": int(above),
        "per_kind": per_kind,
        "missed": [{"kind": str(kinds[i]), "prompt": rows[i]["instruction"], "output": rows[i]["output"],
                    "conflict_score": round(float(score[i]), 4), "flags": flags[i]}
                   for i in np.flatnonzero(wrong & ~by_conflict)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--heldout-seeds", default="1,2")
    args = ap.parse_args()
    before = machine()
    samples = [("tuning (clean_sample seed 0, wrong answers seed 1)", with_wrong_answers(clean_sample(args.rows, 0), seed=1))]
    for s in [int(x) for x in args.heldout_seeds.split(",") if x]:
        samples.append((f"heldout seed {s}", with_wrong_answers(heldout_sample(args.rows, s), seed=s)))
    samples.append((f"first {args.rows} lines (nothing injected)", [dict(r, kind="clean") for r in tatoeba_rows(args.rows)]))
    runs = [measure(rows, label) for label, rows in samples]
    write_result("conflict", {"benchmark": "conflict", "command": "benchmarks/bench_conflict.py " + " ".join(sys.argv[1:]),
                              "machine_before": before, "machine_after": machine(), "runs": runs})

    print("| sample | clean rows in groups | clean median / max score | clean flagged (conflict) | "
          "wrong flagged (conflict) | echo | other language | other row's | is-style | truncated |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        k = r["per_kind"]
        wrong = f"{r['wrong_flagged_conflict']} of {r['wrong_rows']}" if r["wrong_rows"] else "-"
        kinds = " | ".join("-" if k[x]["median_score"] is None else f"{k[x]['median_score']}" for x in
                           ("english_echo", "other_language", "other_sentence", "is_style", "truncated"))
        print(f"| {r['sample']} | {r['clean_in_conflict_groups']} | {r['clean_grouped_score_median']} / "
              f"{r['clean_grouped_score_max']} | {r['clean_flagged_conflict']} | {wrong} | {kinds} |")

if __name__ == "__main__":
    main()
