"""``finesift train``: LoRA supervised fine-tuning with TRL's SFTTrainer, with recovery.

RUNDIR layout::

    adapter/            the LoRA adapter (PeftModel.from_pretrained(base, RUNDIR/adapter)) and the tokenizer
    summary.json        resolved config, versions, data counts, recovery events, losses, tokens, seconds
    metrics.jsonl       one line per step (loss, grad norm, lr), per evaluation (eval loss), per event
    loss_curve.png      train loss (raw and smoothed), eval loss, events
    train.log           what recovery changed, in words
    checkpoints/        only with keep_checkpoints, or while a run is in progress
"""

from __future__ import annotations

import math
import platform
import random
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

from ..errors import ConfigError, InputError
from ..io.atomic import atomic_open
from ..records import Dataset
from . import data as D
from .callbacks import MetricsLog, RichProgress, read_metrics
from .config import TrainConfig, build_config
from .lora import (adapter_state, load_adapter_weights, load_with_lora, resolve_device, resolve_precision,
                   resolve_threads, sft_args)
from .recovery import Event, Guard, PeakLR, Plan, run
from .sft import AnswerLossSFTTrainer

#: Files a run writes; a RUNDIR holding only these (or nothing) may be overwritten.
RUN_FILES = {"adapter", "summary.json", "metrics.jsonl", "loss_curve.png", "train.log", "checkpoints",
             "predictions.jsonl"}


@dataclass
class TrainResult:
    """A finished run. ``model`` (the PeftModel) and ``tokenizer`` stay in memory for evaluation."""

    run_dir: Path
    summary: dict[str, Any]
    model: Any = None
    tokenizer: Any = None
    formatter: Any = None
    events: list[Event] = field(default_factory=list)

    @property
    def adapter_dir(self) -> Path:
        return self.run_dir / "adapter"


