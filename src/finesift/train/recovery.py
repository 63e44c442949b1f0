"""Recovery from the two failures fine-tuning runs hit most: out of memory, and a loss that diverges.

The training loop is TRL's. Recovery wraps it from outside:

* **Out of memory** (CUDA OOM, or an allocation failure on CPU) surfaces as an exception
  from ``trainer.train()``. At that moment no optimizer step is half-applied (the
  failure is in a forward or backward pass), so the trainer's live state *is* the last
  completed step: it is checkpointed, the micro-batch is halved and gradient
  accumulation doubled (same effective batch), and a new trainer resumes from that
  checkpoint. At micro-batch 1, gradient checkpointing is turned on; if that is not
  enough either, the run stops with a message saying what to change.
* **Divergence** (a NaN/inf loss or gradient, or a smoothed loss far above its best) is
  spotted by :class:`Guard`, a ``TrainerCallback`` that stops the trainer. The loop rolls
  back to the best checkpoint and retries with the learning rate multiplied by
  ``divergence_lr_factor``, at most ``divergence_retries`` times, then gives up and keeps
  the best checkpoint.
* **Eval loss that keeps rising** (the usual sign of fitting noise) stops training after
  ``early_stopping_patience`` evaluations without improvement; the best checkpoint is kept.

Every change is an :class:`Event`: printed, written to ``metrics.jsonl`` and kept in
``summary.json``.
"""

from __future__ import annotations

import gc
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from transformers import TrainerCallback

from ..errors import FinesiftError
from .config import TrainConfig

CHECKPOINT_PREFIX = "checkpoint-"


class TrainingError(FinesiftError):
    """Training cannot continue (e.g. out of memory at micro-batch 1); the message says what to change."""


@dataclass
class Event:
    """Something the recovery logic noticed or changed, at a given optimizer step."""

    step: int
    kind: str  # oom | diverged | rollback | gave_up | early_stop
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    """The knobs recovery turns. The effective batch (micro x accumulation) never changes."""

    micro_batch_size: int
    grad_accum: int
    gradient_checkpointing: bool
    learning_rate: float

    @property
    def effective_batch(self) -> int:
        return self.micro_batch_size * self.grad_accum


