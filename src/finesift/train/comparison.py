"""``finesift compare``: does the curated set train a better model than the raw one, and at what cost?

Each arm (``raw``, ``curated``, and any extra arms such as a random subset) is trained
with the same :class:`~finesift.train.config.TrainConfig` and budget, once per seed;
seed *k* gives every arm the same LoRA initialisation and data-order seed, so arms are
compared *paired* by seed. Every run is evaluated on the same EVAL prompts.

``OUTDIR/compare.json``::

    {
      "arms": {                      # "raw", "curated", then extra arms, then "curated@N" learning-curve arms
        "<arm>": {
          "data": str, "rows": int, "examples": int,
          "epoch_tokens": int,       # tokens in one pass over the arm's data: the cost of training on all of it
          "max_steps": int|null,     # optimizer steps per run under the budget
          "metrics": {"chrf"|"bleu"|"exact_match"|"eval_loss":
                        {"mean": float, "ci95": [lo, hi]|null, "std": float|null, "n": int, "values": [per seed]}},
          "tokens": {...same shape: training tokens per run...},
          "seconds": {...same shape: training wall time per run...},
          "inference": {"tokens_per_answer"|"seconds_per_answer"|"capped_share": {...same shape...}},
          "eval_loss_curve": {"points": [{"step", "epoch", "tokens", "mean", "ci95", "values"}],
                              "best_step", "final_step", "rise_after_best": {...same shape...}}|null,
          "runs": [{"seed", "run_dir", "status", "steps", "tokens", "seconds", "eval_seconds", "metrics", "events"}]
        }},
      "differences": {"curated-raw": {"<metric>"|"tokens_per_answer"|"seconds_per_answer":
                                      {"mean", "ci95", "p_value", "excludes_zero", "method", "values"}},
                      "curated-<other arm>": {...}},
      "verdict": {"metric": "chrf", "curated_vs_raw": "better"|"worse"|"no significant difference", "text": str},
      "budget": {"kind": "steps"|"tokens"|"epochs", "max_steps": {arm: n}, "max_tokens": int|null,
                 "arm_epochs": {arm: passes}},          # epochs budget only
      "raw_subset": {"rows", "of", "spec", "positions"}|null,  # raw_rows=: the raw arm is a seeded subset of RAW
                                                               # (positions: its 0-based rows in RAW)
      "eval": {"source", "items", "rows", "references_per_item", "max_new_tokens",
               "overlap": {arm: eval prompts also in the arm's training prompts}},
      "baseline": {"metrics": {...}, "seconds": float}|null,   # untrained model, with --baseline
      "learning_curve": {"metric", "points": [{"size", "arm", "mean", "ci95", "values"}], "best_size",
                         "recommended_size", "rule"}|null,
      "charts": {"loss_curves": "loss_curves.png", "metrics": "metrics.png", "learning_curve": str|null,
                 "eval_loss_curves": "eval_loss_curves.png"|null},
      "config": {...resolved CompareConfig...}, "versions": {...}, "seconds": {"total": float}
    }

``inference`` is what an arm's model costs to use: greedy tokens generated per eval answer (up to and
including the end-of-turn token; ``capped_share`` is the share that hit ``max_new_tokens``) and generation
seconds per answer. Noisy data teaches chatty, echoing answers, and that cost is paid at every inference.
Extra arms come from ``arms=`` and from ``baselines`` (``random`` and ``longest``: k rows of the raw set, k =
the curated set's size).

Claim 2 of issue 11 ("one epoch on good data beats ten on bad data") is the CompareConfig field
``arm_epochs={"curated": 1, "raw": 10}`` (which implies ``budget="epochs"``); ``raw_rows`` trains the raw arm
on a seeded subset of RAW (a row count, ``"curated"`` for the curated set's row count, or ``"match"`` for the
rows whose ``arm_epochs["raw"]`` passes cost what the curated arm's passes cost in tokens), and
``eval_points=K`` measures eval loss on EVAL K times per run (evenly spaced, plus once before the first
step), without acting on it: nothing stops, rolls back or picks a checkpoint by it. ``seconds`` excludes the
time those measurements take. All three are recorded in ``config`` with the rest of the resolved settings.

``ci95`` is a Student-t interval over seeds (null with one seed; differences then fall back
on a bootstrap over eval items, and ``method`` says so). Metric scale: chrF and BLEU 0-100,
exact match in percent, eval loss in nats per answer token (lower is better).
"""

