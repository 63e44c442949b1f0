"""The curate recipe: which issue codes drop a row, thresholds, conflict policy, models, selection.

A recipe is a typed pydantic model, read from and written to YAML. ``finesift recipe --init``
writes the default one with a comment on every field (the fields' descriptions), and every
curate output folder gets the resolved recipe as ``recipe.yaml``, so a run can be repeated
with ``--recipe OUTDIR/recipe.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import AuditConfig, _default_checks
from ..errors import ConfigError

#: Reason given to rows that passed every filter but were cut by the target size.
NOT_SELECTED = "not_selected"

# Derived from the checks' metadata (``relation``, ``drop``) on first use:
#   DEDUP_CODES: relations whose groups keep one best member (the others point at it);
#   CONFLICT_CODE: the conflict relation; DEFAULT_DROP: codes that reject a row by default
#   (``typos``, ``format_outlier`` and ``lm_quality`` only lower the quality score: they
#   describe rows that are usable, just less good).


def __getattr__(name: str) -> Any:
    from ..checks import base

    if name == "DEDUP_CODES":
        return base.relation_codes("duplicate")
    if name == "CONFLICT_CODE":
        return base.relation_codes("conflict")[0]
    if name == "DEFAULT_DROP":
        return base.default_drop()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _default_drop() -> list[str]:
    from ..checks.base import default_drop

    return list(default_drop())

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelsRecipe(_Model):
    """Model-based scores. All models are local (from PyPI packages); nothing is downloaded."""

    embeddings: Literal["static", "sentence", "off"] = Field(
        "static",
        description="Sentence embeddings for semantic_duplicate, off_topic and diversity selection: "
        "static (model2vec, fast on CPU), sentence (MiniLM, better, slower) or off (lexical features instead).",
    )
    lm: bool | Literal["auto"] = Field(
        "auto", description="Score answers with a local causal LM (perplexity, instruction-following "
        "difficulty): auto = in the audit only on a CUDA GPU, and on any device the best "
        "lm_quality.curate_rows (512) rows of curate's candidate pool; true = the whole pool; false = off "
        "(on CPU SmolLM2 scores a few rows/s).")
    model: str | None = Field(None, description="Local Hugging Face folder of the causal LM (default: SmolLM2-135M-Instruct).")
    device: str | None = Field(None, description="auto, cpu, cuda, cuda:N or mps (default auto: cuda when available).")

    @field_validator("device")
    @classmethod
    def _device(cls, v: str | None) -> str | None:
        from ..config import check_device

        return check_device(v, "models.device")


class SelectionRecipe(_Model):
    """How the rows that pass the filters are cut down to the target size."""

    method: Literal["facility_location", "score_first", "quality"] = Field(
        "facility_location",
        description="facility_location: quality-weighted coverage of the embedding space (greedy, near-optimal); "
        "score_first: best quality first, skipping rows too close to one already kept (DEITA); "
        "quality: best quality only, no diversity.",
    )
    target: int | None = Field(None, ge=1, description="Rows to keep. null: keep every row that passes the filters.")
    keep_fraction: float | None = Field(
        None, gt=0, le=1, description="Alternative to target: keep this fraction of the input rows.")
    quality_exponent: float = Field(
        1.0, ge=0,
        description="facility_location: a row covers its neighbours in proportion to quality**exponent; "
        "0 ignores quality, higher values favour quality over coverage.")
    demand_sample: int = Field(
        2048, ge=16, description="facility_location: rows sampled (with the seed) as the points to cover.")
    neighbors: int = Field(
        64, ge=1, description="facility_location: each row covers only its this-many most similar sampled rows "
        "(sparse coverage: faster, nearly the same selection).")
    min_distance: float = Field(
        0.1, ge=0, le=2,
        description="score_first: a row is skipped when its cosine distance to a kept row is below this.")
    cover_clusters: bool = Field(
        True, description="After selecting, give every cluster whose fair share of the target is at least one "
        "row its best row (in place of a pick from the most over-represented cluster).")
    clusters: int | None = Field(
        None, ge=1, description="Clusters for the per-cluster coverage report (null: sqrt(pool)/2, 2..100).")
    headroom: float = Field(
        2.0, ge=0, description="When the pool holds more than headroom x target rows, select only among the best "
        "headroom x target by (fewest soft signals, then quality); 0 = select from the whole pool.")

    @model_validator(mode="after")
    def _one_size(self) -> "SelectionRecipe":
        if self.target is not None and self.keep_fraction is not None:
            raise ValueError("give either target or keep_fraction, not both")
        return self


class Recipe(_Model):
    """Everything that decides which rows curate keeps. Defaults are the documented behaviour."""

    drop: list[str] = Field(
        default_factory=_default_drop,
        description="Issue codes that reject a row. Other codes only lower its quality score.",
    )
    checks: list[str] | None = Field(
        None,
        description="Audit checks to run (null: every audit check, plus the model checks enabled under models, "
        "plus stale/leakage when --current/--reference/--eval are given).",
    )
    thresholds: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-check parameter overrides, as in audit's config, e.g. {near_duplicate: {min_similarity: "
        "0.7}}. Every check's parameters, their defaults and help are listed below this field (and by "
        "'finesift checks'): decision thresholds re-decide a reused --audit, scoring knobs need a new audit.",
    )
    conflict_policy: Literal["keep_best", "drop_group"] = Field(
        "keep_best",
        description="Same prompt, different answers. keep_best: keep the answer most of the group agrees on, "
        "else the best-scoring one; drop_group: reject the whole group.",
    )
    quality_weights: dict[str, float] | None = Field(
        None, description="Weights of the signals in the quality score (null: finesift's defaults).")
    models: ModelsRecipe = Field(default_factory=ModelsRecipe, description="Model-based scores.")
    selection: SelectionRecipe = Field(default_factory=SelectionRecipe, description="Selection to the target size.")
    max_tokens: int = Field(2048, gt=0, description="too_long: token budget for prompt + answer.")
    expected_language: str | None = Field(
        None, description="ISO 639-1 code answers must be in (null: read from the prompt or the data).")
    seed: int = Field(0, description="Seed for everything random (sampling, clustering); ties break by row.")

    # --- derived ----------------------------------------------------------------------------

    def with_size(self, target: int | None = None, keep_fraction: float | None = None) -> "Recipe":
        """A copy with the command line's --target / --keep-fraction (which replace the recipe's)."""
        if target is not None and keep_fraction is not None:
            raise ConfigError("give either --target or --keep-fraction, not both")
        if target is None and keep_fraction is None:
            return self
        try:
            sel = SelectionRecipe(**{**self.selection.model_dump(), "target": target, "keep_fraction": keep_fraction})
        except ValidationError as exc:
            raise ConfigError(f"invalid size: {_first_error(exc)}") from exc
        return self.model_copy(update={"selection": sel})

    def target_rows(self, n: int) -> int | None:
        """Rows to keep out of ``n`` input rows (None: no size cut)."""
        sel = self.selection
        if sel.target is not None:
            return sel.target
        if sel.keep_fraction is not None:
            return max(1, int(round(sel.keep_fraction * n))) if n else 0
        return None

    def audit_config(self, *, current: str | None = None, reference: str | None = None,
                     eval_data: str | None = None, batch_size: int | None = None,
                     no_models: bool = False, threads: int | None = None) -> AuditConfig:
        """The :class:`AuditConfig` this recipe runs (model checks per ``models`` unless ``no_models``)."""
        with_models: list[str] = []
        if not no_models:
            if self.models.embeddings != "off":
                with_models.append("embeddings")
            if self.lm_enabled():
                with_models.append("lm")
        params = {k: dict(v) for k, v in self.thresholds.items()}
        fields: dict[str, Any] = {
            "checks": list(self.checks) if self.checks is not None else _default_checks(),
            "params": params,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "expected_language": self.expected_language,
            "with_models": with_models,
            "model": self.models.model,
            "device": self.models.device,
            "current": current,
            "reference": reference,
            "eval_data": eval_data,
        }
        if batch_size is not None:
            fields["batch_size"] = batch_size
        if threads is not None:
            fields["threads"] = threads
        backend = self.embedding_backend(no_models)
        if backend is not None:
            fields["embeddings"] = backend
        try:
            return AuditConfig(**fields)
        except ValidationError as exc:
            raise ConfigError(f"invalid recipe: {_first_error(exc)}") from exc

    def lm_enabled(self) -> bool:
        """Whether the audit itself scores every row with the LM: ``lm: auto`` only on a CUDA GPU (curate scores
        its candidate pool either way, within ``lm_quality.curate_rows``)."""
        if self.models.lm == "auto":
            try:
                import torch
            except ImportError:
                return False
            return bool(torch.cuda.is_available())
        return bool(self.models.lm)

    def embedding_backend(self, no_models: bool = False) -> str | None:
        """``static``/``sentence``, or None when curate should use lexical features instead."""
        if no_models or self.models.embeddings == "off":
            return None
        return self.models.embeddings

    def validate_codes(self, known: set[str]) -> None:
        """Unknown issue codes in ``drop`` are a typo, not a no-op."""
        bad = [c for c in self.drop if c not in known]
        if bad:
            raise ConfigError(f"recipe drop: unknown issue code(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")


def _first_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "recipe"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def load_recipe(path: str | Path | None) -> Recipe:
    """Read a recipe YAML (or JSON) file; None gives the default recipe. Errors name the field."""
    if path is None:
        return Recipe()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read recipe {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of recipe fields, got {type(data).__name__}")
    return parse_recipe(data, source=str(path))


def parse_recipe(data: dict[str, Any], source: str = "recipe") -> Recipe:
    try:
        return Recipe(**data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_first_error(exc)}") from exc


def recipe_yaml(recipe: Recipe | None = None, *, header: str | None = None) -> str:
    """The recipe as YAML with each field's description as a comment above it.

    ``yaml.safe_load`` of the result gives back the same recipe.
    """
    recipe = recipe or Recipe()
    lines: list[str] = []
    if header:
        lines += [f"# {h}" if h else "#" for h in header.splitlines()]
        lines.append("")
    _emit(recipe, lines, indent=0)
    return "\n".join(lines) + "\n"


def _emit(model: BaseModel, lines: list[str], indent: int) -> None:
    pad = " " * indent
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        for chunk in _wrap(field.description or ""):
            lines.append(f"{pad}# {chunk}")
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            _emit(value, lines, indent + 2)
        elif isinstance(value, (list, dict)):
            # lists inline, mappings as blocks whose innermost level is inline
            dumped = yaml.safe_dump({name: value}, default_flow_style=None, sort_keys=False, width=100,
                                    allow_unicode=True).rstrip("\n")
            lines.extend(pad + ln for ln in dumped.splitlines())
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}")
        if indent == 0 and name == "thresholds":
            lines.extend(_params_comment())
        if indent == 0:
            lines.append("")


def _scalar(value: Any) -> str:
    """One YAML scalar (quoted when needed), without the document-end marker safe_dump adds."""
    # a string with a line break (or any other unprintable character: YAML also breaks lines at NEL and
    # U+2028) as one double-quoted, escaped line: a plain multi-line scalar breaks the commented layout
    style = '"' if isinstance(value, str) and not value.isprintable() else None
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000,
                          default_style=style).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def _wrap(text: str, width: int = 96) -> list[str]:
    words, out, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            out.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    if line:
        out.append(line)
    return out


def _params_comment() -> list[str]:
    """Every check's parameters as commented-out YAML under ``thresholds`` (uncomment to override).

    Comments, not values: the written recipe stays the default one (``thresholds: {}``), and the
    defaults of a later finesift still apply to parameters the user never chose.
    """
    from ..checks.base import ordered, param_help

    lines = ["#   To override: write 'thresholds:' and uncomment a check and the parameters to change.",
             "#   Each: default value; decision = re-decides stored scores, knob = needs re-scoring.",
             "#   (these comment lines are regenerated from the checks' metadata)"]
    for cls in ordered():
        lines.append(f"#   {cls.name}:")
        for p in param_help(cls):
            lines.append(f"#     {p['name']}: {_scalar(p['default'])}")
            for chunk in _wrap(f"{p['role']}: {p['help']}", 88):
                lines.append(f"#       # {chunk}")
    return lines
