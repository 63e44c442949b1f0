"""Corrupted-word typos and short mixed-language answers on held-out Tatoeba rows (issue 9, item 3).

    .venv/bin/python benchmarks/bench_typos_mixed.py [--clean 6000] [--injected 150] [--seeds 7,11,13,17,19]

From pairs that share no English sentence with the tuning sample (``_heldout.heldout_pairs``, its own
seed) it builds one dataset of "Translate to French: <en>" -> "<fr>" rows: ``--clean`` clean rows, and
``--injected`` rows of each defect, every one from a pair of its own:

* ``typo_answer``: 2 or 3 words of the French answer (words of 4+ letters) corrupted, one operation each,
  as people and OCR make them: two adjacent letters swapped, a letter dropped or a letter doubled;
* ``typo_prompt``: the same on the English sentence of the prompt;
* ``mixed``: the answer's first half in French, its second half in English (answers of 3-6 words:
  "Regarde le the cat"), as the project's experiment injects them.

Each defect is ~2% of the rows: at a much higher rate the same typo of a common word ("Ellees" for
"Elles") recurs in several texts, and ``typos`` takes a spelling that many texts share for the dataset's
vocabulary (its ``vocabulary_min_texts``). It runs ``finesift.audit`` with ``typos`` and ``wrong_language`` (all rows together: both checks have
dataset scope) and reports the recall of ``typos`` on the corrupted rows (per field, and how many
corrupted rows scored no misspelled word at all), the recall of ``wrong_language`` on the mixed rows
(by answer length), and the flag rate of each check on the clean rows. Seed 7 (:data:`TUNING_SEED`) is
the sample the checks were tuned on; every other seed draws its own dataset (its clean rows, its injected
rows and its corruptions) and is reported as held out, with the held-out seeds pooled. Writes
``benchmarks/results/typos_mixed.json``.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _heldout import heldout_pairs, machine, timed_audit, write_result  # noqa: E402

CHECKS = ["typos", "wrong_language"]


def corrupt(text: str, k: int, rng: random.Random) -> tuple[str, list[str]] | None:
    """``text`` with ``k`` words of 4+ letters corrupted (one swap, drop or double each), and the
    corrupted words; None if it has too few such words or a corruption left a word unchanged."""
    words = text.split()
    cands = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 4]
    if len(cands) < k:
        return None
    changed = []
    for i in rng.sample(cands, k):
        w = words[i]
        letters = [j for j, c in enumerate(w) if c.isalpha()]
        j = rng.choice(letters[1:-1] or letters)  # inside the word, where typos happen
        op = rng.choice(("swap", "drop", "double"))
        if op == "swap":
            nxt = j + 1 if j + 1 < len(w) and w[j + 1].isalpha() else j - 1
            a, b = sorted((j, nxt))
            new = w[:a] + w[b] + w[a] + w[b + 1:]
        elif op == "drop":
            new = w[:j] + w[j + 1:]
        else:
            new = w[:j] + w[j] + w[j:]
        if new == w:  # a swap of two equal letters
            return None
        words[i] = new
        changed.append(new)
    return " ".join(words), changed


def mixed(en: str, fr: str) -> str | None:
    """French first half, English second half, 3-6 words; None where the halves cannot make one."""
    fw, ew = fr.split(), en.split()
    out = fw[: len(fw) // 2] + ew[len(ew) // 2:]
    if not 3 <= len(out) <= 6 or not fw[: len(fw) // 2] or not ew[len(ew) // 2:]:
        return None
    return " ".join(out)


def build(clean: int, injected: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    pool = heldout_pairs(min(60_000, clean + 12 * injected), seed)
    rows = [{"instruction": f"Translate to French: {en}", "input": "", "output": fr, "kind": "clean"}
            for en, fr in pool[:clean]]
    rest = iter(pool[clean:])
    made = Counter()
    for kind in ("typo_answer", "typo_prompt", "mixed"):
        while made[kind] < injected:
            en, fr = next(rest)
            row = {"instruction": f"Translate to French: {en}", "input": "", "output": fr, "kind": kind}
            if kind == "mixed":
                out = mixed(en, fr)
                if out is None:
                    continue
                row["output"] = out
            else:
                got = corrupt(fr if kind == "typo_answer" else en, rng.choice((2, 3)), rng)
                if got is None:
                    continue
                text, words = got
                row["corrupted"] = words
                if kind == "typo_answer":
                    row["output"] = text
                else:
                    row["instruction"] = f"Translate to French: {text}"
            rows.append(row)
            made[kind] += 1
    rng.shuffle(rows)
    return rows


#: the seed the typos and wrong_language rules were tuned on; other seeds are held out
TUNING_SEED = 7


def run(clean: int, injected: int, seed: int) -> dict:
    rows = build(clean, injected, seed)
    result, seconds = timed_audit(rows, checks=CHECKS)
    t = result.table
    flags = t["flags"].to_pylist()
    counts = {f: t[f"typos_{f}_count"].to_pylist() for f in ("prompt", "output")}
    out: dict = {"seed": seed, "sample": "tuning" if seed == TUNING_SEED else "held out", "rows": len(rows),
                 "audit_seconds": round(seconds, 2)}

    def examples(idx, n=8):
        return [{"row": i, "prompt": rows[i]["instruction"], "output": rows[i]["output"],
                 "corrupted": rows[i].get("corrupted"), "flags": flags[i]} for i in idx[:n]]

    for kind, fld in (("typo_answer", "output"), ("typo_prompt", "prompt")):
        idx = [i for i, r in enumerate(rows) if r["kind"] == kind]
        missed = [i for i in idx if "typos" not in flags[i]]
        zero = [i for i in idx if counts[fld][i] == 0]
        out[kind] = {"rows": len(idx), "caught": len(idx) - len(missed), "recall": round(1 - len(missed) / len(idx), 4),
                     "scored_zero": len(zero), "missed_examples": examples(missed)}
    idx = [i for i, r in enumerate(rows) if r["kind"] == "mixed"]
    by_len = {}
    for n in sorted({len(rows[i]["output"].split()) for i in idx}):
        sub = [i for i in idx if len(rows[i]["output"].split()) == n]
        by_len[n] = {"rows": len(sub), "recall": round(sum("wrong_language" in flags[i] for i in sub) / len(sub), 4)}
    missed = [i for i in idx if "wrong_language" not in flags[i]]
    out["mixed"] = {"rows": len(idx), "caught": len(idx) - len(missed), "recall": round(1 - len(missed) / len(idx), 4),
                    "by_words": by_len, "missed_examples": examples(missed)}
    clean_idx = [i for i, r in enumerate(rows) if r["kind"] == "clean"]
    out["clean"] = {"rows": len(clean_idx), "flagged": sum(bool(flags[i]) for i in clean_idx),
                    "flag_rate": round(sum(bool(flags[i]) for i in clean_idx) / len(clean_idx), 4),
                    "by_code": {c: round(sum(c in flags[i] for i in clean_idx) / len(clean_idx), 4) for c in CHECKS},
                    "flag_examples": examples([i for i in clean_idx if flags[i]], 12)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", type=int, default=6000)
    ap.add_argument("--injected", type=int, default=150)
    ap.add_argument("--seeds", default="7,11,13,17,19", help=f"seed {TUNING_SEED} = the tuning sample; others held out")
    args = ap.parse_args()
    before = machine()
    runs = [run(args.clean, args.injected, int(s)) for s in args.seeds.split(",") if s]
    held = [r for r in runs if r["seed"] != TUNING_SEED]
    pooled = None
    if held:
        pooled = {"seeds": [r["seed"] for r in held]}
        for kind in ("typo_answer", "typo_prompt", "mixed"):
            caught, total = sum(r[kind]["caught"] for r in held), sum(r[kind]["rows"] for r in held)
            pooled[kind] = {"caught": caught, "rows": total, "recall": round(caught / total, 4)}
        flagged, total = sum(r["clean"]["flagged"] for r in held), sum(r["clean"]["rows"] for r in held)
        pooled["clean"] = {"flagged": flagged, "rows": total, "flag_rate": round(flagged / total, 5)}
    out = {"benchmark": "typos_mixed", "command": "benchmarks/bench_typos_mixed.py " + " ".join(sys.argv[1:]),
           "machine_before": before, "heldout_pooled": pooled, "runs": runs, "machine_after": machine()}
    path = write_result("typos_mixed", out)
    print("| seed | sample | typos: answers | typos: prompts | wrong_language: mixed (3 words) | clean flagged |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in runs:
        three = r["mixed"]["by_words"].get(3, {}).get("recall")
        print(f"| {r['seed']} | {r['sample']} | {r['typo_answer']['recall']:.3f} | {r['typo_prompt']['recall']:.3f} | "
              f"{r['mixed']['recall']:.3f} ({three if three is None else f'{three:.2f}'}) | "
              f"{r['clean']['flag_rate']:.2%} {r['clean']['by_code']} |")
    if pooled:
        print(f"| {','.join(map(str, pooled['seeds']))} | held out, pooled | {pooled['typo_answer']['recall']:.3f} | "
              f"{pooled['typo_prompt']['recall']:.3f} | {pooled['mixed']['recall']:.3f} | "
              f"{pooled['clean']['flag_rate']:.2%} |")
    tuning = next((r for r in runs if r["seed"] == TUNING_SEED), runs[0])
    for kind in ("typo_answer", "typo_prompt", "mixed"):
        for ex in tuning[kind]["missed_examples"][:5]:
            print(f"  missed {kind} (seed {tuning['seed']}): {ex['prompt']!r} -> {ex['output']!r} {ex['corrupted'] or ''}")
    for ex in tuning["clean"]["flag_examples"][:8]:
        print(f"  clean flagged {ex['flags']} (seed {tuning['seed']}): {ex['prompt']!r} -> {ex['output']!r}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
