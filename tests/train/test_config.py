"""``CompareConfig``: the claim-2 settings (per-arm epochs, the raw subset, eval-loss points) are typed fields."""

from __future__ import annotations

import pytest

from finesift.errors import ConfigError
from finesift.train.config import CompareConfig, build_config


def _build(**fields) -> CompareConfig:
    return build_config(CompareConfig, None, fields)  # type: ignore[return-value]


def test_claim_two_fields_default_to_off_and_are_documented():
    cfg = CompareConfig()
    assert (cfg.arm_epochs, cfg.raw_rows, cfg.eval_points, cfg.budget) == (None, None, None, "steps")
    for name in ("arm_epochs", "raw_rows", "eval_points"):
        assert len(CompareConfig.model_fields[name].description) > 40, name
    assert {"arm_epochs", "raw_rows", "eval_points"} <= set(cfg.model_dump())


def test_per_arm_epochs_imply_the_epochs_budget_unless_another_is_chosen():
    cfg = _build(arm_epochs={"curated": 1, "raw": 10})
    assert cfg.budget == "epochs" and cfg.arm_epochs == {"curated": 1.0, "raw": 10.0}
    # the resolved config round-trips: rebuilt from its own dump it is the same
    assert build_config(CompareConfig, cfg.model_dump(), {}) == cfg
    assert _build(arm_epochs={"raw": 10}, budget="epochs").budget == "epochs"
    with pytest.raises(ConfigError, match="per-arm epochs need budget 'epochs' \\(got 'tokens'\\)"):
        _build(arm_epochs={"raw": 10}, budget="tokens")


@pytest.mark.parametrize("spec,expected", [(12, 12), ("12", 12), ("curated", "curated"), (" Match ", "match")])
def test_raw_rows_takes_a_count_or_a_rule(spec, expected):
    assert _build(raw_rows=spec).raw_rows == expected


@pytest.mark.parametrize("fields,message", [
    ({"raw_rows": "many"}, "raw_rows: Value error, 'many' is not a positive row count, 'curated' or 'match'"),
    ({"raw_rows": 0}, "raw_rows: Value error, 0 is not a positive row count"),
    ({"raw_rows": True}, "raw_rows: Value error, True is not a positive row count"),
    ({"eval_points": 0}, "eval_points: Input should be greater than 0"),
    ({"arm_epochs": {"raw": 0}}, "epochs for arm 'raw' must be a positive number, got 0.0"),
    ({"arm_epochs": {"raw": float("inf")}}, "epochs for arm 'raw' must be a positive number, got inf"),
    ({"arm_epochs": {"raw": "ten"}}, "arm_epochs.raw: Input should be a valid number"),
])
def test_bad_claim_two_values_give_one_clear_error(fields, message):
    with pytest.raises(ConfigError) as exc:
        _build(**fields)
    text = str(exc.value)
    assert message in text and "\n" not in text and text.count(";") == 0
