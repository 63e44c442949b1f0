"""What the experiment presets (``experiment_*.py``) share: their command line and how it picks a preset.

Every preset has the same three sizes (``--quick``: a tiny random model, seconds; default: the CPU size;
``--full``: the GPU size), the same work and result folders, per-field overrides of its ``Preset`` and the
same model and device options; a preset adds only its own flags.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_MODEL = "SmolLM2-135M-Instruct"


def parser(doc: str, stem: str, seed_help: str, int_fields: Iterable[str],
           float_fields: Iterable[str] = ()) -> argparse.ArgumentParser:
    """The shared options; ``stem`` names the result files, ``*_fields`` the Preset fields that can be overridden."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke run: tiny random model, tiny data (seconds)")
    size.add_argument("--full", action="store_true", help="GPU size")
    ap.add_argument("--workdir", type=Path, help="datasets and runs (default: finesift cache); reruns resume")
    ap.add_argument("--results", type=Path, default=RESULTS, help=f"folder for {stem}*.json/.md")
    ap.add_argument("--seed", type=int, default=0, help=seed_help)
    for kind, fields in ((int, int_fields), (float, float_fields)):
        for field in fields:
            ap.add_argument(f"--{field.replace('_', '-')}", type=kind, help=f"override the preset's {field}")
    ap.add_argument("--curate-models", action=argparse.BooleanOptionalAction, default=None,
                    help="--no-curate-models: curate without any model-based score (default: the preset's)")
    ap.add_argument("--model", help="local model folder (default: the preset's)")
    ap.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    return ap


def choose(args: argparse.Namespace, presets: dict[str, Any]) -> tuple[str, Any]:
    """(size name, that preset with the command line's overrides); ``--model`` is applied by :func:`model_path`."""
    name = "quick" if args.quick else "full" if args.full else "cpu"
    preset = presets[name]
    fields = type(preset).__dataclass_fields__
    return name, replace(preset, **{k: v for k, v in vars(args).items()
                                    if k in fields and k != "model" and v is not None})


def model_path(args: argparse.Namespace, preset: Any, work: Path) -> str | None:
    """The model to train: ``--model``, else the preset's; "tiny" builds the random tiny Llama in ``work``."""
    model = args.model or preset.model
    if model == "tiny":
        from finesift.models.loading import save_tiny_llama

        # a random 2-layer Llama with the SmolLM2 tokenizer: exercises every code path in seconds, learns nothing
        model = str(save_tiny_llama(work / "tiny-model", max_positions=256))
    return model


def model_label(args: argparse.Namespace, preset: Any) -> str:
    """The model's name in the results and the README table."""
    if preset.model == "tiny" and not args.model:
        return "random tiny Llama (smoke test)"
    return args.model or DEFAULT_MODEL


def train_settings(args: argparse.Namespace, preset: Any, model: str | None, **extra: Any) -> dict[str, Any]:
    """The ``train`` part of the CompareConfig: what the preset and command line set (None: compare's default)."""
    cfg = {"model": model, "batch_size": preset.batch_size, "threads": preset.threads, "device": args.device,
           **extra}
    return {k: v for k, v in cfg.items() if v is not None}
