"""``finesift checks``: every check with its parameters and help; --markdown is the README table."""

import orjson
from typer.testing import CliRunner

from finesift.checks.base import markdown_table, registry
from finesift.cli import app

runner = CliRunner()


def test_lists_every_check_and_parameter_with_its_role():
    res = runner.invoke(app, ["checks"])
    assert res.exit_code == 0, res.output
    for name, cls in registry().items():
        assert f"{name}  (" in res.stdout
        for param in cls.Params.model_fields:
            assert f"    {param} = " in res.stdout, (name, param)
    assert "min_similarity = 0.0  [decision]" in res.stdout
    assert "threshold = 0.5  [knob]  Verified Jaccard" in res.stdout


def test_markdown_and_json():
    res = runner.invoke(app, ["checks", "--markdown"])
    assert res.exit_code == 0 and res.stdout == markdown_table()
    res = runner.invoke(app, ["checks", "refusal_output", "--json"])
    data = orjson.loads(res.stdout)
    assert list(data) == ["refusal_output"]
    assert data["refusal_output"]["default"] is True and data["refusal_output"]["drop"] is True
    assert data["refusal_output"]["threshold"] == {"param": "threshold", "column": "refusal_output_score", "op": ">="}
    assert {p["name"]: p["role"] for p in data["refusal_output"]["params"]}["opening_chars"] == "knob"


def test_unknown_code_is_one_clear_error():
    from finesift.cli import main
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["checks", "nope"])
    assert exc.value.code == 2