from __future__ import annotations

import gc
import hashlib
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from transformers import TrainerCallback

from ..errors import ConfigError, InputError
from ..io.atomic import atomic_open
from ..records import Dataset
from . import data as D
from . import stats
from .callbacks import read_metrics
from .config import METRICS, CompareConfig, TrainConfig, build_config

PRIMARY_ARMS = ("raw", "curated")
#: inference-cost figures per run (lower is cheaper); paired differences are reported for the first two
INFERENCE = ("tokens_per_answer", "seconds_per_answer", "capped_share")


@dataclass
class CompareResult:
    out: Path
    report: dict[str, Any]

    @property
    def verdict(self) -> dict[str, Any]:
        return self.report["verdict"]


@dataclass
class _Arm:
    name: str
    dataset: Dataset
    examples: list[D.Example]
    tokenized: D.Tokenized
    max_steps: int | None = None
    size: int | None = None  # learning-curve arms

    def fingerprint(self) -> str:
        """What the arm trains on, token for token: a changed file never reuses an old run."""
        return _key(self.tokenized.input_ids, self.tokenized.labels)


def _key(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out}: exists and is not a folder")
    if out.exists():
        allowed = {"runs", "compare.json", "loss_curves.png", "metrics.png", "learning_curve.png", "baseline.json",
                   "report.html", "eval_loss_curves.png"}
        foreign = [p.name for p in out.iterdir() if p.name not in allowed and not p.name.startswith(".")]
        if foreign:
            raise ConfigError(f"-o {out}: the folder holds files that are not from finesift compare "
                              f"({', '.join(sorted(foreign)[:3])}); choose an empty or new folder")
    (out / "runs").mkdir(parents=True, exist_ok=True)


def _budget_steps(cfg: CompareConfig, arms: list[_Arm], curated: _Arm) -> dict[str, Any]:
    """Optimizer steps per arm under the chosen budget (``cfg.arm_epochs``: passes per arm, epochs budget only)."""
    batch = cfg.train.batch_size
    arm_epochs = _check_arm_epochs(arms, cfg.arm_epochs)
    base_steps = cfg.max_steps or cfg.train.max_steps or max(1, math.ceil(len(curated.tokenized) / batch))
    if cfg.budget == "steps":
        for a in arms:
            a.max_steps = base_steps
        return {"kind": "steps", "max_steps": {a.name: a.max_steps for a in arms}, "max_tokens": None}
    if cfg.budget == "tokens":
        budget = cfg.max_tokens or int(base_steps * batch * curated.tokenized.mean_length())
        for a in arms:  # steps that make the arm see about `budget` tokens at its own mean example length
            a.max_steps = max(1, round(budget / (batch * max(a.tokenized.mean_length(), 1.0))))
        return {"kind": "tokens", "max_steps": {a.name: a.max_steps for a in arms}, "max_tokens": budget}
    passes = {a.name: arm_epochs.get(a.name.split("@")[0], cfg.train.epochs) for a in arms}
    for a in arms:  # epochs: every arm passes over its own data; costs differ, which is the point
        a.max_steps = max(1, math.ceil(passes[a.name] * math.ceil(len(a.tokenized) / batch)))
    return {"kind": "epochs", "max_steps": {a.name: a.max_steps for a in arms}, "max_tokens": None,
            "epochs": cfg.train.epochs, "arm_epochs": passes}


def _check_arm_epochs(arms: list[_Arm], arm_epochs: dict[str, float] | None) -> dict[str, float]:
    """The config validated the numbers and the budget; which arms exist is only known once they are built."""
    arm_epochs = dict(arm_epochs or {})
    names = [a.name for a in arms if "@" not in a.name]
    unknown = [n for n in arm_epochs if n not in names]
    if unknown:
        raise ConfigError(f"per-arm epochs for unknown arm '{unknown[0]}' (arms: {', '.join(names)})")
    return arm_epochs


