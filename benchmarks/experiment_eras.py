"""Claim 3 of issue 11: "5,000 recent examples beat 10,000 mixed-era ones".

    .venv/bin/python benchmarks/experiment_eras.py            # CPU size: ~30 min on the 2-core CPU (estimate)
    .venv/bin/python benchmarks/experiment_eras.py --full     # GPU size
    .venv/bin/python benchmarks/experiment_eras.py --quick    # smoke run: tiny random model, seconds

From the two versions of the Bitext customer-support set in ``../shared/data/`` (2023-08-07: short replies,
the **old era**; 2023-08-18: every shared reply rewritten, longer, with ``{{Placeholder}}`` slots, the **new
era**), rows ``instruction -> response`` with the version date as a ``date`` field:

1. **eval**: a seeded sample of new-era rows; every row of either era whose prompt matches an eval prompt
   (case, spacing and punctuation ignored) is removed from training, and ``finesift compare`` refuses any
   remaining overlap (recorded per arm);
2. arms (sizes scaled down from the claim's 5,000 / 10,000: the new file has 4,514 rows): **new-only** (N
   new-era rows), **mixed** (the same N new rows + N old-era rows) and **curated** (``finesift curate
   --current 'date>=2023-08-10' --target N`` of the mix, so curate decides what is stale);
3. ``finesift.train.compare``, one epoch over each arm's own data (``--budget epochs``: the mix pays for its
   extra rows), paired seeds, chrF against the new-era answers, and per generation whether it uses the new era's
   conventions (a ``{{Placeholder}}`` slot) or the old era's phrasing (:data:`OLD_MARKER`, defined from the data:
   quoted UI labels like ``'Order History'`` and "please contact our" / "by going to" appear in 63% of old
   replies and 6% of new ones; the shares on this run's training pools are written to the results).

Writes ``benchmarks/results/experiment_eras[_quick|_full].json`` and ``.md``.
"""

from __future__ import annotations

import csv
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _presets  # noqa: E402
import experiment_tatoeba as T  # noqa: E402
from _data import DATA  # noqa: E402

RESULTS = T.RESULTS
OLD, NEW = "2023-08-07", "2023-08-18"
CURRENT = "date>=2023-08-10"
#: the new era's convention: a template slot such as {{Order Number}}
PLACEHOLDER = re.compile(r"\{\{[^{}]+\}\}")
#: the old era's phrasing: a single-quoted UI label ('My Account', 'Cancel Order') or its stock phrases; the
#: new era writes UI labels as {{slots}}. Measured on the whole files: 62.7% of old replies, 5.9% of new ones.
OLD_MARKER = re.compile(r"'[A-Z][A-Za-z]*(?: [A-Za-z]+){0,4}'|(?i:please contact our|by going to)")


@dataclass(frozen=True)
class Preset:
    new_rows: int  # N: the new-only arm; the mixed arm has N new + N old rows; curate keeps N of the mix
    eval_items: int
    seeds: int
    max_new_tokens: int
    batch_size: int = 8
    generation_batch_size: int = 32
    max_length: int = 384  # new-era rows average ~200 tokens; the few longer ones are cut
    model: str | None = None  # None: SmolLM2-135M-Instruct; "tiny": a random 2-layer Llama (smoke test)
    curate_models: bool = True
    threads: int | None = None


PRESETS = {
    "quick": Preset(new_rows=24, eval_items=6, seeds=2, max_new_tokens=8, batch_size=4, max_length=128,
                    model="tiny", curate_models=False, threads=1),
    # Sized from a tiny-size timing on this machine (SmolLM2, 16 new rows, 1 thread while other jobs ran: ~190
    # tokens a row, 24 s a step of batch 8, 10 s to evaluate 8 prompts at 64 new tokens) and experiment_tatoeba's
    # 1-thread vs 2-idle-core ratio (3.6 vs 2.2 s): ~12 s a step on 2 idle cores. One epoch each: 10 + 20 + 10 =
    # 40 steps (~8 min) a seed, plus 3 x (40 prompts generated + eval loss) (~1.5 min): ~9.5 min a seed, ~29 min
    # for 3 seeds, + curate of the 160-row mix (seconds).
    "cpu": Preset(new_rows=80, eval_items=40, seeds=3, max_new_tokens=64),
    # GPU size (benchmarks/gpu.sh: 110 s of its 8 minutes on one H100). 200 + 400 + 200 rows, one epoch each =
    # 100 steps a seed, 500 for 5 seeds (~35 s at an assumed, not yet measured, ~0.07 s a step of ~200-token
    # rows) + 15 runs x (~1.5 s adapter + 100 prompts in one batch of 96 new tokens + eval loss) (~55 s) +
    # curate of the 400-row mix (seconds).
    "full": Preset(new_rows=200, eval_items=100, seeds=5, max_new_tokens=96, generation_batch_size=128),
}


def bitext(version: str) -> list[dict[str, str]]:
    with open(DATA / f"bitext-customer-support-{version}.csv", newline="", encoding="utf-8") as fh:
        return [{"instruction": r["instruction"], "input": "", "output": r["response"], "intent": r["intent"],
                 "date": version} for r in csv.DictReader(fh)]


def norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def build(seed: int, new_rows: int, eval_items: int) -> dict[str, list[dict[str, Any]]]:
    """eval (new era), new-only and mixed arms; ids ``n<k>``/``o<k>`` keep each row's era."""
    old = [{"id": f"o{i}", **r} for i, r in enumerate(bitext(OLD))]
    new = [{"id": f"n{i}", **r} for i, r in enumerate(bitext(NEW))]
    rng = random.Random(seed)
    ev = rng.sample(new, eval_items)
    held = {norm(r["instruction"]) for r in ev}
    new_pool = [r for r in new if norm(r["instruction"]) not in held]
    old_pool = [r for r in old if norm(r["instruction"]) not in held]
    if len(new_pool) < new_rows or len(old_pool) < new_rows:
        raise SystemExit(f"--new-rows {new_rows}: only {len(new_pool)} new and {len(old_pool)} old rows are left "
                         "after holding out the eval prompts")
    new_only = rng.sample(new_pool, new_rows)
    mixed = new_only + rng.sample(old_pool, new_rows)
    rng.shuffle(mixed)
    return {"eval": ev, "new-only": new_only, "mixed": mixed, "new_pool": new_pool, "old_pool": old_pool}


def shares(texts: list[str]) -> dict[str, float]:
    n = max(len(texts), 1)
    return {"placeholder": sum(bool(PLACEHOLDER.search(t)) for t in texts) / n,
            "old_marker": sum(bool(OLD_MARKER.search(t)) for t in texts) / n}


def run_shares(run_dir: Path) -> dict[str, float]:
    preds = [orjson.loads(line)["prediction"] for line in (run_dir / "predictions.jsonl").read_bytes().splitlines()
             if line.strip()]
    return {k: 100 * v for k, v in shares(preds).items()}  # percent, like exact match


def run_curate_current(mixed: Path, eval_path: Path, out: Path, target: int, seed: int, use_models: bool,
                       device: str | None) -> tuple[Path, str, float]:
    """``finesift curate --current`` of the mix (the stale check judges the era from the ``date`` field)."""
    from finesift.curate import curate

    t0 = time.perf_counter()
    kwargs: dict[str, Any] = {"target": target, "seed": seed, "current": CURRENT, "eval_data": str(eval_path),
                              "no_models": not use_models}
    if device:
        kwargs["device"] = device
    curate(str(mixed), str(out), **kwargs)
    kept = sorted(out.glob("kept.*"))
    if not kept:
        raise SystemExit(f"finesift curate wrote no kept.* file in {out}")
    return kept[0], f"finesift curate --current '{CURRENT}' ({T._models_used(out)})", time.perf_counter() - t0


ARMS = ("new-only", "mixed", "curated")  # compare's names: curated, raw (= mixed), new-only
CMP_NAME = {"new-only": "new-only", "mixed": "raw", "curated": "curated"}
PAIRS = (("new-only", "mixed"), ("curated", "mixed"), ("curated", "new-only"))
FIGURES = ("chrf", "bleu", "eval_loss", "placeholder", "old_marker")


