"""How conflicts score: clean alternative translations vs injected wrong answers, in and out of sample.

    .venv/bin/python benchmarks/bench_conflict.py [--heldout-seeds 1,2,3,4] [--rows 2000]

Each injected sample is ``--rows`` clean Tatoeba rows "Translate to French: <en>" -> "<fr>" plus,
for 20 random rows per kind, a copy of the prompt with a wrong answer (``_data.with_wrong_answers``:
the English echoed, another language, another row's translation, "<en> is <fr>", the
translation cut in half) and, for 40 more, the translation of a sentence that is nowhere in the
sample (``outside``: a fluent answer to something else, the conflict a peer tool catches by
flagging any disagreement). The whole default audit runs (``finesift.audit``) and the
``conflict`` columns are read back.

* ``tuning``: ``clean_sample(2000, seed=0)`` with wrong answers seed 1, the sample the
  conflict weights and its 0.5 cut were chosen on.
* ``heldout-S``: 2,000 rows sharing no English sentence with the tuning sample, drawn with
  seed S, wrong answers injected with seed S. The random-prompt alignment baseline
  (``_Z_HI``, ``_Z_SPAN``, ``_Z_JUDGED``) was set on seeds 1 and 2 and the experiment set of seed 0:
  seeds 3 and 4 are out of sample for it.
* ``tuning multi-translation groups``: every English sentence of the tuning sample that Tatoeba
  translates several ways, every distinct translation as a row, nothing injected: the clean
  negatives a change may be tuned on (the flagged groups are printed, with every answer's score).
* ``multi-translation groups S``: 500 English sentences (none of the tuning sample) that Tatoeba
  translates several ways, every distinct translation as a row, nothing injected: the clean
  negatives (valid alternatives such as "Cours !" / "Courez !").
* ``experiment S``: the headline experiment's noisy set (``experiment_tatoeba.noisy_rows``, 4,000
  rows): its ``conflict`` rows repeat a clean prompt with another sentence's translation.
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
from _heldout import (
    heldout_sample,
    machine,
    median,
    timed_audit,
    tuning_english,
    write_result,
)
from _tatoeba import clean_sample, pairs

KINDS = WRONG_KINDS + ("outside",)


def with_outside(rows: list[dict], seed: int, n: int = 40) -> list[dict]:
    """``rows`` plus ``n`` copies of random prompts answered by the translation of an English sentence
    that no row of ``rows`` has (kind ``outside``)."""
    import random

    rng = random.Random(seed + 100)
    seen = {r["instruction"].split(": ", 1)[1] for r in rows}
    pool = [fr for en, fr in pairs() if en not in seen]
    return rows + [{"instruction": rows[i]["instruction"], "input": "", "output": rng.choice(pool), "kind": "outside"}
                   for i in rng.sample(range(len(rows)), n)]


def multi_translation_groups(n: int | None, seed: int, tuning: bool = False) -> list[dict]:
    """Every distinct translation of ``n`` English sentences (none of the tuning sample) that have several.

    ``tuning``: the English sentences of the tuning sample instead (``n`` None: all of them), the
    negatives a change may be tuned on; the held-out groups (``tuning`` False) only judge it."""
    import random

    by_en: dict[str, list[str]] = {}
    for en, fr in pairs():
        by_en.setdefault(en, [])
        if fr not in by_en[en]:
            by_en[en].append(fr)
    in_tuning = tuning_english()
    cands = sorted(en for en, frs in by_en.items() if len(frs) >= 2 and (en in in_tuning) == tuning)
    if n is not None:
        cands = random.Random(seed).sample(cands, n)
    return [{"instruction": f"Translate to French: {en}", "input": "", "output": fr, "kind": "clean"}
            for en in cands for fr in by_en[en]]


def experiment_rows(seed: int, n: int = 4000) -> list[dict]:
    """The headline experiment's noisy set; ``kind``: ``conflict_other`` for its conflict rows, else clean
    or ``other_defect`` (its other noise: not what this benchmark measures)."""
    import experiment_tatoeba as ex

    pool, _ = ex.split(seed, 80)
    return [dict(r, kind={"clean": "clean", "conflict": "conflict_other"}.get(r["noise"], "other_defect"))
            for r in ex.noisy_rows(pool, n, seed)]


def measure(rows: list[dict], label: str) -> dict:

    result, seconds = timed_audit(rows)  # `kind` rides along as metadata; the audit never reads it
    t = result.table
    kinds = np.array([r["kind"] for r in rows])
    score = t["conflict_score"].to_numpy(zero_copy_only=False).astype(float)
    in_group = t["conflict_group"].is_valid().to_numpy(zero_copy_only=False)
    flags = t["flags"].to_pylist()
    by_conflict = np.array(["conflict" in f for f in flags])
    by_any = np.array([bool(f) for f in flags])
    clean, wrong = kinds == "clean", ~np.isin(kinds, ["clean", "other_defect"])
    grouped_clean = clean & in_group
    per_kind = {}
    for kind in sorted(set(kinds.tolist()) - {"clean", "other_defect"}):
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
    clean_groups = {group[i] for i in np.flatnonzero(grouped_clean)}
    flagged_groups = {group[i] for i in np.flatnonzero(grouped_clean & by_conflict)}
    # what a clean flagged group looks like: its prompt, every answer with its score, the flagged ones marked
    flagged_examples = [{"prompt": rows[g]["instruction"],
                         "answers": [{"output": rows[j]["output"], "kind": str(kinds[j]),
                                      "conflict_score": round(float(score[j]), 4), "flagged": bool(by_conflict[j])}
                                     for j in members[g]]}
                        for g in sorted(flagged_groups)]
    return {
        "sample": label,
        "clean_groups": len(clean_groups),
        "clean_groups_flagged_conflict": len(flagged_groups),
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
        "clean_groups_flagged_examples": flagged_examples,
        "missed": [{"kind": str(kinds[i]), "prompt": rows[i]["instruction"], "output": rows[i]["output"],
                    "conflict_score": round(float(score[i]), 4), "flags": flags[i]}
                   for i in np.flatnonzero(wrong & ~by_conflict)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--heldout-seeds", default="1,2,3,4")
    args = ap.parse_args()
    before = machine()
    seeds = [int(x) for x in args.heldout_seeds.split(",") if x]
    samples = [("tuning (clean_sample seed 0, wrong answers seed 1)",
                with_outside(with_wrong_answers(clean_sample(args.rows, 0), seed=1), 0))]
    for s in seeds:
        samples.append((f"heldout seed {s}", with_outside(with_wrong_answers(heldout_sample(args.rows, s), seed=s), s)))
    samples.append(("tuning multi-translation groups (every tuning-sample sentence with several, nothing injected)",
                    multi_translation_groups(None, 0, tuning=True)))
    for s in seeds:
        samples.append((f"multi-translation groups seed {s} (nothing injected)", multi_translation_groups(500, s)))
    for s in (0, 1):
        samples.append((f"experiment noisy set seed {s}", experiment_rows(s)))
    samples.append((f"first {args.rows} lines (nothing injected)", [dict(r, kind="clean") for r in tatoeba_rows(args.rows)]))
    runs = [measure(rows, label) for label, rows in samples]
    write_result("conflict", {"benchmark": "conflict", "command": "benchmarks/bench_conflict.py " + " ".join(sys.argv[1:]),
                              "machine_before": before, "machine_after": machine(), "runs": runs})

    print("| sample | clean groups flagged | clean rows flagged (conflict) | wrong flagged (conflict) | "
          + " | ".join(KINDS) + " | conflict_other |")
    print("|---|---:|---:|---:|" + "---:|" * (len(KINDS) + 1))
    for r in runs:
        k = r["per_kind"]
        wrong = f"{r['wrong_flagged_conflict']} of {r['wrong_rows']}" if r["wrong_rows"] else "-"
        kinds = " | ".join(f"{k[x]['flagged_conflict']}/{k[x]['rows']}" if x in k else "-" for x in KINDS + ("conflict_other",))
        print(f"| {r['sample']} | {r['clean_groups_flagged_conflict']} of {r['clean_groups']} | "
              f"{r['clean_flagged_conflict']} of {r['clean_rows']} | {wrong} | {kinds} |")
    for r in runs:
        if r["sample"].startswith("tuning multi") and r["clean_groups_flagged_examples"]:
            print(f"\nflagged clean groups, {r['sample']} (tune on these; the held-out seeds only judge):")
            for ex in r["clean_groups_flagged_examples"]:
                answers = "; ".join(f"{'*' if a['flagged'] else ''}{a['output']!r} {a['conflict_score']:.2f}"
                                    for a in ex["answers"])
                print(f"  {ex['prompt']!r}: {answers}")
    # the other side of the same trade: wrong answers of the tuning sample that stay quiet (tune on
    # these and on the clean groups above together; a change judged on one side alone moves the other)
    for r in runs:
        if r["sample"].startswith("tuning (") and r["missed"]:
            print(f"\nmissed wrong answers, {r['sample']}:")
            for m in r["missed"]:
                print(f"  {m['kind']}: {m['prompt']!r} -> {m['output']!r} {m['conflict_score']:.2f}")


if __name__ == "__main__":
    main()