def raw_subset_rows(raw: _Arm, spec: int | str, curated: _Arm, raw_epochs: float, curated_epochs: float,
                    seed: int) -> list[int]:
    """Positions in RAW of the raw arm's seeded subset (sorted: input order is kept).

    ``spec``: a row count; ``"curated"``: the curated set's row count; ``"match"``: rows drawn in a seeded order
    until ``raw_epochs`` passes over them cost at least what ``curated_epochs`` passes over the curated set cost,
    in tokens (prompt and answer), so both arms have the same training bill.
    """
    order = list(range(len(raw.tokenized)))
    random.Random(seed).shuffle(order)
    if spec == "match":
        budget = curated_epochs * curated.tokenized.tokens
        picked, spent = [], 0.0
        for i in order:
            if spent >= budget:
                break
            picked.append(i)
            spent += raw_epochs * len(raw.tokenized.input_ids[i])
    else:
        if spec == "curated":
            n = len(curated.tokenized)  # the rows it trains on
        elif isinstance(spec, int) and not isinstance(spec, bool) and spec > 0:
            n = spec
        else:
            raise ConfigError(f"raw rows {spec!r}: expected a positive row count, 'curated' or 'match'")
        picked = order[:n]
    return sorted(raw.tokenized.rows[i] for i in picked)


class EvalLossCurve(TrainerCallback):
    """A TrainerCallback that measures eval loss on compare's EVAL set ``points`` times during a run.

    It only observes: nothing stops, rolls back or selects a checkpoint by these numbers (EVAL is the test
    set). After a recovery rollback a step is measured again and the last attempt's figure is kept.
    """

    def __init__(self, data: D.Tokenized, pad_id: int, max_steps: int, points: int, batch_size: int,
                 autocast: bool, epoch_steps: int):
        self.data, self.pad_id, self.batch_size, self.autocast = data, pad_id, batch_size, autocast
        self.epoch_steps = max(epoch_steps, 1)
        self.at = {max(1, round(j * max_steps / points)) for j in range(1, points + 1)}
        self.points: dict[int, dict[str, Any]] = {}
        self.seconds = 0.0

    def _measure(self, state, model) -> None:
        from .evaluate import eval_loss

        t = time.perf_counter()
        loss = eval_loss(model, self.data, self.pad_id, self.batch_size, autocast=self.autocast)
        step = int(state.global_step)
        self.points[step] = {"step": step, "epoch": round(step / self.epoch_steps, 4),
                             "tokens": int(state.num_input_tokens_seen or 0), "eval_loss": loss}
        self.seconds += time.perf_counter() - t

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0 and 0 not in self.points and model is not None:
            self._measure(state, model)
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step in self.at and model is not None:
            self._measure(state, model)
        return control

    def curve(self) -> list[dict[str, Any]]:
        return [self.points[s] for s in sorted(self.points)]


def eval_loss_curve(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Mean and interval over seeds of eval loss at each measured step, the best step, and how far the final
    loss rose above each run's best (> 0: training past the best point made the model worse on EVAL)."""
    curves = [r.get("eval_curve") for r in runs]
    if not curves or not all(curves):
        return None
    steps = sorted(set.intersection(*({p["step"] for p in c} for c in curves)))
    if not steps:
        return None
    by_step = [{p["step"]: p for p in c} for c in curves]
    points = []
    for s in steps:
        agg = stats.mean_ci([b[s]["eval_loss"] for b in by_step])
        points.append({"step": s, "epoch": by_step[0][s]["epoch"],
                       "tokens": round(sum(b[s]["tokens"] for b in by_step) / len(by_step)),
                       "mean": agg["mean"], "ci95": agg["ci95"], "values": agg["values"]})
    finite = [p for p in points if math.isfinite(p["mean"])]
    best = min(finite, key=lambda p: p["mean"]) if finite else points[-1]
    rise = stats.mean_ci([b[steps[-1]]["eval_loss"] - min(b[s]["eval_loss"] for s in steps) for b in by_step])
    return {"points": points, "best_step": best["step"], "best_epoch": best["epoch"], "final_step": steps[-1],
            "rise_after_best": rise}


def _select_items(items: list[D.EvalItem], cap: int | None, seed: int) -> list[D.EvalItem]:
    if cap is None or len(items) <= cap:
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), cap))
    return [items[i] for i in keep]


