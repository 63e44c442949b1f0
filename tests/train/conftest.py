"""Fixtures for the training tests: a tiny random Llama with the SmolLM2 tokenizer, and small datasets.

The model is random (hidden 32, 2 layers) so a training step takes well under a second
on CPU; it keeps SmolLM2's tokenizer and chat template, so formatting is the real one.
Nothing is downloaded: the tokenizer comes from the packaged SmolLM2 cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = {"the": "le", "cat": "chat", "dog": "chien", "house": "maison", "red": "rouge", "blue": "bleu",
         "big": "grand", "small": "petit", "runs": "court", "eats": "mange", "sleeps": "dort", "green": "vert"}


def build_tiny_model(folder: Path) -> Path:
    """Save a tiny random LlamaForCausalLM plus the SmolLM2 tokenizer to ``folder``."""
    from finesift.models.loading import save_tiny_llama

    return save_tiny_llama(folder, max_positions=256)


def translation_rows(n: int, seed: int = 0) -> list[dict]:
    """Alpaca rows 'Translate to French: w1 w2 w3' -> word-by-word French (learnable, short)."""
    import random

    rng = random.Random(seed)
    words = list(WORDS)
    rows = []
    for _ in range(n):
        picked = rng.sample(words, 3)
        rows.append({"instruction": "Translate to French: " + " ".join(picked), "input": "",
                     "output": " ".join(WORDS[w] for w in picked)})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def smollm_tokenizer():
    from transformers import AutoTokenizer

    from finesift.models.loading import default_model_dir

    return AutoTokenizer.from_pretrained(default_model_dir())


@pytest.fixture
def train_file(tmp_path) -> Path:
    return write_rows(tmp_path / "train.jsonl", translation_rows(40))


@pytest.fixture
def eval_file(tmp_path) -> Path:
    return write_rows(tmp_path / "eval.jsonl", translation_rows(8, seed=1))


@pytest.fixture
def fast(tiny_model) -> dict:
    """Settings for a few-second run: fp32 (deterministic across micro-batch sizes), no hold-out, one
    thread (on a shared 2-core machine, two torch threads spin-wait and are many times slower)."""
    return {"model": str(tiny_model), "batch_size": 4, "max_steps": 6, "eval_holdout": 0.0, "precision": "fp32",
            "lora_dropout": 0.0, "threads": 1}
