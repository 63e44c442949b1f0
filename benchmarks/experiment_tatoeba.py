"""The headline experiment: does a curated few hundred rows train a better model than a large noisy set?

    .venv/bin/python benchmarks/experiment_tatoeba.py            # reduced size: <= 30 min on a 2-core CPU
    .venv/bin/python benchmarks/experiment_tatoeba.py --full     # GPU size (all presets: benchmarks/gpu.sh)
    .venv/bin/python benchmarks/experiment_tatoeba.py --quick    # smoke run: tiny random model, seconds

From ``../shared/data/tatoeba-fra-eng.tsv`` (``english<TAB>french``, headerless, last line
cut mid-sentence and dropped here):

1. a held-out **clean eval set**: English sentences of 4-9 words, every French translation
   the file gives as a reference, prompt ``Translate to French: <en>``;
2. a large **noisy training set** from the other sentences, with the noise the project seed
   describes: typos, inconsistent prompt formats, wrong-language (echoed English) and
   mixed-language answers, chatty wrappers, cut-off answers, conflicting translations of the
   same prompt, and a few rows repeated dozens of times (some of them wrong);
3. arms: **raw** (the noisy set), **curated** (``finesift.curate`` of the noisy set down to a
   few hundred rows), and three of the curated size: **random** (a seeded random subset of the
   noisy set: the control most papers omit), **longest** (the rows with the longest answers,
   "Long Is More for Alignment"'s hard baseline) and **clean-oracle** (a seeded sample of the rows
   the hidden noise labels call clean: the ceiling curation can reach);
4. ``finesift.train.compare``: LoRA on SmolLM2-135M-Instruct, same optimizer steps per arm,
   several seeds, chrF / BLEU / exact match / eval loss with 95% intervals and paired differences.

Writes ``benchmarks/results/experiment_tatoeba[_quick|_full].json`` and ``.md`` (the README
table). Working files (datasets, runs) go to ``--workdir`` (default: the finesift cache), and
a rerun resumes finished runs. Every row of the noisy set has a hidden noise label (never
shown to curate) so the results also say how clean each arm's data was.
"""

from __future__ import annotations

import inspect
import os
import platform
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _presets  # noqa: E402
from _tatoeba import pairs  # noqa: E402

RESULTS = _presets.RESULTS
CANONICAL = "Translate to French: {}"


@dataclass(frozen=True)
class Preset:
    """Sizes and budget. ``cpu`` is sized to fit 30 minutes on 2 cores (see PRESETS)."""

    noisy_rows: int
    target: int  # curated size
    eval_items: int
    seeds: int
    max_steps: int
    max_new_tokens: int
    batch_size: int = 8
    generation_batch_size: int = 32
    model: str | None = None  # None: SmolLM2-135M-Instruct; "tiny": a random 2-layer Llama (smoke test)
    curate_models: bool = True  # curate's default model use (embeddings; LM scores on GPU); False: none at all
    baseline: bool = True
    threads: int | None = None


PRESETS = {
    "quick": Preset(noisy_rows=300, target=40, eval_items=12, seeds=2, max_steps=3, max_new_tokens=6, batch_size=4,
                    model="tiny", curate_models=False, baseline=False, threads=1),
    # Sized from measurements on the 2-core CPU (SmolLM2, batch 8, ~52 tokens/row, bf16 autocast): a step takes
    # ~2.2 s with 2 idle cores, ~3.6 s with 1. Curate runs its default recipe: embeddings on, LM scores only on
    # a GPU (on this CPU they cost ~0.14 s/row with 1 thread: 4,000 rows would take a third of the budget).
    # 5 arms x 3 seeds = 15 runs of 40 steps (~90 s idle) + ~30 s of generation and eval loss each: planned ~30 min,
    # measured ~40 min on idle cores (2 seeds x 5 arms in 27 min; the 100-115 s runs are the training).
    "cpu": Preset(noisy_rows=4000, target=300, eval_items=80, seeds=3, max_steps=40, max_new_tokens=24),
    # GPU size, one of the three presets benchmarks/gpu.sh runs in 8 minutes on one H100 (its limit for this one:
    # 190 s). Budget, at an assumed (not yet measured) ~0.06 s a step of batch 8 and ~3 s of fixed cost a run:
    # 5 arms x 5 seeds x 60 steps = 1,500 steps (~90 s) + 25 runs (~75 s: adapter, 200 prompts generated in 2
    # batches of 32 new tokens, eval loss) + curate of 8,000 rows (~20 s). What the GPU adds over the CPU size:
    # 5 seeds, twice the noisy rows, 2.5x the eval prompts.
    "full": Preset(noisy_rows=8000, target=300, eval_items=200, seeds=5, max_steps=60, max_new_tokens=32,
                   generation_batch_size=128),
}


