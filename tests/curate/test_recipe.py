"""The recipe: typed, YAML round-trip, clear errors, and how it maps to the audit config."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.config import DEFAULT_CHECKS
from finesift.curate.recipe import DEFAULT_DROP, Recipe, load_recipe, parse_recipe, recipe_yaml
from finesift.errors import ConfigError


def test_default_recipe_round_trips_through_yaml():
    assert Recipe(**yaml.safe_load(recipe_yaml())) == Recipe()


@settings(max_examples=50, deadline=None)
@given(
    drop=st.lists(st.sampled_from(DEFAULT_DROP), unique=True),
    policy=st.sampled_from(["keep_best", "drop_group"]),
    embeddings=st.sampled_from(["static", "sentence", "off"]),
    lm=st.booleans(),
    method=st.sampled_from(["facility_location", "score_first", "quality"]),
    size=st.one_of(st.none(), st.integers(1, 10**6), st.floats(0.001, 1.0)),
    threshold=st.floats(0, 1),
    model=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    seed=st.integers(-(2**31), 2**31),
)
def test_any_recipe_round_trips(drop, policy, embeddings, lm, method, size, threshold, model, seed):
    sel = {"method": method}
    if isinstance(size, int):
        sel["target"] = size
    elif isinstance(size, float):
        sel["keep_fraction"] = size
    rec = Recipe(drop=drop, conflict_policy=policy, models={"embeddings": embeddings, "lm": lm, "model": model},
                 selection=sel, thresholds={"near_duplicate": {"threshold": threshold}}, seed=seed)
    assert Recipe(**yaml.safe_load(recipe_yaml(rec, header="a\nb"))) == rec


def test_errors_name_the_field(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("selection:\n  target: 0\nconflict_policy: keep_all\n")
    with pytest.raises(ConfigError, match=r"conflict_policy: Input should be .*; selection.target: .*greater"):
        load_recipe(path)
    path.write_text("drop: [pii]\nmystery: 1\n")
    with pytest.raises(ConfigError, match="mystery"):
        load_recipe(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_recipe(path)
    path.write_text("selection: {target: 5, keep_fraction: 0.5}\n")
    with pytest.raises(ConfigError, match="not both"):
        load_recipe(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_recipe(tmp_path / "missing.yaml")
    path.write_text("")
    assert load_recipe(path) == Recipe()


def test_command_line_size_replaces_the_recipes():
    rec = parse_recipe({"selection": {"keep_fraction": 0.5}})
    assert rec.with_size(target=10).selection.target == 10
    assert rec.with_size(target=10).selection.keep_fraction is None
    assert rec.with_size().selection.keep_fraction == 0.5
    with pytest.raises(ConfigError, match="not both"):
        rec.with_size(target=1, keep_fraction=0.1)
    with pytest.raises(ConfigError, match="target"):
        rec.with_size(target=0)


def test_target_rows():
    assert Recipe().target_rows(100) is None
    assert parse_recipe({"selection": {"target": 7}}).target_rows(100) == 7
    assert parse_recipe({"selection": {"keep_fraction": 0.25}}).target_rows(10) == 2  # rounds half to even
    assert parse_recipe({"selection": {"keep_fraction": 0.01}}).target_rows(10) == 1  # never 0 of a non-empty set
    assert parse_recipe({"selection": {"keep_fraction": 0.5}}).target_rows(0) == 0


def test_audit_config_follows_the_recipe():
    rec = parse_recipe({"thresholds": {"near_duplicate": {"threshold": 0.7}}, "max_tokens": 512,
                        "models": {"embeddings": "sentence", "lm": False, "device": "cpu"}, "seed": 4})
    cfg = rec.audit_config(current="date>=2024", eval_data="e.jsonl", batch_size=64)
    assert cfg.checks == list(DEFAULT_CHECKS)
    assert cfg.params == {"near_duplicate": {"threshold": 0.7}}
    assert cfg.with_models == ["embeddings"]
    assert (cfg.max_tokens, cfg.seed, cfg.device, cfg.batch_size) == (512, 4, "cpu", 64)
    assert {"stale", "leakage", "semantic_duplicate", "off_topic"} <= set(cfg.effective_checks())
    assert "lm_quality" not in cfg.effective_checks()
    assert rec.audit_config(no_models=True).with_models == []
    assert rec.embedding_backend() == "sentence" and rec.embedding_backend(no_models=True) is None
    assert parse_recipe({"checks": ["pii"]}).audit_config().checks == ["pii"]


def test_unknown_drop_codes_are_errors():
    rec = parse_recipe({"drop": ["pii", "piii"]})
    with pytest.raises(ConfigError, match="piii"):
        rec.validate_codes({"pii"})
    Recipe().validate_codes(set(DEFAULT_DROP))


def test_lm_auto_runs_only_on_a_gpu(monkeypatch):
    import torch

    rec = Recipe()
    assert rec.models.lm == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "lm_quality" not in rec.audit_config().effective_checks()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert "lm_quality" in rec.audit_config().effective_checks()
    assert "lm_quality" not in Recipe(models={"lm": False}).audit_config().effective_checks()


def test_recipe_init_lists_every_checks_parameters_with_their_help():
    from finesift.checks.base import param_help, registry

    text = recipe_yaml()
    for name, cls in registry().items():
        assert f"#   {name}:\n" in text
        for p in param_help(cls):
            assert f"#     {p['name']}: " in text, (name, p["name"])
    assert "#       # decision: Decide: flag only members at least this similar to the kept member." in text
    assert "#       # knob: MinHash permutations." in text
    # the listing is comments: the written recipe is still the default one
    assert yaml.safe_load(text)["thresholds"] == {}


def test_drop_and_checks_come_from_the_check_metadata():
    from finesift.checks.base import registry

    reg = registry()
    assert Recipe().drop == [n for n in DEFAULT_DROP]
    assert all(reg[c].drop for c in Recipe().drop)
    assert {c for c, cls in reg.items() if cls.drop} == set(Recipe().drop)
    assert Recipe().audit_config(no_models=True).checks == list(DEFAULT_CHECKS)


def test_a_string_with_a_line_break_is_one_quoted_yaml_line():
    import yaml

    from finesift.curate.recipe import _scalar

    for value in ("first line\nsecond: line", "nel\x85break", "line\u2028separator"):
        text = _scalar(value)
        assert "\n" not in text and yaml.safe_load(f"key: {text}  # a comment") == {"key": value}
