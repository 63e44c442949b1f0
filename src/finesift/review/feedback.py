"""What the person's decisions say about the tool: agreement per issue code, and a recipe that matches them.

For an issue code with a threshold on one score column (:func:`tunables`), the rows that speak about
it are the decided rows with a score that carry no *other* code the recipe drops: their keep or
drop is about this code (or about nothing the tool saw). Over those rows, the threshold that
would have matched the person is the cut on the score that agrees with the most of their
decisions (ties: the cut closest to the current threshold). :func:`recipe_from_review` moves a
threshold there only with at least :data:`MIN_DECISIONS` such rows and when it agrees with strictly
more of them than the current threshold does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

#: decided rows with the score that a threshold change needs (fewer: the threshold is left alone)
MIN_DECISIONS = 20


@dataclass(frozen=True)
class Tunable:
    column: str
    param: str  # a Params field of the check, or "max_tokens" (a top-level recipe field)
    op: str  # how the check flags: ">=", ">" (high scores flag) or "<" (low scores flag)
    integer: bool = False
    partner: str | None = None  # only rows with a partner are scored for this code


#: checks whose main threshold a review does not tune: the group size of exact copies is not a judgement,
#: and typos decides on two columns (prompt and answer) at once
NOT_TUNED = frozenset({"exact_duplicate", "typos", "format_outlier"})
#: scores defined only for rows in a group: the column that says a row is in one
PARTNERS = {"conflict": "conflict_group", "near_duplicate": "near_duplicate_of"}


def tunables() -> dict[str, Tunable]:
    """Issue code -> its tunable threshold, from each registered check's metadata (``Check.threshold``)."""
    import typing

    from ..checks.base import registry

    out: dict[str, Tunable] = {}
    for name, cls in registry().items():
        t = cls.threshold
        if t is None or name in NOT_TUNED:
            continue
        ann = cls.Params.model_fields[t.param].annotation
        integer = ann is int or int in typing.get_args(ann)
        out[name] = Tunable(t.column, t.param, t.op, integer=integer, partner=PARTNERS.get(name))
    return out




def _flags_at(scores: np.ndarray, op: str, t: float) -> np.ndarray:
    if op == ">=":
        return scores >= t
    if op == ">":
        return scores > t
    if op == "<=":
        return scores <= t
    return scores < t


def best_threshold(scores: np.ndarray, drop: np.ndarray, op: str, current: float | None,
                   integer: bool = False) -> tuple[float, int]:
    """The threshold whose flags agree with the most ``drop`` labels, and how many it agrees with.

    Candidates are the cuts between consecutive distinct scores (midpoints; integers rounded to the
    value that makes the same cut) and one cut beyond each end (flag everything / nothing).
    """
    u = np.unique(scores)
    if integer:
        # for s >= t and s < t the cut between a and b is b; for s > t it is a
        mids = [float(b) if op in (">=", "<") else float(a) for a, b in zip(u[:-1], u[1:])]
        ends = [float(u[0]), float(u[-1]) + 1] if op in (">=", "<") else [float(u[0]) - 1, float(u[-1])]
    else:
        mids = [float((a + b) / 2) for a, b in zip(u[:-1], u[1:])]
        pad = max(1e-3, 1e-3 * float(u[-1] - u[0]))
        ends = [float(u[0]) - pad, float(u[-1]) + pad]
    best: tuple[int, float, float] | None = None
    for t in mids + ends:
        agree = int(np.sum(_flags_at(scores, op, t) == drop))
        dist = abs(t - current) if current is not None else 0.0
        if best is None or agree > best[0] or (agree == best[0] and dist < best[2]):
            best = (agree, t, dist)
    assert best is not None
    t = best[1] if integer else _round(best[1])
    return t, int(np.sum(_flags_at(scores, op, t) == drop))


def _round(t: float) -> float:
    return float(f"{t:.4g}")


def current_threshold(recipe, code: str) -> float | None:
    from ..checks.base import get_check

    tun = tunables()[code]
    if tun.param == "max_tokens":
        return float(recipe.max_tokens)
    overrides = dict(recipe.thresholds.get(code, {}))
    value = overrides.get(tun.param)
    if value is None:
        field = get_check(code).Params.model_fields.get(tun.param)
        value = field.default if field is not None else None
    if value is None and code == "too_long":
        value = recipe.max_tokens
    return None if value is None else float(value)


