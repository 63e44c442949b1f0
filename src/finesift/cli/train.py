"""``finesift train DATA -o RUNDIR`` and ``finesift compare --raw RAW --curated CURATED --eval EVAL -o OUTDIR``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import orjson
import typer
from rich.table import Table

from ..config import check_device
from ..errors import ConfigError
from ._common import console as make_console
from ._common import load_config_file, parse_list, parse_map, safe_text


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("compare")(compare_cmd)


def _set(fields: dict[str, Any], pairs) -> dict[str, Any]:
    for key, val in pairs:
        if val is not None:
            fields[key] = val
    return fields


def train_cmd(
    data: str = typer.Argument(..., help="Training data (any format finesift reads)."),
    out: Path = typer.Option(..., "-o", "--out", help="Run folder: adapter/, summary.json, metrics.jsonl, loss_curve.png."),
    model: Optional[str] = typer.Option(None, "--model", help="Local Hugging Face model folder (default: SmolLM2-135M-Instruct)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Passes over the data (default 1)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (instead of --epochs)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for LoRA init, data order and dropout."),
    lr: Optional[float] = typer.Option(None, "--lr", "--learning-rate", help="Peak learning rate (default 2e-4)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Effective batch (default 8)."),
    micro_batch_size: Optional[int] = typer.Option(None, "--micro-batch-size", help="Examples per forward pass (default: batch size; halved on OOM)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Tokens per example (default 512)."),
    eval_: Optional[str] = typer.Option(None, "--eval", help="Eval file for eval loss and early stopping (default: hold out 5%)."),
    lora_r: Optional[int] = typer.Option(None, "--lora-r", help="LoRA rank (default 16)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (default auto: cuda when available)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto, bf16 or fp32 (default auto: bf16 where supported)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Force the input format."),
    map_: Optional[str] = typer.Option(None, "--map", help="Field mapping, e.g. instruction=question,output=answer."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file of TrainConfig fields."),
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints", help="Keep RUNDIR/checkpoints."),
    json_out: bool = typer.Option(False, "--json", help="Print summary.json instead of a table; no progress bar."),
) -> None:
    """LoRA fine-tuning (TRL SFTTrainer + PEFT), loss on answers only, with OOM and divergence recovery."""
    from ..train import train

    if epochs is not None and max_steps is not None:
        raise ConfigError("give --epochs or --max-steps, not both")
    device = check_device(device)
    fields = load_config_file(config_file)
    _set(fields, (("model", model), ("epochs", epochs), ("max_steps", max_steps), ("seed", seed),
                  ("learning_rate", lr), ("batch_size", batch_size), ("micro_batch_size", micro_batch_size),
                  ("max_length", max_length), ("eval_data", eval_), ("lora_r", lora_r), ("device", device),
                  ("precision", precision), ("threads", threads), ("fmt", fmt), ("field_map", parse_map(map_))))
    if keep_checkpoints:
        fields["keep_checkpoints"] = True
    result = train(data, out, fields, progress=not json_out)
    s = result.summary
    if json_out:
        sys.stdout.write(orjson.dumps(s, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    console = make_console()
    loss = s["loss"]
    fmt_f = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    console.print(f"[bold]{s['status']}[/]: {s['steps']} steps on {s['data']['examples']} examples "
                  f"({s['tokens']:,} tokens, {s['seconds']['train']:.0f} s, {s['seconds']['per_step']:.2f} s/step, "
                  f"{s['config']['device']} {s['config']['precision']})")
    console.print(f"train loss {fmt_f(loss['first'])} -> {fmt_f(loss['last'])}; eval loss of the saved adapter "
                  f"{fmt_f(loss['final_eval'])} (best during training {fmt_f(loss['best_eval'])})")
    for ev in s["events"]:
        console.print(f"[yellow]{safe_text(ev['kind'])}[/] at step {ev['step']}: {safe_text(ev['message'])}")
    console.print(f"Wrote {safe_text(out / 'adapter')}, summary.json, metrics.jsonl, loss_curve.png")


def compare_cmd(
    raw: str = typer.Option(..., "--raw", help="The raw (uncurated) training set."),
    curated: str = typer.Option(..., "--curated", help="The curated training set."),
    eval_: str = typer.Option(..., "--eval", help="Evaluation set (rows sharing a prompt are one item with several references)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: compare.json, charts, runs/."),
    model: Optional[str] = typer.Option(None, "--model", help="Local Hugging Face model folder (default: SmolLM2-135M-Instruct)."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Seeds per arm (default 3)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps per run (default: one epoch of the curated set)."),
    budget: Optional[str] = typer.Option(None, "--budget", help="steps (default), tokens or epochs."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="--budget tokens: training tokens per run."),
    sizes: Optional[str] = typer.Option(None, "--sizes", help="Learning curve over curated subset sizes, e.g. 50,100,250,500."),
    arm: Optional[list[str]] = typer.Option(None, "--arm", help="Extra arm NAME=PATH (repeatable), e.g. random=random.jsonl."),
    baselines: Optional[str] = typer.Option(
        None, "--baselines", help="Selection baselines drawn from RAW at the curated size, trained as arms: "
        "random, longest (the rows with the longest answers), e.g. --baselines random,longest."),
    arm_epochs: Optional[str] = typer.Option(
        None, "--arm-epochs", help="Passes over each arm's own data, e.g. curated=1,raw=10 (implies --budget epochs; "
        "arms not named get 1)."),
    raw_rows: Optional[str] = typer.Option(
        None, "--raw-rows", help="Train the raw arm on a seeded subset of RAW: N rows, 'curated' (the curated set's "
        "row count) or 'match' (the rows whose --arm-epochs passes cost the curated arm's training tokens)."),
    eval_points: Optional[int] = typer.Option(
        None, "--eval-points", help="Measure eval loss on EVAL K times per run (plus before training): the "
        "eval-loss curve in compare.json and eval_loss_curves.png. Only measured, never acted on."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Generation length limit (default 64)."),
    max_eval_items: Optional[int] = typer.Option(None, "--max-eval-items", help="Evaluate on at most N prompts."),
    baseline: bool = typer.Option(False, "--baseline", help="Also evaluate the untrained model."),
    seed: Optional[int] = typer.Option(None, "--seed", help="First seed (default 0)."),
    lr: Optional[float] = typer.Option(None, "--lr", "--learning-rate", help="Peak learning rate."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Effective batch."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file of CompareConfig fields."),
    json_out: bool = typer.Option(False, "--json", help="Print compare.json instead of tables."),
) -> None:
    """Train on RAW and on CURATED (same budget, several seeds) and compare downstream quality and cost."""
    from ..train import compare

    fields = load_config_file(config_file)
    device = check_device(device)
    size_list = None
    if sizes:
        try:
            size_list = [int(s) for s in parse_list(sizes) or []]
        except ValueError:
            raise ConfigError(f"--sizes {sizes}: expected comma-separated integers, e.g. 50,100,250,500") from None
    _set(fields, (("seeds", seeds), ("max_steps", max_steps), ("budget", budget), ("max_tokens", max_tokens),
                  ("sizes", size_list), ("max_new_tokens", max_new_tokens), ("max_eval_items", max_eval_items)))
    if baseline:
        fields["baseline"] = True
    if baselines:
        fields["baselines"] = parse_list(baselines)
    train_fields = dict(fields.pop("train", {}) or {})
    _set(train_fields, (("model", model), ("seed", seed), ("learning_rate", lr), ("batch_size", batch_size),
                        ("device", device)))
    if train_fields:
        fields["train"] = train_fields
    extra: dict[str, str] = {}
    for spec in arm or []:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"--arm {spec}: expected NAME=PATH, e.g. random=random.jsonl")
        extra[name.strip()] = path.strip()
    # CompareConfig validates these (and --arm-epochs implies --budget epochs there, as in a config file)
    _set(fields, (("arm_epochs", _arm_epochs(arm_epochs)), ("raw_rows", raw_rows), ("eval_points", eval_points)))
    result = compare(raw, curated, eval_, out, fields, arms=extra, progress=not json_out)
    from ..report import write_report

    write_report(result.out)
    rep = result.report
    if json_out:
        sys.stdout.write(orjson.dumps(rep, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    print_compare(rep, out)


def _arm_epochs(spec: str | None) -> dict[str, float] | None:
    """``curated=1,raw=10`` -> {"curated": 1.0, "raw": 10.0}."""
    out: dict[str, float] = {}
    for part in parse_list(spec) or []:
        name, sep, val = (x.strip() for x in part.partition("="))
        try:
            out[name] = float(val)
        except ValueError:
            out[name] = float("nan")
        if not sep or not name or not (out[name] > 0 and out[name] != float("inf")):
            raise ConfigError(f"--arm-epochs: '{part}' is not ARM=EPOCHS with a positive number, e.g. curated=1,raw=10")
    return out or None


def _cell(stat: dict[str, Any], metric: str = "") -> str:
    """``mean ±half-width`` of the 95% interval (compact enough for 80 columns; compare.json has both ends)."""
    digits = 3 if metric == "eval_loss" else 1
    ci = stat.get("ci95")
    if ci is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ±{(ci[1] - ci[0]) / 2:.{digits}f}"


_LABELS = {"chrf": "chrF", "bleu": "BLEU", "exact_match": "EM %", "eval_loss": "eval loss"}


def print_compare(rep: dict[str, Any], out: Path) -> None:
    console = make_console()
    metrics = list(next(iter(rep["arms"].values()))["metrics"])
    table = Table(title=f"compare: mean ±95% interval over {rep['config']['seeds']} seed(s)")
    for col in ["arm", "rows", *[_LABELS.get(m, m) for m in metrics], "tokens", "train s", "gen tok/answer",
                "gen ms/answer"]:
        table.add_column(col, justify="left" if col == "arm" else "right")
    for name, a in rep["arms"].items():
        inf = a.get("inference") or {}
        tok = f"{inf['tokens_per_answer']['mean']:.1f}" if "tokens_per_answer" in inf else "-"
        ms = f"{1000 * inf['seconds_per_answer']['mean']:.0f}" if "seconds_per_answer" in inf else "-"
        table.add_row(safe_text(name), str(a["rows"]), *[_cell(a["metrics"][m], m) for m in metrics],
                      f"{a['tokens']['mean']:,.0f}", f"{a['seconds']['mean']:.0f}", tok, ms)
    console.print(table)
    diff = Table(title="paired differences (by seed)")
    diff.add_column("comparison")
    for m in metrics:
        diff.add_column(_LABELS.get(m, m), justify="right")
    for name, d in rep["differences"].items():
        diff.add_row(safe_text(name), *[_cell(d[m], m) for m in metrics])
    console.print(diff)
    console.print(f"[bold]{safe_text(rep['verdict']['text'])}[/]")
    if rep.get("learning_curve"):
        lc = rep["learning_curve"]
        console.print(f"learning curve ({lc['metric']}): best at {lc['best_size']} rows; "
                      f"recommended size {lc['recommended_size']} ({lc['rule']})")
    if rep.get("raw_subset"):
        rs = rep["raw_subset"]
        console.print(f"raw arm: a seeded subset of {rs['rows']} of {rs['of']} RAW rows (--raw-rows {rs['spec']})")
    if rep["budget"].get("arm_epochs"):
        console.print("epochs per arm: " + ", ".join(f"{safe_text(n)} {e:g}" for n, e in rep["budget"]["arm_epochs"].items()
                                                     if "@" not in n))
    for name, a in rep["arms"].items():
        c = a.get("eval_loss_curve")
        if c:
            console.print(f"eval loss {safe_text(name)}: lowest {min(p['mean'] for p in c['points']):.3f} at epoch "
                          f"{c['best_epoch']:g} (step {c['best_step']}), final {c['points'][-1]['mean']:.3f} "
                          f"(rise after the lowest point {c['rise_after_best']['mean']:+.3f})")
    extra_chart = ", eval_loss_curves.png" if rep["charts"].get("eval_loss_curves") else ""
    console.print(f"Wrote {safe_text(out / 'compare.json')}, loss_curves.png, metrics.png{extra_chart}, report.html")
