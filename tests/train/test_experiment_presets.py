"""benchmarks/_presets.py: the command line the three experiment presets share, and how it picks a preset."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
PRESETS = ("experiment_tatoeba", "experiment_epochs", "experiment_eras")
SHARED = ("--quick", "--full", "--workdir", "--seeds", "--eval-items", "--max-new-tokens",
          "--batch-size", "--threads", "--curate-models", "--model", "--device")


def _load(name: str):
    sys.path.insert(0, str(BENCH))  # the presets import _presets and experiment_tatoeba from their folder
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _options(text: str) -> dict[str, str]:
    """Option -> its help text, from an argparse --help."""
    out, current = {}, None
    for line in text.split("options:", 1)[1].splitlines():
        m = re.match(r"  (-{1,2}[\w-]+)", line)
        if m:
            current = m.group(1)
            out[current] = line[len(m.group(0)):].strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return {k: " ".join(re.sub(r"^[A-Z_]+\s*", "", v).split()) for k, v in out.items()}


def test_every_preset_takes_the_shared_options_from_presets_parser(capsys):
    shared = _options(_load("_presets").parser("doc", "stem", "seed", ("seeds", "eval_items", "max_new_tokens",
                                                                       "batch_size", "threads")).format_help())
    for name in PRESETS:
        with pytest.raises(SystemExit):
            _load(name).main(["--help"])
        own = _options(capsys.readouterr().out)
        for opt in SHARED:
            assert own[opt] == shared[opt], (name, opt)
        assert own["--results"] == f"folder for {name}*.json/.md"


def test_choose_applies_overrides_to_the_named_size_but_not_the_model():
    presets = _load("_presets")
    exp = _load("experiment_epochs")
    ap = presets.parser("doc", "experiment_epochs", "seed", ("seeds", "eval_points"), ("raw_epochs",))
    args = ap.parse_args(["--full", "--seeds", "2", "--raw-epochs", "4.5", "--model", "/m"])
    name, preset = presets.choose(args, exp.PRESETS)
    assert name == "full" and preset.seeds == 2 and preset.raw_epochs == 4.5
    assert preset.eval_points == exp.PRESETS["full"].eval_points and preset.model is None
    assert presets.model_label(args, preset) == "/m"
    assert presets.choose(ap.parse_args([]), exp.PRESETS)[0] == "cpu"
    quick = presets.choose(ap.parse_args(["--quick"]), exp.PRESETS)[1]
    assert presets.model_label(ap.parse_args(["--quick"]), quick) == "random tiny Llama (smoke test)"
    with pytest.raises(SystemExit):
        ap.parse_args(["--quick", "--full"])