def agreement(data, states: dict, recipe) -> dict[str, Any]:
    """The agreement table: the tool's verdict vs the person's, overall and per issue code."""
    decided = [(data.pos_of[r], st) for r, st in states.items() if r in data.pos_of]
    tool_keep = np.array([data.tool_decision[p] == "kept" for p, _ in decided], dtype=bool)
    person_keep = np.array([st.keep for _, st in decided], dtype=bool)
    overall = {"decided": len(decided), "agreed": int(np.sum(tool_keep == person_keep)),
               "tool_kept_person_rejected": int(np.sum(tool_keep & ~person_keep)),
               "tool_rejected_person_accepted": int(np.sum(~tool_keep & person_keep)),
               "edited": sum(st.edited and st.keep for _, st in decided)}
    drop_codes = set(recipe.drop)
    per_code: dict[str, dict[str, Any]] = {}
    for (p, st), tk in zip(decided, tool_keep):
        for code in sorted(set(data.flags[p]) | set(data.reasons[p])) or ["(none)"]:
            e = per_code.setdefault(code, {"decided": 0, "person_kept": 0, "person_rejected": 0,
                                           "overruled": 0, "tool_kept": 0})
            e["decided"] += 1
            e["person_kept" if st.keep else "person_rejected"] += 1
            e["tool_kept"] += int(tk)
            e["overruled"] += int(bool(tk) != st.keep)
    for code, tun in tunables().items():
        if tun.column not in data.audit.column_names:
            continue
        scores = data.numeric(tun.column)
        partner = data.audit[tun.partner].is_valid().to_numpy(zero_copy_only=False) \
            if tun.partner and tun.partner in data.audit.column_names else None
        pos, drop = [], []
        for p, st in decided:
            if math.isnan(scores[p]) or (partner is not None and not partner[p]):
                continue
            others = (set(data.flags[p]) | set(data.reasons[p])) & drop_codes - {code}
            if others:
                continue  # the person's verdict may be about that other code
            pos.append(p)
            drop.append(not st.keep)
        if not pos:
            continue
        s, y = scores[pos], np.array(drop, dtype=bool)
        cur = current_threshold(recipe, code)
        best, best_agree = best_threshold(s, y, tun.op, cur, tun.integer)
        entry = per_code.setdefault(code, {"decided": 0, "person_kept": 0, "person_rejected": 0,
                                           "overruled": 0, "tool_kept": 0})
        entry["threshold"] = {
            "column": tun.column, "param": tun.param, "flags_when": f"{tun.column} {tun.op} threshold",
            "rows": len(pos), "person_dropped": int(y.sum()), "current": cur,
            "agree_current": int(np.sum(_flags_at(s, tun.op, cur) == y)) if cur is not None else None,
            "matching": best, "agree_matching": best_agree,
        }
    return {"overall": overall, "codes": dict(sorted(per_code.items())), "min_decisions": MIN_DECISIONS}


def recipe_changes(recipe, table: dict[str, Any], min_decisions: int = MIN_DECISIONS):
    """A copy of ``recipe`` with the thresholds the agreement table supports, and what changed."""
    from pydantic import ValidationError

    from ..checks.base import get_check

    thresholds = {k: dict(v) for k, v in recipe.thresholds.items()}
    update: dict[str, Any] = {}
    changes: list[str] = []
    for code, entry in table["codes"].items():
        th = entry.get("threshold")
        if th is None:
            continue
        n, cur, new = th["rows"], th["current"], th["matching"]
        where = f"{code}.{th['param']}" if th["param"] != "max_tokens" else "max_tokens"
        if n < min_decisions:
            changes.append(f"{where}: kept at {_fmt(cur)} (only {n} decided rows with {th['column']}; "
                           f"{min_decisions} needed)")
            continue
        if cur is not None and th["agree_matching"] <= (th["agree_current"] or 0):
            changes.append(f"{where}: kept at {_fmt(cur)} (already matches {th['agree_current']}/{n} of your decisions)")
            continue
        value: Any = int(new) if tunables()[code].integer else new
        try:
            if th["param"] == "max_tokens":
                if value < 1:
                    raise ValueError("max_tokens must be positive")
                update["max_tokens"] = value
            else:
                get_check(code).Params(**{**thresholds.get(code, {}), th["param"]: value})
                thresholds.setdefault(code, {})[th["param"]] = value
        except (ValidationError, ValueError):
            changes.append(f"{where}: kept at {_fmt(cur)} (the threshold that would match you, {_fmt(value)}, "
                           f"is outside the parameter's range; consider removing {code} from drop)")
            continue
        delta = f", {'+' if value - cur >= 0 else ''}{_fmt(value - cur)}" if cur is not None else ""
        changes.append(f"{where}: {_fmt(cur)} -> {_fmt(value)}{delta} (agrees with {th['agree_matching']}/{n} "
                       f"of your decisions instead of {th['agree_current']}/{n})")
    update["thresholds"] = thresholds
    return recipe.model_copy(update=update), changes


def _fmt(v) -> str:
    if v is None:
        return "default"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def load_recipe_of(folder: Path):
    from ..curate.recipe import Recipe, load_recipe

    path = Path(folder) / "recipe.yaml"
    return load_recipe(path) if path.exists() else Recipe()


def recipe_from_review(folder: str | Path, min_decisions: int = MIN_DECISIONS):
    """``(recipe, changes)``: the folder's recipe with thresholds matching the person's decisions.

    ``recipe`` is a :class:`~finesift.curate.recipe.Recipe` (write it with
    :func:`~finesift.curate.recipe.recipe_yaml`); ``changes`` says, per tunable code with
    decisions, what changed and by how much, or why it did not.
    """
    from .data import load
    from .store import DB_NAME, ReviewStore

    folder = Path(folder)
    data = load(folder)
    if not (folder / DB_NAME).exists():
        raise InputError(str(folder), f"no {DB_NAME}: nothing was reviewed yet (run 'finesift review {folder}')")
    states = ReviewStore(folder / DB_NAME).states()
    recipe = load_recipe_of(folder)
    table = agreement(data, states, recipe)
    new, changes = recipe_changes(recipe, table, min_decisions)
    if not changes:
        changes = [f"no change: no decided row has a score of a code with a threshold ({len(states)} decided rows)"]
    return new, changes