def _train_loss_curve(run_dir: Path) -> list[tuple[int, float]]:
    """The final trajectory: for each step, the loss of the last attempt that reached it."""
    by_step: dict[int, float] = {}
    for m in read_metrics(run_dir / "metrics.jsonl"):
        if m.get("kind") == "train" and isinstance(m.get("loss"), float) and math.isfinite(m["loss"]):
            by_step[m["step"]] = m["loss"]
    return sorted(by_step.items())


def _aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metrics": {m: stats.mean_ci([r["metrics"][m] for r in runs]) for m in METRICS},
        "tokens": stats.mean_ci([r["tokens"] for r in runs]),
        "seconds": stats.mean_ci([r["seconds"] for r in runs]),
        "inference": {k: stats.mean_ci([r["inference"][k] for r in runs]) for k in INFERENCE
                      if all(k in r.get("inference", {}) for r in runs)},
    }


def baseline_rows(ds: Dataset, examples: list[D.Example], kind: str, k: int, seed: int) -> list[int]:
    """Rows of a selection baseline of size ``k`` drawn from ``ds`` (sorted, so input order is kept).

    ``random``: a seeded uniform sample. ``longest``: the ``k`` rows with the longest answers in characters
    (ties: lowest row), the "Long Is More for Alignment" baseline. Rows without an answer are never "longest".
    """
    k = min(k, len(ds))
    if kind == "random":
        return sorted(random.Random(seed).sample(range(len(ds)), k))
    if kind == "longest":
        ranked = sorted(examples, key=lambda e: (-len(e.answer), e.row))
        return sorted(e.row for e in ranked[:k])
    raise ConfigError(f"unknown baseline '{kind}' (known: random, longest)")


def _prompt_key(messages: list[dict[str, str]]) -> str:
    """What makes two prompts "the same" for the overlap check: the user turns, case and spacing ignored."""
    from .evaluate import normalize

    return "\x1f".join(normalize(m["content"]).lower() for m in messages if m["role"] == "user")


def eval_overlap(items: list[D.EvalItem], arm: "_Arm") -> int:
    """Eval prompts that are also training prompts of ``arm``."""
    train = {_prompt_key(e.messages) for e in arm.examples}
    return sum(_prompt_key(it.messages) in train for it in items)


def _difference(a_runs: list[dict], b_runs: list[dict], metric: str, seed: int) -> dict[str, Any]:
    """``a - b`` paired by seed; with one seed, a paired bootstrap over eval items where per-item scores exist."""
    a_vals = [r["metrics"][metric] for r in a_runs]
    b_vals = [r["metrics"][metric] for r in b_runs]
    if len(a_runs) > 1:
        return stats.paired_difference(a_vals, b_vals)
    if metric in a_runs[0].get("per_item", {}):
        return stats.paired_bootstrap(a_runs[0]["per_item"][metric], b_runs[0]["per_item"][metric], seed=seed)
    out = stats.paired_difference(a_vals, b_vals)
    out["method"] = "single-seed (no interval)"
    return out


def _verdict(diff: dict[str, Any], metric: str, other: str = "raw", arm: str = "curated") -> dict[str, Any]:
    higher = METRICS[metric]
    mean, ci = diff["mean"], diff.get("ci95")
    if diff.get("excludes_zero"):
        good = (mean > 0) == higher
        word = "better" if good else "worse"
    else:
        word = "no significant difference"
    span = f" (95% interval {ci[0]:+.2f} to {ci[1]:+.2f})" if ci else " (no interval: one seed)"
    text = (f"{arm} vs {other} on {metric}: {mean:+.2f}{span}: "
            + (f"{arm} is {word}" if word != "no significant difference" else
               "the difference is within noise at this number of seeds"))
    return {"metric": metric, f"{arm}_vs_{other}": word, "text": text}


verdict = _verdict  # public: the presets word their own comparisons the same way


