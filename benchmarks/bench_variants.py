"""Near duplicates that differ only in case, whitespace or punctuation: recall, clean false flags, curate.

    .venv/bin/python benchmarks/bench_variants.py [--rows 2000] [--variants 400] [--seed 11] [--curate]

Data: ``--rows`` held-out Tatoeba rows ("Translate to French: <en>" -> "<fr>", no English
sentence of the tuning sample: ``_heldout.heldout_sample``). ``--variants`` of them (seeded) get
one extra copy with a formatting-only change, in the answer (60%), the prompt (20%) or both (20%):

* case: all lower, all upper, first letter toggled, title case;
* whitespace: a space doubled, leading/trailing blanks, a space turned into a tab or newline,
  a space dropped between two words, a space inserted inside a word, French spacing before
  ``? ! : ;`` added or removed;
* punctuation: final ``.!?`` dropped, a final period added (or doubled), commas dropped,
  straight/curly apostrophes swapped;
* two of the above at once.

Half of the copies are placed after their original, half before (curate's tie-break is the
lowest row, so a copy placed first is the hard case for keeping the clean original).

Figures (all default checks, ``finesift.audit``):

* recall: share of (original, copy) pairs that the audit links as ``exact_duplicate`` or
  ``near_duplicate`` (one points at the other, or both at the same kept row), by kind, by field and
  by answer length; ``points_at_original``: of the copies placed after their original, the share
  flagged with the original as partner;
* clean: the same rows without copies; flag rate of ``exact_duplicate``/``near_duplicate`` and of the
  whole audit (``bench_clean_flags.py`` measures the latter on more samples);
* ``--curate``: ``finesift.curate`` (``no_models``, no size target) on the rows with copies: of the
  linked pairs, how often the clean original is kept and the copy rejected.

Writes benchmarks/results/variants.json.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _heldout import heldout_sample, machine, timed_audit, write_result  # noqa: E402

PREFIX = "Translate to French: "
DUP_CODES = ("exact_duplicate", "near_duplicate")


def _spaces(s: str) -> list[int]:
    return [i for i, c in enumerate(s) if c == " "]


def _case_lower(s, rng):
    return s.lower()


def _case_upper(s, rng):
    return s.upper()


def _case_first(s, rng):
    return s[:1].swapcase() + s[1:]


def _case_title(s, rng):
    return s.title()


def _ws_double(s, rng):
    sp = _spaces(s)
    if not sp:
        return s + "  "
    i = rng.choice(sp)
    return s[:i] + " " * rng.randint(2, 3) + s[i + 1:]


def _ws_edges(s, rng):
    return rng.choice([" ", "  ", "\n", "\t"]) + s + rng.choice([" ", "\n", " \n", "  "])


def _ws_tab(s, rng):
    sp = _spaces(s)
    if not sp:
        return s + "\n"
    i = rng.choice(sp)
    return s[:i] + rng.choice(["\t", "\n", " \n "]) + s[i + 1:]


def _ws_join(s, rng):
    # a space between two letters dropped ("Je suismalade."): what text extraction does
    sp = [i for i in _spaces(s) if 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum()]
    if not sp:
        return _ws_double(s, rng)
    i = rng.choice(sp)
    return s[:i] + s[i + 1:]


def _ws_split(s, rng):
    # a space inserted inside a word of 4+ letters ("ma lade")
    words = [m for m in re.finditer(r"[^\W\d_]{4,}", s)]
    if not words:
        return _ws_double(s, rng)
    m = rng.choice(words)
    i = rng.randint(m.start() + 1, m.end() - 1)
    return s[:i] + " " + s[i:]


def _ws_french(s, rng):
    if re.search(r" [?!:;]", s):
        return re.sub(r" ([?!:;])", r"\1", s)
    if re.search(r"\w[?!:;]", s):
        return re.sub(r"(\w)([?!:;])", r"\1 \2", s)
    return _ws_double(s, rng)


def _p_drop_final(s, rng):
    t = s.rstrip()
    u = re.sub(r"[\s.!?…]+$", "", t)
    return u if u and u != t else t + "."


def _p_add_final(s, rng):
    t = s.rstrip()
    return t + "." if t and t[-1].isalnum() else t + t[-1:] if t else "."


def _p_commas(s, rng):
    return s.replace(",", "") if "," in s else _p_drop_final(s, rng)


def _p_apostrophe(s, rng):
    if "'" in s:
        return s.replace("'", "\u2019")
    if "\u2019" in s:
        return s.replace("\u2019", "'")
    return _p_drop_final(s, rng)


KINDS = {
    "case_lower": _case_lower, "case_upper": _case_upper, "case_first": _case_first, "case_title": _case_title,
    "ws_double": _ws_double, "ws_edges": _ws_edges, "ws_tab_newline": _ws_tab, "ws_join_words": _ws_join,
    "ws_split_word": _ws_split, "ws_french_spacing": _ws_french,
    "punct_drop_final": _p_drop_final, "punct_add_final": _p_add_final, "punct_commas": _p_commas,
    "punct_apostrophe": _p_apostrophe,
}
FAMILY = {k: k.split("_")[0] for k in KINDS}


def mangle(text: str, kind: str, rng: random.Random) -> str:
    """``text`` with one formatting-only change of ``kind`` (``combo``: two kinds at once)."""
    if kind == "combo":
        a, b = rng.sample(sorted(KINDS), 2)
        return KINDS[b](KINDS[a](text, rng), rng)
    out = KINDS[kind](text, rng)
    return out if out != text else text + " "


def inject(rows: list[dict], n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """``rows`` plus ``n`` formatting-only copies; returns (all rows, one record per pair).

    Each row carries ``orig`` (input position of its source row) and ``variant`` (kind or "")
    as metadata, which no check reads.
    """
    rng = random.Random(seed)
    kinds = [*KINDS, "combo"]
    picked = rng.sample(range(len(rows)), n)
    placed: list[tuple[float, int, dict]] = [(i, 0, dict(r, orig=i, variant="")) for i, r in enumerate(rows)]
    for j, i in enumerate(picked):
        kind = kinds[j % len(kinds)]
        field = rng.choices(["output", "prompt", "both"], weights=[3, 1, 1])[0]
        r = dict(rows[i], orig=i, variant=kind, field=field)
        if field in ("output", "both"):
            r["output"] = mangle(r["output"], kind, rng)
        if field in ("prompt", "both"):
            en = r["instruction"][len(PREFIX):]
            r["instruction"] = PREFIX + mangle(en, kind, rng)
        before = j % 2 == 1
        # a random position on the chosen side of the original
        pos = rng.uniform(-1, i) if before else rng.uniform(i, len(rows))
        placed.append((pos, 1, r))
    placed.sort(key=lambda t: (t[0], t[1]))
    out = [t[2] for t in placed]
    where = {}
    for k, r in enumerate(out):
        if not r["variant"]:
            where[r["orig"]] = k
    pairs = []
    for k, r in enumerate(out):
        if r["variant"]:
            pairs.append({"original": where[r["orig"]], "copy": k, "kind": r["variant"], "field": r["field"],
                          "after": k > where[r["orig"]],
                          "short": len(re.findall(r"\w+", rows[r["orig"]]["output"])) <= 7})
    for r in out:
        r.pop("field", None)
    return out, pairs


def linked(table, a: int, b: int) -> tuple[bool, str | None]:
    """Do rows a and b share a duplicate group (exact or near), and by which code?"""
    flags = table["flags"]
    for code in DUP_CODES:
        part = table[f"{code}_of"]
        pa_, pb_ = part[a].as_py(), part[b].as_py()
        fa, fb = code in (flags[a].as_py() or []), code in (flags[b].as_py() or [])
        if (fa and pa_ == b) or (fb and pb_ == a) or (fa and fb and pa_ == pb_):
            return True, code
    return False, None


def rates(pairs: list[dict], key: str) -> dict[str, dict]:
    groups: dict[str, list[dict]] = {}
    for p in pairs:
        groups.setdefault(str(p[key]), []).append(p)
    return {k: {"pairs": len(v), "recall": round(sum(p["linked"] for p in v) / len(v), 4)}
            for k, v in sorted(groups.items())}


def run_curate(rows: list[dict], pairs: list[dict]) -> dict:
    import orjson

    import finesift

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        res = finesift.curate(path, Path(tmp) / "out", no_models=True)
        kept = {int(r) for r in res.kept_rows}
    lk = [p for p in pairs if p["linked"]]
    orig_kept = sum(p["original"] in kept and p["copy"] not in kept for p in lk)
    copy_kept = [p for p in lk if p["copy"] in kept and p["original"] not in kept]
    return {"linked_pairs": len(lk), "original_kept_copy_rejected": orig_kept,
            "copy_kept_original_rejected": len(copy_kept), "both_kept": sum(p["original"] in kept and p["copy"] in kept
                                                                            for p in lk),
            "original_kept_rate": round(orig_kept / len(lk), 4) if lk else None,
            "copy_kept_by_kind": dict(Counter(p["kind"] for p in copy_kept)),
            "copy_kept_placed_before": sum(not p["after"] for p in copy_kept)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--variants", type=int, default=400)
    ap.add_argument("--seed", type=int, default=11, help="held-out draw and injection seed")
    ap.add_argument("--curate", action="store_true", help="also curate the rows with copies (no models)")
    args = ap.parse_args()
    before = machine()
    clean = heldout_sample(args.rows, args.seed)
    rows, pairs = inject(clean, args.variants, args.seed)
    result, seconds = timed_audit(rows)
    t = result.table
    for p in pairs:
        p["linked"], p["code"] = linked(t, p["original"], p["copy"])
    after = [p for p in pairs if p["after"]]
    points = sum(p["code"] is not None and t[f"{p['code']}_of"][p["copy"]].as_py() == p["original"] for p in after)
    missed = [{"kind": p["kind"], "field": p["field"], "original": [rows[p["original"]]["instruction"],
                                                                    rows[p["original"]]["output"]],
               "copy": [rows[p["copy"]]["instruction"], rows[p["copy"]]["output"]]}
              for p in pairs if not p["linked"]]
    clean_result, clean_seconds = timed_audit(clean)
    cs = clean_result.summary
    dup_flagged = sum(any(c in DUP_CODES for c in (f or [])) for f in clean_result.table["flags"].to_pylist())
    payload = {
        "benchmark": "variants", "command": "benchmarks/bench_variants.py " + " ".join(sys.argv[1:]),
        "machine_before": before, "rows": args.rows, "variants": args.variants, "seed": args.seed,
        "recall": round(sum(p["linked"] for p in pairs) / len(pairs), 4),
        "by_code": dict(Counter(p["code"] or "missed" for p in pairs)),
        "points_at_original": round(points / len(after), 4) if after else None,
        "by_kind": rates(pairs, "kind"), "by_family": rates([dict(p, family=FAMILY.get(p["kind"], "combo"))
                                                             for p in pairs], "family"),
        "by_field": rates(pairs, "field"), "by_short_answer": rates(pairs, "short"),
        "audit_seconds": round(seconds, 2),
        "clean": {"rows": args.rows, "duplicate_flagged": dup_flagged,
                  "duplicate_flag_rate": round(dup_flagged / args.rows, 6),
                  "flag_rate": cs["stats"]["flag_rate"], "flagged_rows": cs["stats"]["flagged_rows"],
                  "counts": {k: v for k, v in cs["counts"].items() if v}, "audit_seconds": round(clean_seconds, 2)},
        "missed_examples": missed[:20],
    }
    if args.curate:
        payload["curate"] = run_curate(rows, pairs)
    payload["machine_after"] = machine()
    path = write_result("variants", payload)
    print(f"recall {payload['recall']:.1%} of {len(pairs)} formatting-only copies "
          f"({payload['by_code']}); copies after their original pointing at it: {payload['points_at_original']:.1%}")
    print("| kind | pairs | recall |\n|---|---:|---:|")
    for k, v in payload["by_kind"].items():
        print(f"| {k} | {v['pairs']} | {v['recall']:.1%} |")
    print(f"by field: {payload['by_field']}\nby short answer (<= 7 words): {payload['by_short_answer']}")
    c = payload["clean"]
    print(f"clean held-out rows: duplicate flags {c['duplicate_flagged']} of {c['rows']} "
          f"({c['duplicate_flag_rate']:.2%}); all codes {c['flagged_rows']} ({c['flag_rate']:.2%}) {c['counts']}")
    if "curate" in payload:
        print(f"curate: {payload['curate']}")
    for m in missed[:8]:
        print(f"  missed {m['kind']} ({m['field']}): {m['original']!r} vs {m['copy']!r}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