# -- data ----------------------------------------------------------------------------------------

def split(seed: int, eval_items: int) -> tuple[dict[str, list[str]], list[tuple[str, list[str]]]]:
    """(training pool: english -> translations, eval: [(english, references)]), disjoint by English sentence."""
    by_en: dict[str, list[str]] = {}
    for en, fr in pairs(drop_truncated_last=True):
        by_en.setdefault(en, [])
        if fr not in by_en[en]:
            by_en[en].append(fr)
    candidates = sorted(en for en in by_en if 4 <= len(en.split()) <= 9)
    rng = random.Random(seed)
    eval_en = rng.sample(candidates, eval_items)
    norm = lambda s: re.sub(r"\W+", " ", s.lower()).strip()  # noqa: E731
    held = {norm(en) for en in eval_en}
    pool = {en: frs for en, frs in by_en.items() if norm(en) not in held}  # no near-copy of an eval prompt
    return pool, [(en, by_en[en][:5]) for en in eval_en]


def _typo(text: str, rng: random.Random) -> str:
    words = text.split()
    cands = [i for i, w in enumerate(words) if len(w) > 3]
    for i in rng.sample(cands, min(len(cands), rng.choice((1, 2)))):
        w = list(words[i])
        j = rng.randrange(1, len(w) - 1)
        op = rng.choice(("swap", "drop", "double"))
        if op == "swap":
            w[j], w[j + 1 if j + 1 < len(w) else j - 1] = w[j + 1 if j + 1 < len(w) else j - 1], w[j]
        elif op == "drop":
            del w[j]
        else:
            w.insert(j, w[j])
        words[i] = "".join(w)
    return " ".join(words)


FORMATS = ("translate french {low}", "{en} -> French", "French please: {en}", "How do you say '{en}' in French?",
           "fr: {low}", "Translate to French:{en}", "TRANSLATE TO FRENCH: {en}", "{low} in french")
CHATTY = ("Sure! Here is the translation: {fr}", 'The French translation is: "{fr}"', "{fr} (this is the French)",
          "Of course. In French you would say: {fr}")