def markdown(res: dict[str, Any]) -> str:
    p, a, d = res["preset"], res["arms"], res["differences"]
    lines = [
        f"## Recent vs mixed-era data: Bitext customer support, {res['model']} + LoRA ({res['preset_name']})",
        "",
        f"{p['seeds']} paired seeds, one epoch over each arm's data (batch {p['batch_size']}), greedy decoding "
        f"(up to {p['max_new_tokens']} tokens) on {res['data']['eval_items']} held-out new-era prompts. "
        "placeholder %: generations with a `{{Slot}}`; old phrasing %: generations with the old era's marker "
        f"(in the training pools: {res['marker_shares']['new_pool']['old_marker']:.0%} of new rows, "
        f"{res['marker_shares']['old_pool']['old_marker']:.0%} of old ones). Mean over seeds [95% interval].",
        "",
        "| arm | rows | new-era rows | chrF | BLEU | eval loss | placeholder % | old phrasing % | train tokens "
        "| train s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ARMS:
        m = a[name]
        lines.append(f"| {name} | {m['rows']} | {m['new_era_fraction']:.0%} | {T._fmt(m['chrf'])} | "
                     f"{T._fmt(m['bleu'])} | {T._fmt(m['eval_loss'], 3)} | {T._fmt(m['placeholder'])} | "
                     f"{T._fmt(m['old_marker'])} | {m['tokens']['mean']:,.0f} | {m['seconds']['mean']:.0f} |")
    lines += ["", "| paired difference (by seed) | chrF | BLEU | eval loss | placeholder % | old phrasing % |",
              "|---|---:|---:|---:|---:|---:|"]
    for key, diff in d.items():
        lines.append(f"| {key.replace('-vs-', ' − ')} | " + " | ".join(
            T._fmt(diff[f], 3 if f == "eval_loss" else 1) for f in FIGURES) + " |")
    lines += ["", "**Verdict:** " + "; ".join(res["verdict"].values()) + ".", "",
              f"Curated by: {res['curated_by']} ({res['seconds']['curate']:.0f} s). Machine: "
              f"{res['machine']['device']}, {res['machine']['cpus']} CPUs; total {res['seconds']['total'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = _presets.parser(__doc__, "experiment_eras", "data seed (eval sample, arms, curate)",
                           ("new_rows", "eval_items", "seeds", "max_new_tokens", "batch_size", "max_length",
                            "threads")).parse_args(argv)
    name, preset = _presets.choose(args, PRESETS)
    preset, work = T.prepare(preset, args.device, args.workdir, f"experiment-eras-{name}")
    from finesift.train import compare, stats
    from finesift.train.comparison import verdict

    t0 = time.perf_counter()

    data = build(args.seed, preset.new_rows, preset.eval_items)
    eval_path = T.write_jsonl(work / "eval.jsonl", data["eval"], drop=("id", "date", "intent"))
    new_path = T.write_jsonl(work / "new_only.jsonl", data["new-only"])
    mixed_path = T.write_jsonl(work / "mixed.jsonl", data["mixed"])
    kept_path, curated_by, curate_s = run_curate_current(mixed_path, eval_path, work / "curated", preset.new_rows,
                                                         args.seed, preset.curate_models, args.device)
    ids = {"new-only": [r["id"] for r in data["new-only"]], "mixed": [r["id"] for r in data["mixed"]],
           "curated": T.read_ids(kept_path)}

    model = _presets.model_path(args, preset, work)
    cmp = compare(mixed_path, kept_path, eval_path, work / "compare",
                  {"seeds": preset.seeds, "budget": "epochs", "max_new_tokens": preset.max_new_tokens,
                   "generation_batch_size": preset.generation_batch_size, "keep_adapters": False,
                   "train": _presets.train_settings(args, preset, model, max_length=preset.max_length)},
                  arms={"new-only": new_path}, progress=True)
    rep = cmp.report
    if any(rep["eval"]["overlap"].values()):  # compare refuses this already; the result must say it was checked
        raise SystemExit(f"eval prompts overlap training prompts: {rep['eval']['overlap']}")

    per_run: dict[str, list[dict[str, float]]] = {}
    arms: dict[str, Any] = {}
    for arm in ARMS:
        c = rep["arms"][CMP_NAME[arm]]
        runs = c["runs"]
        per_run[arm] = [{**r["metrics"], **run_shares(Path(r["run_dir"]))} for r in runs]
        arms[arm] = {"rows": c["rows"], "new_era_fraction": sum(i.startswith("n") for i in ids[arm]) / len(ids[arm]),
                     **{f: stats.mean_ci([r[f] for r in per_run[arm]]) for f in FIGURES},
                     "exact_match": c["metrics"]["exact_match"], "tokens": c["tokens"], "seconds": c["seconds"],
                     "inference": c["inference"], "epoch_tokens": c["epoch_tokens"], "max_steps": c["max_steps"]}
    differences, verdicts = {}, {}
    for a, b in PAIRS:
        differences[f"{a}-vs-{b}"] = {f: stats.paired_difference([r[f] for r in per_run[a]], [r[f] for r in per_run[b]])
                                      for f in FIGURES}
        verdicts[f"{a}-vs-{b}"] = verdict(differences[f"{a}-vs-{b}"]["chrf"], "chrf", other=b, arm=a)["text"]
    # the new era's conventions: higher placeholder share is better, as chrF is
    d = differences["new-only-vs-mixed"]["placeholder"]
    head = f"new-only vs mixed on placeholder share: {d['mean']:+.1f} points"
    verdicts["placeholder"] = (f"{head}: the difference is within noise at this number of seeds"
                               if not d["excludes_zero"] else
                               f"{head}: new-only uses the new era's slots {'more' if d['mean'] > 0 else 'less'} often")

    first_run = orjson.loads((Path(rep["arms"]["raw"]["runs"][0]["run_dir"]) / "summary.json").read_bytes())
    res = {
        "preset_name": name,
        "preset": asdict(preset),
        "model": _presets.model_label(args, preset),
        "curated_by": curated_by,
        "data": {"eval_items": len(data["eval"]), "new_rows": preset.new_rows, "seed": args.seed,
                 "eval_prompts_held_out": "every row of either era whose prompt matches an eval prompt "
                                          "(case, spacing, punctuation ignored) is left out of training"},
        "markers": {"placeholder": PLACEHOLDER.pattern, "old_marker": OLD_MARKER.pattern},
        "marker_shares": {"new_pool": shares([r["output"] for r in data["new_pool"]]),
                          "old_pool": shares([r["output"] for r in data["old_pool"]]),
                          "eval_references": shares([r["output"] for r in data["eval"]])},
        "arms": arms,
        "differences": differences,
        "verdict": verdicts,
        "compare": {k: rep[k] for k in ("budget", "eval", "verdict")},
        "machine": T.machine(first_run),
        "seconds": {"curate": round(curate_s, 1), "total": round(time.perf_counter() - t0, 1)},
        "workdir": str(work),
    }
    T.write_results(args.results, "experiment_eras", name, res, markdown(res))
    return res


if __name__ == "__main__":
    main()
