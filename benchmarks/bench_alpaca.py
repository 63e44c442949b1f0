"""How well the audit finds what people fixed in real SFT data: Alpaca 52k against the AlpacaDataCleaned
volunteers' edits (``../shared/data/alpaca-human-cleaning-dev.jsonl``, the labelled half).

    .venv/bin/python benchmarks/bench_alpaca.py [--checks a,b] [--with lm] [--split tune|check|all]

Runs ``finesift.audit`` on the raw 52k file as a user would (all rows: dataset checks see the whole
set) and scores the labelled rows:

* **bad**: rows the volunteers removed or rewrote (``label == "bad"``), not counting rows whose only
  edit cleared a ``<noinput>`` placeholder; **good**: rows they kept unchanged. The cleaning was
  partial, so some "good" rows are still bad: the flag rate on good rows overstates false flags.
* recall of bad rows, overall and per kind of fix (with the codes that catch each kind), and the
  flag rate on good rows, overall and per code (with example rows to read).

Tuning happens on the ``tune`` split only (labelled rows whose xxh3 hash of the row number is
even); ``check`` (the other labelled rows) is reported as the out-of-sample figure, and the held-
back half (not here) judges the issue. Writes ``benchmarks/results/alpaca.json`` (``--name`` for another name).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import DATA  # noqa: E402
from _heldout import machine, write_result  # noqa: E402

RAW = DATA / "alpaca-52k-raw.jsonl"
LABELS = DATA / "alpaca-human-cleaning-dev.jsonl"

#: the volunteers' kinds of fix, grouped as the issue's table groups them
KINDS = {
    "url_or_attachment_reference": "url_media",
    "url_or_attachment_input_replaced": "url_media",
    "merged_instruction_removed_from_output": "merged_instruction",
    "input_removed": "input_unneeded",
    "input_rewritten": "input_unneeded",
    "answer_rewritten_numeric(wrong_answer/math)": "arithmetic",
    "minor_edit_numeric(wrong_number/math)": "arithmetic",
    "output_rewritten(wrong/hallucinated/low_quality)": "wrong_answer",
    "instruction_rewritten(unclear/nonsensical/unanswerable)": "unclear_instruction",
    "instruction_minor_edit(typo/clarification)": "unclear_instruction",
    "minor_edit(typo/wording)": "unclear_instruction",
    "empty_output_filled": "empty_placeholder",
    "empty_output": "empty_placeholder",
    "placeholder_output_replaced(<nooutput>/N/A)": "empty_placeholder",
    "placeholder_output": "empty_placeholder",
}


def split_of(row: int) -> str:
    return "tune" if xxhash.xxh3_64_intdigest(str(row).encode()) % 2 == 0 else "check"


def labels(split: str) -> tuple[dict[int, list[str]], list[int]]:
    """bad row -> its kinds of fix, and the good rows, of ``split`` (tune, check or all)."""
    bad: dict[int, list[str]] = {}
    good: list[int] = []
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if split != "all" and split_of(r["row"]) != split:
            continue
        if r["label"] == "good":
            good.append(r["row"])
        elif r["label"] == "bad" and not r.get("noinput_only"):
            kinds = sorted({KINDS.get(c, "other") for c in r.get("categories") or []} - {"noinput"}) or ["other"]
            bad[r["row"]] = kinds
    return bad, good


def evaluate(flags: list[list[str]], bad: dict[int, list[str]], good: list[int], examples: int = 8) -> dict:
    caught = [r for r in bad if flags[r]]
    by_kind: dict[str, dict] = {}
    for kind in sorted({k for ks in bad.values() for k in ks}):
        rows = [r for r, ks in bad.items() if kind in ks]
        codes = Counter(c for r in rows for c in flags[r])
        by_kind[kind] = {"rows": len(rows), "caught": sum(bool(flags[r]) for r in rows),
                         "recall": round(sum(bool(flags[r]) for r in rows) / len(rows), 4),
                         "by_code": dict(codes.most_common()),
                         "missed_examples": [r for r in rows if not flags[r]][:examples]}
    false_by_code: dict[str, int] = Counter(c for r in good for c in flags[r])
    false_examples: dict[str, list[int]] = defaultdict(list)
    for r in good:
        for c in flags[r]:
            if len(false_examples[c]) < examples:
                false_examples[c].append(r)
    flagged_good = sum(bool(flags[r]) for r in good)
    return {
        "bad_rows": len(bad), "good_rows": len(good),
        "recall": round(len(caught) / len(bad), 4) if bad else None,
        "good_flag_rate": round(flagged_good / len(good), 4) if good else None,
        "good_flagged": flagged_good,
        "by_kind": by_kind,
        "good_flags_by_code": dict(sorted(false_by_code.items(), key=lambda kv: -kv[1])),
        "good_flag_examples": dict(false_examples),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checks", help="comma-separated codes (default: the default audit)")
    ap.add_argument("--with", dest="with_models", default="", help="opt-in groups, e.g. lm")
    ap.add_argument("--split", default="all", choices=["tune", "check", "all"])
    ap.add_argument("--name", default="alpaca", help="result name: benchmarks/results/<name>.json")
    args = ap.parse_args()

    import finesift

    overrides = {}
    if args.checks:
        overrides["checks"] = args.checks.split(",")
    if args.with_models:
        overrides["with_models"] = args.with_models.split(",")
    t0 = time.perf_counter()
    result = finesift.audit(RAW, **overrides)
    seconds = time.perf_counter() - t0
    flags = result.table["flags"].to_pylist()
    out = {"command": " ".join(["benchmarks/bench_alpaca.py", *sys.argv[1:]]), "machine": machine(),
           "audit_rows": len(flags), "audit_seconds": round(seconds, 2),
           "checks": [c.name for c in result.checks]}
    splits = ["tune", "check"] if args.split == "all" else [args.split]
    for split in splits + (["all"] if args.split == "all" else []):
        bad, good = labels(split)
        out[split] = evaluate(flags, bad, good)
        e = out[split]
        print(f"{split:>5}: recall {e['recall']:.3f} of {e['bad_rows']} bad rows at {e['good_flag_rate']:.2%} "
              f"of {e['good_rows']} good rows flagged")
    e = out[splits[-1] if args.split != "all" else "all"]
    for kind, k in e["by_kind"].items():
        print(f"  {kind:<20} {k['caught']:>3}/{k['rows']:<3} {k['by_code']}")
    print("  false flags on good rows:", e["good_flags_by_code"])
    print("wrote", write_result(args.name, out))


if __name__ == "__main__":
    main()