def is_oom(exc: BaseException) -> bool:
    """True for CUDA out-of-memory and for CPU allocation failures."""
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return any(s in msg for s in ("out of memory", "can't allocate memory", "cannot allocate memory",
                                      "defaultcpuallocator"))
    return False


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def shrink(plan: Plan) -> tuple[Plan, str] | None:
    """The next, smaller-memory plan after an OOM and what changed; None when nothing is left to try."""
    if plan.micro_batch_size > 1:
        new = Plan(plan.micro_batch_size // 2, plan.grad_accum * 2, plan.gradient_checkpointing, plan.learning_rate)
        return new, (f"micro-batch {plan.micro_batch_size} -> {new.micro_batch_size}, gradient accumulation "
                     f"{plan.grad_accum} -> {new.grad_accum} (effective batch stays {new.effective_batch})")
    if not plan.gradient_checkpointing:
        new = Plan(plan.micro_batch_size, plan.grad_accum, True, plan.learning_rate)
        return new, "micro-batch is already 1: gradient checkpointing turned on"
    return None


@dataclass
class _Checkpoint:
    step: int
    path: Path
    score: float | None  # what "best" means: eval loss when there is eval data, else smoothed train loss
    ema: float | None
    pending: bool = False  # train-loss score not known yet (see Guard.on_log)


class Guard(TrainerCallback):
    """Watches train and eval loss: divergence, early stopping, and which checkpoint is best.

    One Guard lives across all attempts of a run, so the best values and checkpoints
    survive a rollback.

    Without eval data a checkpoint is judged by train loss. The loss logged at step k was
    computed *before* update k, so checkpoint k (weights after update k) is judged by the
    loss logged at step k+1: its score stays pending until then, and a checkpoint whose
    next loss diverges is discarded.
    """

    EMA_ALPHA = 0.2  # smoothing of the per-step train loss: single noisy batches must not trigger a rollback
    WARMUP_LOGS = 3  # logged steps before the ratio test applies (the first losses move fast)

    def __init__(self, cfg: TrainConfig, has_eval: bool, emit: Callable[[Event], None]):
        self.cfg = cfg
        self.has_eval = has_eval
        self.emit = emit
        self.ema: float | None = None
        self.best_ema: float | None = None
        self.n_logs = 0
        self.best_eval: float | None = None
        self.last_eval: float | None = None
        self.bad_evals = 0
        self.checkpoints: dict[int, _Checkpoint] = {}
        self.diverged: str | None = None
        self.early_stopped = False

    # -- attempts -------------------------------------------------------------------------------
    def start_attempt(self) -> None:
        self.diverged = None

    def rollback(self, ckpt: _Checkpoint | None) -> None:
        """Forget everything after ``ckpt`` (its state is where training resumes) and delete later checkpoints."""
        step = ckpt.step if ckpt else 0
        for s in [s for s in self.checkpoints if s > step]:
            shutil.rmtree(self.checkpoints.pop(s).path, ignore_errors=True)
        self.ema = ckpt.ema if ckpt else None
        self.bad_evals = 0
        self.diverged = None

    def best_checkpoint(self) -> _Checkpoint | None:
        scored = [c for c in self.checkpoints.values() if c.score is not None and math.isfinite(c.score)]
        if not scored:
            return None
        return min(scored, key=lambda c: (c.score, -c.step))

    def record_checkpoint(self, step: int, path: Path, score: float | None = None) -> None:
        pending = score is None and not self.has_eval
        self.checkpoints[step] = _Checkpoint(step, Path(path), score, self.ema, pending)
        self._prune()

    def _prune(self) -> None:
        """Keep the best, the two latest and any still-pending checkpoint: all a rollback or a resume can need
        (the latest may turn out to hold the weights that diverged)."""
        best = self.best_checkpoint()
        keep = set(sorted(self.checkpoints)[-2:]) | {best.step if best else None}
        for s in [s for s, c in self.checkpoints.items() if s not in keep and not c.pending]:
            shutil.rmtree(self.checkpoints.pop(s).path, ignore_errors=True)

    def _settle_pending(self, healthy: bool) -> None:
        """The loss just logged judges the pending checkpoints' weights."""
        for s, c in list(self.checkpoints.items()):
            if not c.pending:
                continue
            if healthy:
                c.score, c.ema, c.pending = self.ema, self.ema, False
            else:  # its weights produced the diverged loss
                shutil.rmtree(self.checkpoints.pop(s).path, ignore_errors=True)
        if healthy:
            self._prune()

    # -- callback hooks -------------------------------------------------------------------------
    def _diverge(self, control, state, reason: str, train_loss: bool = True) -> None:
        if self.diverged is None:
            self.diverged = reason
            self.emit(Event(state.global_step, "diverged", f"divergence at step {state.global_step}: {reason}"))
        self._settle_pending(healthy=False)
        if train_loss:  # the train loss logged at step k was computed with checkpoint k-1's weights
            for s in [s for s in self.checkpoints if s >= state.global_step - 1]:
                shutil.rmtree(self.checkpoints.pop(s).path, ignore_errors=True)
        control.should_training_stop = True
        control.should_evaluate = False
        control.should_save = False  # never checkpoint a diverged state

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs or self.diverged:
            return control
        loss = float(logs["loss"])
        grad = logs.get("grad_norm")
        if not math.isfinite(loss):
            self._diverge(control, state, f"train loss is {loss}")
            return control
        if grad is not None and not math.isfinite(float(grad)):
            self._diverge(control, state, f"gradient norm is {grad}")
            return control
        self.ema = loss if self.ema is None else self.EMA_ALPHA * loss + (1 - self.EMA_ALPHA) * self.ema
        self.n_logs += 1
        if self.best_ema is not None and self.n_logs > self.WARMUP_LOGS and self._too_high(self.ema, self.best_ema):
            self._diverge(control, state, f"smoothed train loss {self.ema:.3f} vs best {self.best_ema:.3f}")
            return control
        self.best_ema = self.ema if self.best_ema is None else min(self.best_ema, self.ema)
        self._settle_pending(healthy=True)
        return control

    def _too_high(self, value: float, best: float) -> bool:
        return value > self.cfg.divergence_factor * best and value - best > self.cfg.divergence_min_rise

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.diverged or not metrics or "eval_loss" not in metrics:
            return control
        loss = float(metrics["eval_loss"])
        self.last_eval = loss
        if not math.isfinite(loss):
            self._diverge(control, state, f"eval loss is {loss}", train_loss=False)
            return control
        if self.best_eval is not None and self._too_high(loss, self.best_eval):
            self._diverge(control, state, f"eval loss {loss:.3f} vs best {self.best_eval:.3f}", train_loss=False)
            return control
        if self.best_eval is None or loss < self.best_eval - 1e-4:
            self.best_eval = loss
            self.bad_evals = 0
        else:
            self.bad_evals += 1
            patience = self.cfg.early_stopping_patience
            if patience and self.bad_evals >= patience:
                self.early_stopped = True
                control.should_training_stop = True
                self.emit(Event(state.global_step, "early_stop",
                                f"eval loss has not improved for {self.bad_evals} evaluations "
                                f"(best {self.best_eval:.4f}, now {loss:.4f}): stopping; the best checkpoint is kept",
                                {"best_eval_loss": self.best_eval, "eval_loss": loss}))
        return control

    def on_save(self, args, state, control, **kwargs):
        if self.diverged:
            return control
        path = Path(args.output_dir) / f"{CHECKPOINT_PREFIX}{state.global_step}"
        # with eval data, the evaluation just before this save scored these very weights
        self.record_checkpoint(state.global_step, path, self.last_eval if self.has_eval else None)
        return control


class PeakLR(TrainerCallback):
    """Sets the schedule's peak learning rate after a resume.

    A checkpoint restores the scheduler with the learning rate it was saved with; after a
    divergence the retry must run with the lowered one, at the same point of the schedule.
    """

    def __init__(self, lr: float):
        self.lr = lr

    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        if lr_scheduler is None or optimizer is None or not hasattr(lr_scheduler, "lr_lambdas"):
            return control
        lr_scheduler.base_lrs = [self.lr for _ in lr_scheduler.base_lrs]
        for group, fn in zip(optimizer.param_groups, lr_scheduler.lr_lambdas):
            group["initial_lr"] = self.lr
            group["lr"] = self.lr * fn(max(lr_scheduler.last_epoch, 0))
        lr_scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
        return control


@dataclass
class Outcome:
    """How the recovery loop ended."""

    plan: Plan
    attempts: int
    final_step: int
    restore: _Checkpoint | None = None  # load this checkpoint's adapter as the final one
    status: str = "completed"  # completed | early_stopped | diverged
    tokens: int = 0  # training tokens (non-padding) behind the last trainer state


def save_live_checkpoint(trainer) -> Path:
    """Checkpoint the trainer's current state (model, optimizer, scheduler, RNG, step).

    Uses the Trainer's own checkpoint writer so that ``resume_from_checkpoint`` restores
    exactly this state.
    """
    trainer._save_checkpoint(trainer.model, trial=None)  # private, but the only writer resume understands
    return Path(trainer.args.output_dir) / f"{CHECKPOINT_PREFIX}{trainer.state.global_step}"


def run(make_trainer: Callable[[Plan, int], Any], plan: Plan, cfg: TrainConfig, guard: Guard,
        emit: Callable[[Event], None], reset_adapter: Callable[[], None]) -> Outcome:
    """Train until done, recovering from OOM and divergence. ``make_trainer(plan, attempt)`` builds a trainer."""
    resume: Path | None = None
    retries = 0
    attempt = 0
    while True:
        attempt += 1
        trainer = make_trainer(plan, attempt)
        guard.start_attempt()
        oom_error: str | None = None
        try:
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        except Exception as exc:  # noqa: BLE001 - only memory errors are handled, the rest re-raised
            if not (cfg.oom_recovery and is_oom(exc)):
                raise
            oom_error = str(exc)[:200]
        # Handled outside the except block: the traceback keeps the failed step's tensors alive until then.
        if oom_error is not None:
            step = trainer.state.global_step
            trainer.model.zero_grad(set_to_none=True)  # partial gradients of the failed step
            resume = save_live_checkpoint(trainer)
            guard.record_checkpoint(step, resume)
            tokens = int(trainer.state.num_input_tokens_seen or 0)
            del trainer
            free_memory()
            nxt = shrink(plan)
            if nxt is None:
                emit(Event(step, "oom", "out of memory at micro-batch 1 with gradient checkpointing: giving up"))
                raise TrainingError(
                    f"out of memory at step {step + 1} even with micro-batch 1 and gradient checkpointing. "
                    f"Lower --max-length (now {cfg.max_length}), use a smaller model, or free memory on the device."
                )
            plan, what = nxt
            emit(Event(step, "oom", f"out of memory at step {step + 1}: {what}; resuming from step {step}",
                       {"micro_batch_size": plan.micro_batch_size, "grad_accum": plan.grad_accum,
                        "gradient_checkpointing": plan.gradient_checkpointing, "error": oom_error}))
            continue

        final_step = trainer.state.global_step
        tokens = int(trainer.state.num_input_tokens_seen or 0)
        del trainer
        free_memory()
        if guard.diverged:
            best = guard.best_checkpoint()
            if retries >= cfg.divergence_retries:
                emit(Event(final_step, "gave_up",
                           f"still diverging after {retries} retr{'y' if retries == 1 else 'ies'} "
                           f"(learning rate now {plan.learning_rate:.3g}); keeping "
                           + (f"the best checkpoint (step {best.step})" if best else "the untrained adapter")
                           + ". Lower --learning-rate or check the data.",
                           {"best_step": best.step if best else 0}))
                return Outcome(plan, attempt, final_step, best, "diverged", tokens)
            retries += 1
            new_lr = plan.learning_rate * cfg.divergence_lr_factor
            emit(Event(final_step, "rollback",
                       f"rolling back to step {best.step if best else 0} and retrying with learning rate "
                       f"{plan.learning_rate:.3g} -> {new_lr:.3g} (retry {retries}/{cfg.divergence_retries})",
                       {"to_step": best.step if best else 0, "learning_rate": new_lr, "retry": retries}))
            guard.rollback(best)
            plan = Plan(plan.micro_batch_size, plan.grad_accum, plan.gradient_checkpointing, new_lr)
            if best is None:
                reset_adapter()
                resume = None
            else:
                resume = best.path
            continue
        if guard.early_stopped:
            return Outcome(plan, attempt, final_step, guard.best_checkpoint(), "early_stopped", tokens)
        return Outcome(plan, attempt, final_step, None, "completed", tokens)
