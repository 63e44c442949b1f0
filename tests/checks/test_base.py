import unicodedata

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.checks.base import normalize_text


def _reference(s):
    s = unicodedata.normalize("NFKC", s or "").lower()
    return " ".join(s.split())


# "Cn" too: a code point unassigned in Python's Unicode database has no reference behaviour, while Arrow's
# utf8proc may know it from a newer Unicode (U+1E030, a Cyrillic modifier letter of Unicode 15, NFKC-folds to
# "а" in Arrow and stays itself under Python 3.11)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cn")), max_size=30)),
                max_size=20))
def test_normalize_text_matches_python_reference(values):
    got = normalize_text(pa.array(values, pa.string())).to_pylist()
    assert got == [_reference(v) for v in values]


# --- metadata: the registry, the defaults and the parameter roles are the checks' own ---------------

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from finesift.checks import base  # noqa: E402
from finesift.checks.base import (DECISION, Check, CheckParams, Score, Threshold, decision,  # noqa: E402
                                  param_role, register, registry)

# The lists as they were written by hand before the metadata existed (checks added since are
# filtered out): deriving them must not change them.
BEFORE_DEFAULT = ("exact_duplicate", "near_duplicate", "conflict", "empty_output", "placeholder_output",
                  "truncated_output", "echo_output", "wrong_language", "typos", "format_outlier", "missing_context",
                  "pii", "too_long")
BEFORE_GROUPS = {"embeddings": ("semantic_duplicate", "off_topic"), "lm": ("lm_quality",), "judge": ()}
BEFORE_PRECEDENCE = ("exact_duplicate", "near_duplicate", "semantic_duplicate", "conflict")
BEFORE_DEDUP = ("exact_duplicate", "near_duplicate", "semantic_duplicate")
BEFORE_DROP = ("exact_duplicate", "near_duplicate", "semantic_duplicate", "conflict", "empty_output",
               "placeholder_output", "truncated_output", "echo_output", "wrong_language", "missing_context", "pii",
               "too_long", "off_topic", "stale", "leakage")
BEFORE_WEIGHTS = {"empty_output": 1.0, "placeholder_output": 1.0, "leakage": 1.0, "wrong_language": 0.9,
                  "echo_output": 0.9, "truncated_output": 0.7, "lm_quality": 0.5, "missing_context": 0.5, "stale": 0.5,
                  "off_topic": 0.4, "pii": 0.4, "conflict": 0.25, "too_long": 0.3, "format_outlier": 0.15,
                  "typos": 0.15, "exact_duplicate": 0.0, "near_duplicate": 0.0, "semantic_duplicate": 0.0}
BEFORE = set(BEFORE_WEIGHTS)


def _old(names):
    return tuple(n for n in names if n in BEFORE)


def test_derived_lists_equal_the_hand_written_ones():
    from finesift import config, pipeline
    from finesift.curate import quality, recipe

    assert _old(config.DEFAULT_CHECKS) == BEFORE_DEFAULT
    assert {g: _old(v) for g, v in config.MODEL_GROUPS.items()} == BEFORE_GROUPS
    assert _old(config.PARTNER_PRECEDENCE) == BEFORE_PRECEDENCE
    assert _old(recipe.DEDUP_CODES) == BEFORE_DEDUP == _old(pipeline.DEDUP_CODES)
    assert recipe.CONFLICT_CODE == "conflict"
    assert _old(recipe.DEFAULT_DROP) == BEFORE_DROP
    weights = quality.DEFAULT_WEIGHTS
    assert {k: v for k, v in weights.items() if k in BEFORE} == BEFORE_WEIGHTS
    assert weights["lm_share"] == 0.5 and weights["typos_rate"] == 0.5
    assert base.groups()["current"] == ("stale",) and base.groups()["eval"] == ("leakage",)


def test_effective_checks_follow_the_groups_and_triggers():
    from finesift.config import AuditConfig

    cfg = AuditConfig(checks=["pii"], with_models=["lm", "embeddings"], current="date>=2024-01-01", eval_data="e.jsonl")
    assert cfg.effective_checks() == ["pii", "lm_quality", "semantic_duplicate", "off_topic", "stale", "leakage"]


def test_every_check_has_usable_metadata():
    for name, cls in registry().items():
        base.validate_metadata(cls)
        assert cls.score_columns == {c: s.text for c, s in cls.scores.items()}
        for sc in cls.scores.values():
            assert sc.worse in (None, "higher", "lower")
            if sc.lo is not None and sc.hi is not None:
                assert sc.lo < sc.hi
        assert cls.threshold is not None, name
        assert cls.default or cls.group, f"{name}: neither default nor opt-in"


class _P(CheckParams):
    t: float = decision(0.5)
    """Flag at least this."""
    k: int = 3
    """A knob."""


