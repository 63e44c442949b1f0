"""Base model + LoRA adapter, device and precision choice, and the SFTTrainer arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .recovery import Plan


def resolve_device(device: str | None) -> str:
    from ..models.loading import pick_device

    if device and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            from ..errors import ConfigError

            raise ConfigError("--device cuda: no CUDA device is available (use --device cpu)")
    return device or pick_device()


def resolve_threads(threads: int | None, device: str) -> int | None:
    """CPU threads for torch: ``threads`` if given, else the cores not already busy, at least 1.

    On a shared machine torch's default (one thread per core) oversubscribes the CPU and
    its threads spin-wait: measured here with SmolLM2 at load ~7 on 2 cores, a LoRA step
    took 41 s with 2 threads and 7 s with 1. The 1-minute load average says how busy the
    cores are. None (leave torch alone) off CPU or where the load is unknown.
    """
    if threads:
        return threads
    if not device.startswith("cpu"):
        return None
    try:
        cpus = len(os.sched_getaffinity(0))
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return max(1, min(cpus, int(cpus - load + 0.5)))


def bf16_supported(device: str) -> bool:
    """bf16 only where the hardware does it natively; emulated bf16 is slower than fp32."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` -> ``bf16`` where supported, else ``fp32``. An explicit ``bf16`` is honoured (autocast)."""
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def load_with_lora(cfg: TrainConfig, device: str):
    """``(peft_model, tokenizer, model_dir)``: fp32 base weights (autocast does bf16), LoRA seeded by cfg.seed."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    from ..models.loading import load_causal_lm, resolve_model_dir

    model_dir = resolve_model_dir(cfg.model)
    model, tok = load_causal_lm(model_dir, device=device)
    set_seed(cfg.seed)  # LoRA's A matrices are random: the seed decides them
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, lora), tok, Path(model_dir)


def adapter_state(model) -> dict[str, Any]:
    """A copy of the adapter weights (to reset to, or to compare with)."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def load_adapter_weights(model, path: Path) -> None:
    """Load a checkpoint's adapter weights into ``model`` (rollback to the best checkpoint)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    file = Path(path) / "adapter_model.safetensors"
    set_peft_model_state_dict(model, load_file(str(file), device=str(next(model.parameters()).device)))


def sft_args(cfg: TrainConfig, plan: Plan, *, output_dir: Path, max_steps: int, device: str, precision: str,
             eval_steps: int | None, save_steps: int):
    """SFTConfig for one attempt. Logging every step: the loss curve and the divergence guard need each loss."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=plan.micro_batch_size,
        gradient_accumulation_steps=plan.grad_accum,
        learning_rate=plan.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        optim="adamw_torch",
        activation_checkpointing=plan.gradient_checkpointing,
        bf16=precision == "bf16",
        use_cpu=device == "cpu",
        seed=cfg.seed,
        data_seed=cfg.seed,
        logging_strategy="steps",
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN loss must reach the guard, not be averaged away
        eval_strategy="steps" if eval_steps else "no",
        eval_steps=eval_steps,
        per_device_eval_batch_size=cfg.eval_batch_size,
        prediction_loss_only=True,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=None,  # the Guard keeps the best and the latest checkpoint
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
        max_length=cfg.max_length,
        packing=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=device != "cpu",
    )
