"""Trainer callbacks: ``metrics.jsonl`` and a rich progress bar with the current loss."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import orjson
from transformers import TrainerCallback

_TRAIN_KEYS = ("loss", "grad_norm", "learning_rate", "mean_token_accuracy", "num_tokens")


def _num(v: Any) -> Any:
    """JSON-safe number: NaN/inf become strings (orjson would write null, hiding a diverged loss)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class MetricsLog(TrainerCallback):
    """Appends one JSON line per logged train step, evaluation and recovery event.

    ``{"kind": "train", "step", "epoch", "loss", "grad_norm", "learning_rate", "tokens_seen", "step_seconds",
    "attempt", ...}``,
    ``{"kind": "eval", "step", "eval_loss", "attempt"}``, ``{"kind": "event", "step", "event", "message"}``.
    ``attempt`` increases after each recovery, so a rolled-back stretch stays visible.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.attempt = 1
        self._t0: float | None = None
        self._last: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if self._t0 is not None:
            self._last = time.perf_counter() - self._t0
        return control

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "ab") as fh:
            fh.write(orjson.dumps({k: _num(v) for k, v in record.items()}) + b"\n")

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            rec = {"kind": "train", "step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
            rec.update({k: logs[k] for k in _TRAIN_KEYS if k in logs})
            rec["tokens_seen"] = state.num_input_tokens_seen
            if self._last is not None:
                rec["step_seconds"] = round(self._last, 4)
            rec["attempt"] = self.attempt
            self.write(rec)
        elif "eval_loss" in logs:
            self.write({"kind": "eval", "step": state.global_step, "eval_loss": logs["eval_loss"],
                        "attempt": self.attempt})
        return control


def read_metrics(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


class RichProgress(TrainerCallback):
    """One progress bar for the whole run (it survives recovery attempts), showing the latest loss."""

    def __init__(self, total: int, description: str = "training", console=None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, transient=False,
        )
        self.task = self.progress.add_task(description, total=total, loss="-")
        self.started = False

    def start(self) -> None:
        if not self.started:
            self.progress.start()
            self.started = True

    def stop(self) -> None:
        if self.started:
            self.progress.stop()
            self.started = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.start()
        self.progress.update(self.task, completed=state.global_step)
        return control

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.update(self.task, completed=state.global_step)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.progress.update(self.task, loss=f"{logs['loss']:.4f}")
        return control