def _bad_check(**attrs):
    return type("Bad", (Check,), {"name": "bad_check_x", "description": "d", "Params": _P, "weight": 0.5,
                                  "scores": {"s": Score("s", 0, 1, worse="higher")},
                                  "threshold": Threshold("t", "s"), "default": True, **attrs})


@pytest.mark.parametrize("attrs, message", [
    ({"weight": None}, "weight"),
    ({"weight": 1.5}, "weight"),
    ({"group": "gpu"}, "group"),
    ({"default": True, "group": "lm"}, "default check"),
    ({"threshold": Threshold("k", "s")}, "not a decision parameter"),
    ({"threshold": Threshold("t", "nope")}, "not in scores"),
    ({"relation": "duplicate"}, "partner_column"),
    ({"scores": {}}, "scores"),
])
def test_register_refuses_unusable_metadata(attrs, message):
    with pytest.raises(ValueError, match=message):
        register(_bad_check(**attrs))
    assert "bad_check_x" not in registry()


def test_params_without_help_are_refused():
    class NoHelp(CheckParams):
        t: float = decision(0.5)

    with pytest.raises(ValueError, match="without help"):
        register(_bad_check(Params=NoHelp))


def test_every_parameter_has_help_and_a_role():
    for cls in registry().values():
        for p in base.param_help(cls):
            assert p["help"], f"{cls.name}.{p['name']}"
            assert p["role"] in ("decision", "knob")
    assert param_role(_P, "t") == DECISION and param_role(_P, "k") == "knob"


class _Recorder:
    """Stands in for a check's params and records which fields are read."""

    def __init__(self, params):
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "seen", set())

    def __getattr__(self, name):
        if name in type(self._params).model_fields:
            self.seen.add(name)
        return getattr(self._params, name)


def _read_by(check, call):
    rec = _Recorder(check.params)
    check.params = rec
    out = call()
    check.params = rec._params
    return out, rec.seen


def test_decide_reads_decision_parameters_only(tmp_path):
    """A knob read by decide would re-decide stored scores with a setting they were not made with."""
    import finesift

    result = finesift.audit(_EXAMPLE, checks=[n for n in registry() if n not in _MODEL_CHECKS], max_tokens=256,
                            **_trigger_inputs(tmp_path))
    stored = result.table
    for check in result.checks:
        _, seen = _read_by(check, lambda c=check: c.decide(stored))
        knobs = {f for f in seen if param_role(type(check.params), f) != DECISION}
        assert not knobs, f"{check.name}.decide reads scoring knobs {knobs}"
    for name in _MODEL_CHECKS:  # no model here: decide on null scores still shows what it reads
        cls = registry()[name]
        check = cls()
        n = 3
        table = pa.table({c: pa.nulls(n, pa.float64()) for c in cls.scores} |
                         ({cls.partner_column: pa.nulls(n, pa.int64())} if cls.partner_column else {}))
        _, seen = _read_by(check, lambda: check.decide(table))
        assert all(param_role(cls.Params, f) == DECISION for f in seen), (name, seen)


def test_scoring_reads_no_decision_parameter(tmp_path):
    """A decision parameter read while scoring would make re-deciding from stored scores wrong."""
    from finesift.checks.base import rescores_below
    from finesift.config import AuditConfig
    from finesift.engine.local import score_table
    from finesift.io import read
    from finesift.pipeline import load_inputs

    cfg = AuditConfig(checks=[], max_tokens=256, **_trigger_inputs(tmp_path))
    table = read(str(_EXAMPLE)).table
    for name, cls in registry().items():
        if name in _MODEL_CHECKS:
            continue
        check = cls()
        inputs = load_inputs([check], cfg)
        _, seen = _read_by(check, lambda: score_table(check, table, cfg, inputs))
        bad = {f for f in seen if param_role(cls.Params, f) == DECISION and not rescores_below(cls.Params, f)}
        assert not bad, f"{name}.score reads decision parameters {bad}"


from pathlib import Path  # noqa: E402

_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "translate_fr.jsonl"
_MODEL_CHECKS = {n for g in base.WITH_GROUPS for n in base.groups()[g]}


def _trigger_inputs(tmp_path):
    """The inputs stale and leakage need: an era condition and an eval file (two example rows)."""
    lines = _EXAMPLE.read_text(encoding="utf-8").splitlines()
    evals = tmp_path / "eval.jsonl"
    evals.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    return {"current": "date>=2024-03-10", "eval_data": str(evals)}


def test_markdown_table_lists_every_check_once():
    table = base.markdown_table()
    for name in registry():
        assert table.count(f"| `{name}` |") == 1
    assert np.all([line.count("|") == table.splitlines()[0].count("|") for line in table.splitlines()
                   if line.startswith("| `")])