def compare(raw: "str | Path | Dataset", curated: "str | Path | Dataset", eval: "str | Path | Dataset",
            out: str | Path, config: CompareConfig | dict | None = None, *,
            arms: dict[str, "str | Path | Dataset"] | None = None, progress: bool = False, console=None,
            callbacks: list | None = None, **overrides: Any) -> CompareResult:
    """Train every arm for every seed under one budget, evaluate on ``eval``, write ``out/compare.json``.

    ``arms`` adds named arms (e.g. ``{"random": path}``) compared against ``curated``
    too. ``config`` is a :class:`CompareConfig` or dict; keyword ``overrides`` set its
    fields (``train=`` takes TrainConfig fields; ``arm_epochs=``, ``raw_rows=`` and ``eval_points=``: see
    the module doc). A run whose results already exist in ``out/runs`` with the same settings is reused, so
    an interrupted compare resumes.
    """
    from .runner import quiet_libraries

    with quiet_libraries():
        return _compare(raw, curated, eval, out, config, arms=arms, progress=progress, console=console,
                        callbacks=callbacks, **overrides)


def _compare(raw, curated, eval, out, config, *, arms, progress, console, callbacks, **overrides) -> CompareResult:
    from rich.console import Console

    from .evaluate import evaluate, predictions_records, prepare_for_eval
    from .runner import _versions, train

    cfg: CompareConfig = build_config(CompareConfig, config, overrides)  # type: ignore[assignment]
    eval_points, raw_rows = cfg.eval_points, cfg.raw_rows
    from .lora import resolve_device, resolve_precision, resolve_threads

    device = resolve_device(cfg.train.device)
    # decided once, so every run of the comparison uses the same number of threads (comparable seconds)
    threads = resolve_threads(cfg.train.threads, device)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"threads": threads})})
    if threads:
        import torch

        torch.set_num_threads(threads)
    out = Path(out)
    _prepare_out(out)
    console = console or Console(stderr=True, quiet=not progress)
    t0 = time.perf_counter()
    tcfg: TrainConfig = cfg.train

    from ..models.loading import load_tokenizer

    tok = load_tokenizer(tcfg.model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    formatter = D.ChatFormatter(tok, tcfg.max_length)

    def make_arm(name: str, data) -> _Arm:
        ds = D.load(data, fmt=tcfg.fmt, field_map=tcfg.field_map)
        ex, _ = D.to_examples(ds, tcfg.system_prompt)
        if not ex:
            raise InputError(ds.source, f"arm '{name}': no row has a non-empty answer")
        return _Arm(name, ds, ex, formatter.tokenize(ex))

    extra = dict(arms or {})
    for name in extra:
        if name in PRIMARY_ARMS or "@" in name:
            raise ConfigError(f"arm name '{name}' is reserved; choose another")
    all_arms = [make_arm("raw", raw), make_arm("curated", curated)] + [make_arm(n, d) for n, d in extra.items()]
    cur = all_arms[1]
    raw_arm = all_arms[0]
    for kind in dict.fromkeys(cfg.baselines):
        if kind in extra:
            raise ConfigError(f"arm '{kind}' is given twice (as an arm and as a baseline)")
        rows = baseline_rows(raw_arm.dataset, raw_arm.examples, kind, len(cur.dataset), tcfg.seed)
        sub = D.subset(raw_arm.dataset, rows, source=f"{raw_arm.dataset.source}#{kind}{len(rows)}")
        ex, _ = D.to_examples(sub, tcfg.system_prompt)
        if not ex:
            raise InputError(raw_arm.dataset.source, f"baseline '{kind}': no selected row has a non-empty answer")
        all_arms.append(_Arm(kind, sub, ex, formatter.tokenize(ex)))
    raw_subset = None
    if raw_rows is not None:
        # after the baselines, which are drawn from all of RAW
        passes = dict(cfg.arm_epochs or {})
        rows = raw_subset_rows(raw_arm, raw_rows, cur, passes.get("raw", tcfg.epochs),
                               passes.get("curated", tcfg.epochs), tcfg.seed)
        sub = D.subset(raw_arm.dataset, rows, source=f"{raw_arm.dataset.source}#subset{len(rows)}")
        ex, _ = D.to_examples(sub, tcfg.system_prompt)
        raw_subset = {"rows": len(rows), "of": len(raw_arm.dataset), "spec": raw_rows, "positions": rows}
        raw_arm = _Arm("raw", sub, ex, formatter.tokenize(ex))
        all_arms[0] = raw_arm

    # learning-curve arms: nested seeded subsets of the curated set
    curve_arms: list[_Arm] = []
    if cfg.sizes:
        order = list(range(len(cur.dataset)))
        random.Random(tcfg.seed).shuffle(order)
        for size in cfg.sizes:
            if size >= len(cur.dataset):
                continue  # the full curated arm is the last point
            rows = sorted(order[:size])
            sub = D.subset(cur.dataset, rows, source=f"{cur.dataset.source}@{size}")
            ex, _ = D.to_examples(sub, tcfg.system_prompt)
            curve_arms.append(_Arm(f"curated@{size}", sub, ex, formatter.tokenize(ex), size=size))
    budget = _budget_steps(cfg, all_arms + curve_arms, cur)

    eval_ds = D.load(eval, fmt=tcfg.fmt, field_map=tcfg.field_map)
    eval_ex, _ = D.to_examples(eval_ds, tcfg.system_prompt)
    if not eval_ex:
        raise InputError(eval_ds.source, "the eval set has no row with an answer")
    items = _select_items(D.eval_items(eval_ex), cfg.max_eval_items, tcfg.seed)
    overlap = {a.name: eval_overlap(items, a) for a in all_arms}
    if any(overlap.values()) and not cfg.allow_eval_overlap:
        worst = max(overlap, key=overlap.get)
        raise ConfigError(f"{overlap[worst]} of {len(items)} eval prompts also appear in the training data of arm "
                          f"'{worst}' (per arm: {overlap}); remove them from the eval set, or pass "
                          "allow_eval_overlap=True to measure anyway")
    kept_rows = {r for it in items for r in it.rows}
    eval_tok = formatter.tokenize([e for e in eval_ex if e.row in kept_rows])
    eval_fp = _key(eval_tok.input_ids, eval_tok.labels, [it.references for it in items])

    eval_dtype = resolve_precision(cfg.eval_dtype, device)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    batch = tcfg.batch_size

    def run_eval(model, tokenizer, fmt) -> Any:
        return evaluate(model, tokenizer, fmt, items, eval_tok, max_new_tokens=cfg.max_new_tokens,
                        batch_size=cfg.generation_batch_size, loss_batch_size=tcfg.eval_batch_size)

    baseline = None
    if cfg.baseline:
        bpath = out / "baseline.json"
        bkey = _key(str(tcfg.model), eval_fp, cfg.max_new_tokens, eval_dtype)
        cached = orjson.loads(bpath.read_bytes()) if bpath.exists() else None
        if cached and cached.get("key") == bkey:
            baseline = cached
        else:
            from ..models.loading import load_causal_lm

            bmodel, btok = load_causal_lm(tcfg.model, device=device)
            t = time.perf_counter()
            res = run_eval(prepare_for_eval(bmodel, eval_dtype), btok, D.ChatFormatter(btok, tcfg.max_length))
            baseline = {"key": bkey, "metrics": res.metrics, "seconds": round(time.perf_counter() - t, 2)}
            with atomic_open(bpath, "wb") as fh:
                fh.write(orjson.dumps(baseline))
            del bmodel
            gc.collect()
        console.print("baseline (untrained): " + ", ".join(f"{k} {v:.2f}" for k, v in baseline["metrics"].items()))

    runs: dict[str, list[dict[str, Any]]] = {a.name: [] for a in all_arms + curve_arms}
    seeds = [tcfg.seed + i for i in range(cfg.seeds)]
    # Seed-major order: after any complete seed every arm has a result, so an interrupted compare is still paired.
    for seed in seeds:
        for arm in all_arms + curve_arms:
            run_dir = out / "runs" / f"{arm.name}-seed{seed}"
            run_cfg = tcfg.model_copy(update={"seed": seed, "max_steps": arm.max_steps})
            # threads change speed, not results: a resumed compare on a busier machine still reuses runs
            key_parts = [run_cfg.model_dump(exclude={"threads"}), arm.fingerprint(), eval_fp, cfg.max_new_tokens,
                         eval_dtype]
            if eval_points:  # only then: runs cached before the option existed stay valid
                key_parts.append({"eval_points": eval_points})
            key = _key(*key_parts)
            result_file = run_dir / "eval.json"
            if result_file.exists():
                cached = orjson.loads(result_file.read_bytes())
                if cached.get("key") == key:
                    runs[arm.name].append(cached)
                    console.print(f"[dim]{arm.name} seed {seed}: reusing {result_file}[/]")
                    continue
            run_callbacks = list(callbacks or [])
            curve_cb = None
            if eval_points:
                curve_cb = EvalLossCurve(eval_tok, pad_id, arm.max_steps, eval_points, tcfg.eval_batch_size,
                                         resolve_precision(tcfg.precision, device) == "bf16",
                                         math.ceil(len(arm.tokenized) / batch))
                run_callbacks.append(curve_cb)
            tr = train(arm.dataset, run_dir, run_cfg, progress=progress, console=console, callbacks=run_callbacks)
            model = prepare_for_eval(tr.model, eval_dtype)
            res = run_eval(model, tr.tokenizer, tr.formatter)
            rec = {
                "key": key, "arm": arm.name, "seed": seed, "run_dir": str(run_dir), "status": tr.summary["status"],
                "steps": tr.summary["steps"], "tokens": tr.summary["tokens"],
                # the eval-loss measurements ran inside training: they are not what training costs
                "seconds": round(tr.summary["seconds"]["train"] - (curve_cb.seconds if curve_cb else 0.0), 2),
                "eval_seconds": res.seconds,
                "metrics": res.metrics, "per_item": res.per_item, "inference": res.inference,
                "events": [e["kind"] for e in tr.summary["events"]],
            }
            if curve_cb is not None:
                rec["eval_curve"] = curve_cb.curve()
                rec["eval_curve_seconds"] = round(curve_cb.seconds, 2)
            with atomic_open(run_dir / "predictions.jsonl", "wb") as fh:
                for row in predictions_records(items, res.predictions, res.per_item):
                    fh.write(orjson.dumps(row) + b"\n")
            with atomic_open(result_file, "wb") as fh:
                fh.write(orjson.dumps(rec))
            if not cfg.keep_adapters:
                shutil.rmtree(run_dir / "adapter", ignore_errors=True)
            runs[arm.name].append(rec)
            console.print(f"[bold]{arm.name}[/] seed {seed}: " + ", ".join(
                f"{k} {v:.2f}" for k, v in res.metrics.items())
                + f"  ({rec['seconds']:.0f} s train, {sum(res.seconds.values()):.0f} s eval)")
            del tr, model
            gc.collect()

    report_arms: dict[str, Any] = {}
    for arm in all_arms + curve_arms:
        agg = _aggregate(runs[arm.name])
        report_arms[arm.name] = {
            "data": str(arm.dataset.source), "rows": len(arm.dataset), "examples": len(arm.tokenized),
            "epoch_tokens": arm.tokenized.tokens, "max_steps": arm.max_steps, **agg,
            "eval_loss_curve": eval_loss_curve(runs[arm.name]) if eval_points else None,
            "runs": [{k: v for k, v in r.items() if k not in ("per_item", "key")} for r in runs[arm.name]],
        }

    differences: dict[str, Any] = {}
    for other in [a.name for a in all_arms if a.name != "curated"]:
        differences[f"curated-{other}"] = {
            m: _difference(runs["curated"], runs[other], m, tcfg.seed) for m in METRICS}
        for k in INFERENCE[:2]:
            if k in report_arms["curated"]["inference"] and k in report_arms[other]["inference"]:
                differences[f"curated-{other}"][k] = stats.paired_difference(
                    [r["inference"][k] for r in runs["curated"]], [r["inference"][k] for r in runs[other]])
    verdict = _verdict(differences["curated-raw"][cfg.primary_metric], cfg.primary_metric)
    for other in [a.name for a in all_arms if a.name not in PRIMARY_ARMS]:
        v = _verdict(differences[f"curated-{other}"][cfg.primary_metric], cfg.primary_metric, other)
        verdict[f"curated_vs_{other}"] = v[f"curated_vs_{other}"]
        verdict["text"] += "; " + v["text"]

    curve = None
    if cfg.sizes:
        curve = learning_curve(
            [(a.size, a.name, runs[a.name]) for a in curve_arms] + [(len(cur.dataset), "curated", runs["curated"])],
            cfg.primary_metric, tcfg.seed)

    from . import plots

    charts = {
        "loss_curves": plots.compare_loss_curves(
            {a.name: [_train_loss_curve(Path(r["run_dir"])) for r in runs[a.name]] for a in all_arms},
            out / "loss_curves.png").name,
        "metrics": plots.metric_bars({a.name: report_arms[a.name]["metrics"] for a in all_arms}, list(METRICS),
                                     out / "metrics.png").name,
        "learning_curve": None,
    }
    charts["eval_loss_curves"] = None
    if eval_points:
        charts["eval_loss_curves"] = eval_loss_chart(
            {a.name: report_arms[a.name]["eval_loss_curve"] for a in all_arms}, out / "eval_loss_curves.png").name
    if curve:
        charts["learning_curve"] = plots.learning_curve(curve["points"], curve["metric"], curve["recommended_size"],
                                                        out / "learning_curve.png").name

    report = {
        "arms": report_arms,
        "differences": differences,
        "verdict": verdict,
        "budget": budget,
        "raw_subset": raw_subset,
        "eval": {"source": eval_ds.source, "items": len(items), "rows": len(eval_tok),
                 "references_per_item": round(sum(len(i.references) for i in items) / max(len(items), 1), 2),
                 "max_new_tokens": cfg.max_new_tokens, "dtype": eval_dtype, "overlap": overlap},
        "baseline": {k: v for k, v in baseline.items() if k != "key"} if baseline else None,
        "learning_curve": curve,
        "charts": charts,
        "config": cfg.model_dump(),
        "versions": _versions(),
        "seconds": {"total": round(time.perf_counter() - t0, 2)},
    }
    with atomic_open(out / "compare.json", "wb") as fh:
        fh.write(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    console.print(verdict["text"])
    return CompareResult(out, report)


def learning_curve(points: list[tuple[int, str, list[dict]]], metric: str, seed: int = 0) -> dict[str, Any]:
    """Mean and interval per size; recommend the smallest size within noise of the best.

    "Within noise": the paired difference best - size (by seed; by eval item with one
    seed) has a 95% interval that contains 0.
    """
    higher = METRICS[metric]
    pts = []
    for size, arm, rs in sorted(points):
        agg = stats.mean_ci([r["metrics"][metric] for r in rs])
        pts.append({"size": size, "arm": arm, "mean": agg["mean"], "ci95": agg["ci95"], "values": agg["values"],
                    "_runs": rs})
    best = (max if higher else min)(pts, key=lambda p: p["mean"])
    recommended = best["size"]
    for p in pts:  # ascending size: the first within noise of the best wins
        if p is best:
            break
        diff = _difference(best["_runs"], p["_runs"], metric, seed)
        p["difference_to_best"] = {k: diff[k] for k in ("mean", "ci95", "excludes_zero", "method")}
        if stats.within_noise(diff):
            recommended = p["size"]
            break
    for p in pts:
        p.pop("_runs")
    return {"metric": metric, "points": pts, "best_size": best["size"], "recommended_size": recommended,
            "rule": "smallest size whose paired difference to the best size has a 95% interval containing 0"}


def eval_loss_chart(curves: dict[str, dict[str, Any] | None], path: Path) -> Path:
    """Eval loss per arm against passes over the arm's own data and against training tokens (mean over seeds,
    band: 95% interval, dot: the best point): where training on an arm's data starts to hurt."""
    from .plots import _plt

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, c in curves.items():
        if not c:
            continue
        for ax, x_key in zip(axes, ("epoch", "tokens")):
            xs = [p[x_key] for p in c["points"]]
            ys = [p["mean"] for p in c["points"]]
            line, = ax.plot(xs, ys, "-o", ms=3, lw=1.8, label=name)
            band = [(x, p["ci95"]) for x, p in zip(xs, c["points"]) if p["ci95"]]
            if band:
                ax.fill_between([b[0] for b in band], [b[1][0] for b in band], [b[1][1] for b in band],
                                color=line.get_color(), alpha=0.15, lw=0)
            best = next(p for p in c["points"] if p["step"] == c["best_step"])
            ax.plot([best[x_key]], [best["mean"]], "o", ms=8, mfc="none", color=line.get_color())
    axes[0].set_xlabel("passes over the arm's own data (epochs)")
    axes[1].set_xlabel("training tokens")
    for ax in axes:
        ax.set_ylabel("eval loss (answer tokens)")
        ax.legend(fontsize=8)
    fig.suptitle("eval loss during training (mean over seeds, 95% band; ring: lowest point)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
