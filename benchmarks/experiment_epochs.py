"""Claim 2 of issue 11: "a 1-epoch run on good data beats 10 epochs on bad data".

    .venv/bin/python benchmarks/experiment_epochs.py            # CPU size: ~25 min on the 2-core CPU (estimate)
    .venv/bin/python benchmarks/experiment_epochs.py --full     # GPU size
    .venv/bin/python benchmarks/experiment_epochs.py --quick    # smoke run: tiny random model, seconds

The data are experiment_tatoeba's (imported from it, not copied): a held-out clean eval set of Tatoeba
sentences (every French translation as a reference; eval prompts never overlap training prompts: the split
holds out near-copies, and ``finesift compare`` refuses any overlap and records it per arm) and the noisy
training set with the seed's defects. Arms, through ``finesift.train.compare`` exactly as the CLI runs them::

    finesift compare --raw noisy.jsonl --curated kept.jsonl --eval eval.jsonl -o OUT \\
        --arm-epochs curated=1,raw=10 --raw-rows curated --eval-points 8

* **curated**: ``finesift curate`` of the noisy set, trained for 1 epoch;
* **raw**: a seeded random subset of the noisy set, trained for 10 epochs. ``--raw-rows curated`` (default)
  gives it the curated set's row count, so the noisy arm pays ten times the training tokens (the claim as
  stated: more passes cannot buy back bad data); ``--raw-rows match`` sizes it so its ten passes cost what the
  curated pass costs (equal bill, fewer distinct rows).

Per arm: chrF / BLEU / exact match / eval loss over paired seeds with 95% intervals, training tokens and
seconds, inference cost, and the eval-loss curve (eval loss measured 8 times per run, never acted on), which
shows whether and where training on the noisy rows turns worse. Writes
``benchmarks/results/experiment_epochs[_quick|_full].json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _presets  # noqa: E402
import experiment_tatoeba as T  # noqa: E402

RESULTS = T.RESULTS


@dataclass(frozen=True)
class Preset:
    noisy_rows: int
    target: int  # curated size
    eval_items: int
    seeds: int
    max_new_tokens: int
    raw_epochs: float = 10.0
    curated_epochs: float = 1.0
    eval_points: int = 8
    batch_size: int = 8
    generation_batch_size: int = 32
    model: str | None = None  # None: SmolLM2-135M-Instruct; "tiny": a random 2-layer Llama (smoke test)
    curate_models: bool = True
    threads: int | None = None


PRESETS = {
    "quick": Preset(noisy_rows=200, target=16, eval_items=8, seeds=2, max_new_tokens=4, eval_points=4,
                    batch_size=4, model="tiny", curate_models=False, threads=1),
    # Sized from experiment_tatoeba's CPU measurements (SmolLM2, batch 8, ~52 tokens a row: ~2.2 s a step on 2
    # idle cores): curated 120 rows x 1 epoch = 15 steps, raw 120 rows x 10 epochs = 150 steps, so ~165 steps
    # (~6 min) a seed, plus 2 x 9 eval-loss measurements over ~90 eval rows and 2 generations of 60 answers
    # (~1.5 min): ~7.5 min a seed, ~23 min for 3 seeds, plus curate of 2,000 rows (~1 min).
    "cpu": Preset(noisy_rows=2000, target=120, eval_items=60, seeds=3, max_new_tokens=24),
    # GPU size (benchmarks/gpu.sh: 140 s of its 8 minutes on one H100). Curated 160 rows x 1 epoch = 20 steps, raw
    # 160 rows x 10 epochs = 200 steps: 220 steps a seed, 1,100 for 5 seeds (~66 s at an assumed, not yet
    # measured, ~0.06 s a step) + 10 runs x 9 eval-loss points over ~300 eval rows (~30 s) + 10 runs' fixed
    # cost (~30 s) + curate of 4,000 rows (~10 s).
    "full": Preset(noisy_rows=4000, target=160, eval_items=160, seeds=5, max_new_tokens=32, eval_points=8,
                   generation_batch_size=128),
}


def _curve_cell(c: dict[str, Any] | None) -> tuple[str, str]:
    if not c:
        return "-", "-"
    best = next(p for p in c["points"] if p["step"] == c["best_step"])
    return f"{best['mean']:.3f} (epoch {best['epoch']:g})", T._fmt(c["rise_after_best"], 3)


def markdown(res: dict[str, Any]) -> str:
    rep, p = res["compare"], res["preset"]
    lines = [
        f"## One epoch on curated data vs ten on noisy data: Tatoeba English→French, {res['model']} + LoRA "
        f"({res['preset_name']})",
        "",
        f"{p['seeds']} paired seeds, batch {p['batch_size']}; curated: {p['curated_epochs']:g} epoch over "
        f"{rep['arms']['curated']['rows']} curated rows; raw: {p['raw_epochs']:g} epochs over a seeded "
        f"{rep['raw_subset']['rows']}-row subset of the {rep['raw_subset']['of']}-row noisy set "
        f"(--raw-rows {rep['raw_subset']['spec']}). Greedy decoding on {rep['eval']['items']} held-out sentences; "
        f"eval loss measured {p['eval_points']} times per run (plus before training), never acted on, in the "
        "training precision (the final eval loss column is compare's, in the eval precision). "
        "Mean over seeds [95% interval].",
        "",
        "| arm | rows | clean rows | epochs | steps | chrF | BLEU | final eval loss | lowest eval loss (at) "
        "| rise after lowest | train tokens | train s | gen tokens/answer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("raw", "curated"):
        arm = rep["arms"][name]
        m, comp = arm["metrics"], res["composition"][name]
        low, rise = _curve_cell(arm.get("eval_loss_curve"))
        inf = arm.get("inference", {}).get("tokens_per_answer")
        lines.append(f"| {name} | {arm['rows']} | {comp['clean_fraction']:.0%} | "
                     f"{rep['budget']['arm_epochs'][name]:g} | {arm['max_steps']} | {T._fmt(m['chrf'])} | "
                     f"{T._fmt(m['bleu'])} | {T._fmt(m['eval_loss'], 3)} | {low} | {rise} | "
                     f"{arm['tokens']['mean']:,.0f} | {arm['seconds']['mean']:.0f} | "
                     f"{T._fmt(inf) if inf else '-'} |")
    d = rep["differences"]["curated-raw"]
    lines += ["", "| paired difference (by seed) | chrF | BLEU | exact match | eval loss |", "|---|---:|---:|---:|---:|",
              f"| curated − raw | {T._fmt(d['chrf'])} | {T._fmt(d['bleu'])} | {T._fmt(d['exact_match'])} | "
              f"{T._fmt(d['eval_loss'], 3)} |", "",
              f"**Verdict:** {res['verdict']['chrf']}; {res['verdict']['eval_loss']}.", "",
              f"Cost: the raw arm trained on {res['cost']['token_ratio']:.1f}× the curated arm's tokens and took "
              f"{res['cost']['seconds_ratio']:.1f}× its seconds. Curated by: {res['curated_by']} "
              f"({res['seconds']['curate']:.0f} s). Eval-loss curves: `{res['charts']['eval_loss_curves']}`. "
              f"Machine: {res['machine']['device']}, {res['machine']['cpus']} CPUs; total "
              f"{res['seconds']['total'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def _raw_rows(text: str) -> int | str:
    if text in ("curated", "match"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected 'curated', 'match' or a row count") from None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = _presets.parser(__doc__, "experiment_epochs", "data seed (noise, split, curate, raw subset)",
                         ("noisy_rows", "target", "eval_items", "seeds", "max_new_tokens", "eval_points", "batch_size",
                          "threads"), ("raw_epochs", "curated_epochs"))
    ap.add_argument("--raw-rows", default="curated", type=_raw_rows,
                    help="raw arm's subset: 'curated' (its row count), 'match' (equal tokens) or a row count")
    args = ap.parse_args(argv)

    name, preset = _presets.choose(args, PRESETS)
    raw_rows: int | str = args.raw_rows
    preset, work = T.prepare(preset, args.device, args.workdir, f"experiment-epochs-{name}")
    from finesift.train import compare
    from finesift.train.comparison import verdict

    t0 = time.perf_counter()

    pool, ev = T.split(args.seed, preset.eval_items)
    noisy = T.noisy_rows(pool, preset.noisy_rows, args.seed)
    labels = {r["id"]: r["noise"] for r in noisy}
    noisy_path = T.write_jsonl(work / "noisy.jsonl", noisy, drop=("noise",))
    eval_path = T.write_jsonl(work / "eval.jsonl", [{"instruction": T.CANONICAL.format(en), "input": "", "output": fr}
                                                    for en, frs in ev for fr in frs])
    kept_path, curated_by, curate_s = T.run_curate(noisy_path, eval_path, work / "curated", preset.target,
                                                   args.seed, preset.curate_models, args.device)
    kept_ids = T.read_ids(kept_path)

    model = _presets.model_path(args, preset, work)
    cmp = compare(noisy_path, kept_path, eval_path, work / "compare",
                  {"seeds": preset.seeds, "budget": "epochs", "max_new_tokens": preset.max_new_tokens,
                   "arm_epochs": {"curated": preset.curated_epochs, "raw": preset.raw_epochs}, "raw_rows": raw_rows,
                   "eval_points": preset.eval_points, "generation_batch_size": preset.generation_batch_size,
                   "keep_adapters": False, "train": _presets.train_settings(args, preset, model)},
                  progress=True)
    rep = cmp.report
    if any(rep["eval"]["overlap"].values()):  # compare refuses this already; the result must say it was checked
        raise SystemExit(f"eval prompts overlap training prompts: {rep['eval']['overlap']}")

    sub_positions = rep["raw_subset"]["positions"]  # the raw arm's rows in the noisy file
    diff = rep["differences"]["curated-raw"]
    arms = rep["arms"]
    first_run = orjson.loads((Path(arms["raw"]["runs"][0]["run_dir"]) / "summary.json").read_bytes())
    res = {
        "preset_name": name,
        "preset": asdict(preset),
        "model": _presets.model_label(args, preset),
        "curated_by": curated_by,
        "data": {"noisy_rows": len(noisy), "curated_rows": len(kept_ids), "raw_rows": len(sub_positions),
                 "eval_items": len(ev), "eval_rows": sum(len(f) for _, f in ev), "seed": args.seed},
        "composition": {"noisy": T.composition([r["id"] for r in noisy], labels),
                        "raw": T.composition([noisy[i]["id"] for i in sub_positions], labels),
                        "curated": T.composition(kept_ids, labels)},
        "compare": {k: rep[k] for k in ("arms", "differences", "verdict", "budget", "raw_subset", "eval")},
        "verdict": {m: verdict(diff[m], m)["text"] for m in ("chrf", "eval_loss")},
        "cost": {"token_ratio": arms["raw"]["tokens"]["mean"] / max(arms["curated"]["tokens"]["mean"], 1),
                 "seconds_ratio": arms["raw"]["seconds"]["mean"] / max(arms["curated"]["seconds"]["mean"], 1e-9)},
        "charts": {k: str(work / "compare" / v) for k, v in rep["charts"].items() if v},
        "machine": T.machine(first_run),
        "seconds": {"curate": round(curate_s, 1), "total": round(time.perf_counter() - t0, 1)},
        "workdir": str(work),
    }
    for arm in res["compare"]["arms"].values():
        arm.pop("runs", None)
    T.write_results(args.results, "experiment_epochs", name, res, markdown(res))
    return res



if __name__ == "__main__":
    main()