def noisy_rows(pool: dict[str, list[str]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` Alpaca rows with hidden ``noise`` labels (``clean`` or the defect). Each English sentence once,
    except the deliberate conflicts and repeats."""
    rng = random.Random(seed)
    ens = sorted(pool)
    rng.shuffle(ens)
    all_fr = [frs[0] for frs in pool.values()]
    n_repeat_src, copies = max(2, n // 800), max(4, min(40, n // 120))  # "a few rows repeated dozens of times"
    n_base = n - n_repeat_src * copies
    rows: list[dict[str, Any]] = []
    for en in ens[:n_base]:
        fr = rng.choice(pool[en])
        r = rng.random()
        prompt, out, noise = CANONICAL.format(en), fr, "clean"
        if r < 0.18:
            prompt, noise = rng.choice(FORMATS).format(en=en, low=en.lower().rstrip(".!?")), "format"
        elif r < 0.26:
            out, noise = _typo(fr, rng), "typo_answer"
        elif r < 0.31:
            prompt, noise = CANONICAL.format(_typo(en, rng)), "typo_prompt"
        elif r < 0.38:
            out, noise = en, "wrong_language"  # the noisy arm learns to echo English
        elif r < 0.42:
            fw, ew = fr.split(), en.split()
            out, noise = " ".join(fw[: len(fw) // 2] + ew[len(ew) // 2:]), "mixed_language"
        elif r < 0.46:
            out, noise = rng.choice(CHATTY).format(fr=fr), "chatty"
        elif r < 0.49:
            out, noise = fr[: max(1, len(fr) // 2)], "truncated"
        elif r < 0.55:
            out, noise = rng.choice(all_fr), "wrong_translation"
        rows.append({"instruction": prompt, "input": "", "output": out, "noise": noise})
        if noise == "clean" and rng.random() < 0.08:  # the same prompt again with a conflicting answer
            rows.append({"instruction": prompt, "input": "", "output": rng.choice(all_fr), "noise": "conflict"})
    rows = rows[:n_base]
    for k in range(n_repeat_src):
        src = dict(rows[rng.randrange(len(rows))])
        if k % 2 == 0:  # half the repeated rows are also wrong: repetition amplifies a bad example
            src = {**src, "output": src["instruction"].split(": ", 1)[-1], "noise": "wrong_language"}
        rows.extend({**src, "noise": f"repeated:{src['noise']}"} for _ in range(copies))
    rng.shuffle(rows)
    return [{"id": f"n{i}", **r} for i, r in enumerate(rows)]


def write_jsonl(path: Path, rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for r in rows:
            fh.write(orjson.dumps({k: v for k, v in r.items() if k not in drop}) + b"\n")
    return path


def read_ids(path: Path) -> list[str]:
    return [str(orjson.loads(line).get("id")) for line in path.read_bytes().splitlines() if line.strip()]


# -- curate --------------------------------------------------------------------------------------

def run_curate(noisy: Path, eval_path: Path, out: Path, target: int, seed: int, use_models: bool,
               device: str | None) -> tuple[Path, str, float]:
    """``finesift.curate`` of the noisy set; returns (kept file, who curated, seconds).

    Falls back on :func:`stub_curate` only when ``finesift.curate`` is not installed, and says so.
    """
    t0 = time.perf_counter()
    try:
        from finesift.curate import curate
    except ImportError:
        curate = None
    if curate is None:
        kept = stub_curate(noisy, out, target, seed)
        return kept, "STUB (finesift.curate unavailable): rule-based filter, not finesift curate", \
            time.perf_counter() - t0
    kwargs: dict[str, Any] = {"target": target, "seed": seed}
    params = inspect.signature(curate).parameters
    if "eval_data" in params:
        kwargs["eval_data"] = str(eval_path)  # reject training rows that leak eval prompts
    if "no_models" in params and not use_models:
        kwargs["no_models"] = True
    if "device" in params and device:
        kwargs["device"] = device
    curate(str(noisy), str(out), **kwargs)
    kept = sorted(out.glob("kept.*"))
    if not kept:
        raise SystemExit(f"finesift curate wrote no kept.* file in {out}")
    return kept[0], "finesift curate (" + _models_used(out) + ")", time.perf_counter() - t0


def _models_used(out: Path) -> str:
    """Which model-based checks curate ran, read from its summary (the README must say what curated)."""
    try:
        summary = orjson.loads((out / "summary.json").read_bytes())
        ran = set(summary["audit"]["seconds"]["checks"])
    except (OSError, KeyError, TypeError, ValueError):
        return "default recipe"
    used = [label for code, label in (("semantic_duplicate", "embeddings"), ("lm_quality", "LM scores"))
            if code in ran]
    return "with " + " and ".join(used) if used else "rules only, no model-based scores"


def stub_curate(noisy: Path, out: Path, target: int, seed: int) -> Path:
    """STUB used only when finesift.curate is missing: canonical prompt, answer differs from the English,
    no chatter, one row per prompt, then a seeded sample. It never sees the noise labels."""
    rows = [orjson.loads(line) for line in noisy.read_bytes().splitlines() if line.strip()]
    seen: set[str] = set()
    keep = []
    for r in rows:
        m = re.fullmatch(r"Translate to French: (.+)", r["instruction"])
        if not m or r["output"].strip() == m.group(1).strip() or r["instruction"] in seen:
            continue
        if re.search(r"translation|French|Sure|Of course", r["output"]):
            continue
        seen.add(r["instruction"])
        keep.append(r)
    keep = random.Random(seed).sample(keep, min(target, len(keep)))
    return write_jsonl(out / "kept.jsonl", keep)


# -- report --------------------------------------------------------------------------------------

def composition(ids: list[str], labels: dict[str, str]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for i in ids:
        key = labels.get(i, "unknown").split(":")[0]
        counts[key] = counts.get(key, 0) + 1
    n = max(len(ids), 1)
    return {"rows": len(ids), "clean_fraction": round(counts.get("clean", 0) / n, 3),
            "counts": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}


def _fmt(stat: dict[str, Any], digits: int = 1) -> str:
    ci = stat.get("ci95")
    return f"{stat['mean']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def markdown(res: dict[str, Any]) -> str:
    rep = res["compare"]
    p = res["preset"]
    lines = [
        f"## Curated vs noisy: Tatoeba English→French, {res['model']} + LoRA ({res['preset_name']})",
        "",
        f"{p['seeds']} seed{'s' if p['seeds'] != 1 else ''} per arm, {p['max_steps']} optimizer steps each (batch {p['batch_size']}), "
        f"greedy decoding on {rep['eval']['items']} held-out sentences "
        f"({rep['eval']['references_per_item']} references each on average). "
        "Mean over seeds [95% interval].",
        "",
        "| arm | rows | clean rows | chrF | BLEU | exact match % | eval loss | train tokens | train s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, arm in rep["arms"].items():
        m = arm["metrics"]
        comp = res["composition"].get(name, {})
        lines.append(f"| {name} | {arm['rows']} | {comp.get('clean_fraction', 0):.0%} | {_fmt(m['chrf'])} | "
                     f"{_fmt(m['bleu'])} | {_fmt(m['exact_match'])} | {_fmt(m['eval_loss'], 3)} | "
                     f"{arm['tokens']['mean']:,.0f} | {arm['seconds']['mean']:.0f} |")
    if rep.get("baseline"):
        b = rep["baseline"]["metrics"]
        lines.append(f"| untrained | - | - | {b['chrf']:.1f} | {b['bleu']:.1f} | {b['exact_match']:.1f} | "
                     f"{b['eval_loss']:.3f} | 0 | 0 |")
    lines += ["", "| paired difference (by seed) | chrF | BLEU | exact match | eval loss |", "|---|---:|---:|---:|---:|"]
    for name, d in rep["differences"].items():
        lines.append(f"| {name} | {_fmt(d['chrf'])} | {_fmt(d['bleu'])} | {_fmt(d['exact_match'])} | "
                     f"{_fmt(d['eval_loss'], 3)} |")
    lines += ["", f"**Verdict:** {rep['verdict']['text']}.", "",
              f"Curated by: {res['curated_by']} ({res['seconds']['curate']:.0f} s). "
              f"One epoch over each arm's data costs {rep['arms']['raw']['epoch_tokens']:,} tokens (raw) vs "
              f"{rep['arms']['curated']['epoch_tokens']:,} (curated). Machine: {res['machine']['device']}, "
              f"{res['machine']['cpus']} CPUs; total {res['seconds']['total'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------------------

def prepare(preset: Any, device: str | None, workdir: Path | None, label: str) -> tuple[Any, Path]:
    """Offline hub, one torch thread count for every stage (curate's model scores too: oversubscribed torch
    threads spin), and the work folder (``workdir`` or the cache folder ``label``): the preset with its threads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from finesift.models.cache import cache_dir
    from finesift.train.lora import resolve_device, resolve_threads

    threads = resolve_threads(preset.threads, resolve_device(device))
    if threads:
        torch.set_num_threads(threads)
        preset = replace(preset, threads=threads)
    work = workdir or cache_dir(label)
    work.mkdir(parents=True, exist_ok=True)
    return preset, work


def machine(first_run: dict[str, Any]) -> dict[str, Any]:
    """Where a preset ran (device, precision, GPU, CPUs, torch threads, platform), from its first run's config."""
    import torch

    device = first_run["config"]["device"]
    return {"device": device, "precision": first_run["config"]["precision"],
            "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
            "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "platform": platform.platform(),
            "torch": torch.__version__}


def write_results(folder: Path, stem: str, name: str, res: dict[str, Any], md: str) -> None:
    """``folder/stem[_name].json`` and ``.md`` (no suffix for the CPU size, the README's), and the markdown on stdout."""
    suffix = "" if name == "cpu" else f"_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}{suffix}.json").write_bytes(orjson.dumps(res, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    (folder / f"{stem}{suffix}.md").write_text(md, encoding="utf-8")
    print(md)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = _presets.parser(__doc__, "experiment_tatoeba", "data seed (noise, split, curate, random subset)",
                         ("noisy_rows", "target", "eval_items", "seeds", "max_steps", "max_new_tokens", "batch_size",
                          "threads"))
    ap.add_argument("--stub-curate", action="store_true", help="use the rule-based stub instead of finesift curate")
    args = ap.parse_args(argv)

    name, preset = _presets.choose(args, PRESETS)
    preset, work = prepare(preset, args.device, args.workdir, f"experiment-tatoeba-{name}")
    t0 = time.perf_counter()

    pool, ev = split(args.seed, preset.eval_items)
    noisy = noisy_rows(pool, preset.noisy_rows, args.seed)
    labels = {r["id"]: r["noise"] for r in noisy}
    noisy_path = write_jsonl(work / "noisy.jsonl", noisy, drop=("noise",))
    write_jsonl(work / "noise_labels.jsonl", [{"id": r["id"], "noise": r["noise"]} for r in noisy])
    eval_path = write_jsonl(work / "eval.jsonl", [{"instruction": CANONICAL.format(en), "input": "", "output": fr}
                                                  for en, frs in ev for fr in frs])

    if args.stub_curate:
        t = time.perf_counter()
        kept_path, curated_by = stub_curate(noisy_path, work / "curated", preset.target, args.seed), \
            "STUB (--stub-curate): rule-based filter, not finesift curate"
        curate_s = time.perf_counter() - t
    else:
        kept_path, curated_by, curate_s = run_curate(noisy_path, eval_path, work / "curated", preset.target,
                                                     args.seed, preset.curate_models, args.device)
    kept_ids = read_ids(kept_path)
    rng = random.Random(args.seed + 1)
    random_rows = rng.sample([{k: v for k, v in r.items() if k != "noise"} for r in noisy], len(kept_ids))
    random_path = write_jsonl(work / "random.jsonl", random_rows)
    # the hard baselines of issue 11's claim 1, at the curated size: the longest answers ("Long Is More for
    # Alignment": compare's own `longest` rule, so the arm is what `--baselines longest` trains) and the
    # rows the hidden labels call clean (the ceiling curation can reach)
    from finesift.train import data as train_data
    from finesift.train.comparison import baseline_rows

    plain = [{k: v for k, v in r.items() if k != "noise"} for r in noisy]
    noisy_ds = train_data.load(noisy_path)
    longest_rows = [plain[i] for i in baseline_rows(noisy_ds, train_data.to_examples(noisy_ds)[0], "longest",
                                                    len(kept_ids), args.seed)]
    clean = [plain[i] for i, r in enumerate(noisy) if r["noise"] == "clean"]
    oracle_rows = sorted(random.Random(args.seed + 2).sample(range(len(clean)), min(len(kept_ids), len(clean))))
    oracle_rows = [clean[i] for i in oracle_rows]
    extra_arms = {"random": random_path, "longest": write_jsonl(work / "longest.jsonl", longest_rows),
                  "clean-oracle": write_jsonl(work / "clean_oracle.jsonl", oracle_rows)}

    model = _presets.model_path(args, preset, work)
    from finesift.train import compare

    cmp = compare(noisy_path, kept_path, eval_path, work / "compare",
                  {"seeds": preset.seeds, "max_steps": preset.max_steps, "max_new_tokens": preset.max_new_tokens,
                   "generation_batch_size": preset.generation_batch_size, "baseline": preset.baseline,
                   "keep_adapters": False, "train": _presets.train_settings(args, preset, model)},
                  arms=extra_arms, progress=True)
    rep = cmp.report

    first_run = orjson.loads((Path(rep["arms"]["raw"]["runs"][0]["run_dir"]) / "summary.json").read_bytes())
    res = {
        "preset_name": name,
        "preset": asdict(preset),
        "model": _presets.model_label(args, preset),
        "curated_by": curated_by,
        "data": {"noisy_rows": len(noisy), "curated_rows": len(kept_ids), "eval_items": len(ev),
                 "eval_rows": sum(len(f) for _, f in ev), "seed": args.seed},
        "composition": {"raw": composition([r["id"] for r in noisy], labels),
                        "curated": composition(kept_ids, labels),
                        "random": composition([r["id"] for r in random_rows], labels),
                        "longest": composition([r["id"] for r in longest_rows], labels),
                        "clean-oracle": composition([r["id"] for r in oracle_rows], labels)},
        "compare": {k: rep[k] for k in ("arms", "differences", "verdict", "budget", "eval", "baseline")},
        "machine": machine(first_run),
        "seconds": {"curate": round(curate_s, 1), "total": round(time.perf_counter() - t0, 1)},
        "workdir": str(work),
    }
    for arm in res["compare"]["arms"].values():
        arm.pop("runs", None)
    write_results(args.results, "experiment_tatoeba", name, res, markdown(res))
    return res


if __name__ == "__main__":
    main()