def _prepare_run_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out}: exists and is not a folder")
    if out.exists():
        foreign = [p.name for p in out.iterdir() if p.name not in RUN_FILES and not p.name.startswith(".")]
        if foreign:
            raise ConfigError(f"-o {out}: the folder holds files that are not from a finesift run "
                              f"({', '.join(sorted(foreign)[:3])}); choose an empty or new folder")
        for name in RUN_FILES:  # a previous run's outputs would mix with this one's
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Hide datasets'/transformers' own progress bars and their deprecation chatter during a run.

    finesift shows one progress bar (with the loss); per-map bars for a few hundred rows and
    warnings about the libraries' internals only bury the messages that matter (recovery events).
    """
    import warnings

    from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as tf_logging

    ds_was = are_progress_bars_disabled()
    tf_was = tf_logging.is_progress_bar_enabled()
    tf_level = tf_logging.get_verbosity()
    disable_progress_bars()
    tf_logging.disable_progress_bar()
    tf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft|accelerate)")
            warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.*deprecated", category=FutureWarning)
            yield
    finally:
        if not ds_was:
            enable_progress_bars()
        if tf_was:
            tf_logging.enable_progress_bar()
        tf_logging.set_verbosity(tf_level)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    from .. import __version__

    out = {"finesift": __version__, "python": platform.python_version()}
    for pkg in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "sacrebleu"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _split_holdout(examples: list[D.Example], cfg: TrainConfig) -> tuple[list[D.Example], list[D.Example]]:
    """Hold out a seeded random fraction for eval loss when no eval file is given (whole prompts, no leakage)."""
    if cfg.eval_data or cfg.eval_holdout <= 0 or len(examples) < cfg.eval_holdout_min_rows:
        return examples, []
    n_eval = min(cfg.eval_holdout_max, max(1, int(len(examples) * cfg.eval_holdout)))
    groups: dict[bytes, list[int]] = {}
    for i, ex in enumerate(examples):  # rows sharing a prompt go to the same side
        groups.setdefault(orjson.dumps(ex.messages), []).append(i)
    keys = list(groups)
    random.Random(cfg.seed).shuffle(keys)
    held: set[int] = set()
    for k in keys:
        if len(held) >= n_eval:
            break
        held.update(groups[k])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


def schedule(n_examples: int, cfg: TrainConfig, has_eval: bool) -> dict[str, int | None]:
    """Optimizer steps, and how often to evaluate and checkpoint (about 10 times per run by default)."""
    steps_per_epoch = math.ceil(n_examples / cfg.batch_size)
    max_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    every = max(1, max_steps // 10)
    eval_steps = (cfg.eval_steps or every) if has_eval else None
    save_steps = cfg.save_steps or eval_steps or every
    if eval_steps and save_steps % eval_steps:
        save_steps = eval_steps  # checkpoints must line up with evaluations to know which one is best
    return {"max_steps": max_steps, "steps_per_epoch": steps_per_epoch, "eval_steps": eval_steps,
            "save_steps": save_steps}


def train(data: "str | Path | Dataset", out: str | Path, config: TrainConfig | dict | None = None, *,
          callbacks: list | None = None, progress: bool = False, console=None, **overrides: Any) -> TrainResult:
    """Fine-tune a LoRA adapter on ``data`` and write ``out`` (see module doc). Returns the in-memory model too.

    ``config`` is a :class:`TrainConfig`, a dict of its fields, or None; keyword ``overrides``
    set fields. ``callbacks`` are extra ``transformers.TrainerCallback`` objects (they run
    before finesift's own, so they can inspect or alter metrics). ``progress`` shows a rich
    progress bar with the loss on stderr.
    """
    with quiet_libraries():
        return _train(data, out, config, callbacks=callbacks, progress=progress, console=console, **overrides)


def _train(data, out, config, *, callbacks, progress, console, **overrides) -> TrainResult:
    import torch
    from transformers.trainer_callback import PrinterCallback

    cfg: TrainConfig = build_config(TrainConfig, config, overrides)  # type: ignore[assignment]
    out = Path(out)
    _prepare_run_dir(out)
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    threads = resolve_threads(cfg.threads, device)
    if threads:
        torch.set_num_threads(threads)

    ds = D.load(data, fmt=cfg.fmt, field_map=cfg.field_map)
    examples, skipped = D.to_examples(ds, cfg.system_prompt)
    if not examples:
        raise InputError(ds.source, "no row has a non-empty answer to train on")
    train_ex, eval_ex = _split_holdout(examples, cfg)
    eval_source = "holdout" if eval_ex else None
    if cfg.eval_data:
        eval_ds = D.load(cfg.eval_data, fmt=None, field_map=cfg.field_map)
        eval_ex, _ = D.to_examples(eval_ds, cfg.system_prompt)
        eval_source = eval_ds.source

    precision = resolve_precision(cfg.precision, device)
    model, tok, model_dir = load_with_lora(cfg, device)
    formatter = D.ChatFormatter(tok, cfg.max_length)
    train_tok = formatter.tokenize(train_ex)
    if not len(train_tok):
        raise InputError(ds.source, f"every answer was cut off by max_length={cfg.max_length}: raise --max-length")
    eval_tok = formatter.tokenize(eval_ex) if eval_ex else None
    has_eval = bool(eval_tok is not None and len(eval_tok))
    sched = schedule(len(train_tok), cfg, has_eval)
    init_adapter = adapter_state(model)

    log_path = out / "train.log"
    metrics_log = MetricsLog(out / "metrics.jsonl")
    events: list[Event] = []
    bar = RichProgress(sched["max_steps"], f"training {out.name}", console) if progress else None

    def emit(ev: Event) -> None:
        events.append(ev)
        metrics_log.write({"kind": "event", "step": ev.step, "event": ev.kind, "message": ev.message,
                           "attempt": metrics_log.attempt})
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"step {ev.step}: {ev.kind}: {ev.message}\n")
        if bar is not None:
            bar.console.print(f"[yellow]{ev.kind}[/]: {ev.message}", highlight=False)
        else:
            import logging

            logging.getLogger("finesift.train").warning("%s: %s", ev.kind, ev.message)

    guard = Guard(cfg, has_eval, emit)
    micro = cfg.micro_batch_size or cfg.batch_size
    plan = Plan(micro, cfg.batch_size // micro, cfg.gradient_checkpointing, cfg.learning_rate)
    train_hf = train_tok.to_hf()
    eval_hf = eval_tok.to_hf() if has_eval else None
    ckpt_dir = out / "checkpoints"

    def make_trainer(p: Plan, attempt: int):
        metrics_log.attempt = attempt
        args = sft_args(cfg, p, output_dir=ckpt_dir, max_steps=sched["max_steps"], device=device,
                        precision=precision, eval_steps=sched["eval_steps"], save_steps=sched["save_steps"])
        cbs = [*(callbacks or []), guard, PeakLR(p.learning_rate), metrics_log] + ([bar] if bar else [])
        trainer = AnswerLossSFTTrainer(model=model, args=args, train_dataset=train_hf, eval_dataset=eval_hf,
                                       processing_class=tok, callbacks=cbs)
        trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
        return trainer

    def reset_adapter() -> None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, init_adapter)

    t_train = time.perf_counter()
    try:
        outcome = run(make_trainer, plan, cfg, guard, emit, reset_adapter)
    finally:
        if bar is not None:
            bar.stop()
    train_seconds = time.perf_counter() - t_train
    if outcome.restore is not None:
        load_adapter_weights(model, outcome.restore.path)
    elif outcome.status == "diverged":
        reset_adapter()  # no healthy checkpoint: the untrained adapter is better than a diverged one

    model.save_pretrained(out / "adapter")
    tok.save_pretrained(out / "adapter")
    final_eval = None
    if has_eval:
        from .evaluate import eval_loss

        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        final_eval = eval_loss(model, eval_tok, pad, cfg.eval_batch_size, autocast=precision == "bf16")
    if not cfg.keep_checkpoints:
        shutil.rmtree(ckpt_dir, ignore_errors=True)

    metrics = read_metrics(out / "metrics.jsonl")
    from .plots import loss_curve

    loss_curve(metrics, out / "loss_curve.png", title=f"{Path(str(ds.source)).name}: {outcome.status}")
    train_losses = [m["loss"] for m in metrics if m.get("kind") == "train" and isinstance(m.get("loss"), float)]
    step_times = sorted(m["step_seconds"] for m in metrics if m.get("kind") == "train" and "step_seconds" in m)
    resolved = cfg.model_dump()
    resolved.update({"model": str(model_dir), "device": device, "precision": precision, "threads": threads, **sched})
    summary = {
        "config": resolved,
        "versions": _versions(),
        "data": D.describe(ds, examples, train_tok, skipped),
        "eval": {"source": eval_source, "examples": len(eval_tok) if eval_tok else 0},
        "status": outcome.status,
        # steps behind the adapter that was saved (a rollback or an early stop keeps an earlier one)
        "steps": outcome.restore.step if outcome.restore else (0 if outcome.status == "diverged" else outcome.final_step),
        "steps_run": outcome.final_step,
        "attempts": outcome.attempts,
        "plan": {"initial": {"micro_batch_size": micro, "grad_accum": cfg.batch_size // micro,
                             "gradient_checkpointing": cfg.gradient_checkpointing,
                             "learning_rate": cfg.learning_rate},
                 "final": {"micro_batch_size": outcome.plan.micro_batch_size, "grad_accum": outcome.plan.grad_accum,
                           "gradient_checkpointing": outcome.plan.gradient_checkpointing,
                           "learning_rate": outcome.plan.learning_rate}},
        "restored_checkpoint_step": outcome.restore.step if outcome.restore else None,
        "events": [e.to_dict() for e in events],
        "loss": {"first": train_losses[0] if train_losses else None,
                 "last": train_losses[-1] if train_losses else None,
                 "best_eval": guard.best_eval, "final_eval": final_eval},
        "tokens": outcome.tokens,
        "seconds": {"train": round(train_seconds, 2), "total": round(time.perf_counter() - t_start, 2),
                    "per_step": round(train_seconds / max(outcome.final_step, 1), 3),
                    # forward+backward+update only (no evaluation, checkpointing or start-up): what a budget scales with
                    "median_step": round(step_times[len(step_times) // 2], 3) if step_times else None},
    }
    with atomic_open(out / "summary.json", "wb") as fh:
        fh.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    return TrainResult(out, summary, model, tok, formatter, events)
