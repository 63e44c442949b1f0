"""Duplicate and conflict groups keep their best member, not the first one seen.

The audit's relation checks flag every member of a group but one and point them (``<code>_of``)
at the one they left unflagged, usually the first in file order. Curate re-decides that:

1. **Duplicates.** Rows linked by ``exact_duplicate``/``near_duplicate``/``semantic_duplicate``
   form groups (connected components). Each group keeps the member with the highest quality
   score (ties: fewer formatting faults, then lowest row) among those no other drop code rejects; every other member is
   flagged with the relation that links it to the keeper (the weakest relation on the path,
   ``exact_duplicate`` when the two rows are identical) and points at the keeper.
2. **Conflicts** (same prompt, different answers). A conflict group is the rows ``conflict``
   flagged and the row(s) they point at: the answer the check preferred, the one the group
   majority agrees with and that looks plausible. With ``keep_best`` the group keeps that
   answer, in its best-scoring copy; if no copy of it can be kept (another code rejects it),
   the answer with a strict plurality of votes (duplicates count; at least two), else the
   best-scoring member. Members with another answer are flagged ``conflict`` and point at the
   kept row. With ``drop_group`` every member is flagged. Unflagged rows of the same prompt
   (valid alternatives the check did not flag) are not part of the conflict.

Only codes the recipe drops are regrouped; others keep the audit's flags untouched.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..checks._groups import components
from .recipe import CONFLICT_CODE, DEDUP_CODES

#: strength of a duplicate relation: the path's weakest link names the relation to the keeper
_STRENGTH = {"exact_duplicate": 3, "near_duplicate": 2, "semantic_duplicate": 1}
def _partner_order() -> tuple[str, ...]:
    """Precedence for ``duplicate_of``, from the checks' metadata (``relation``, ``order``): the audit's own."""
    from ..checks.base import partner_precedence

    return partner_precedence()


def partner_column(code: str) -> str:
    """``<code>_of``, or the registered check's own partner column name."""
    try:
        from ..checks.base import registry

        cls = registry().get(code)
        if cls is not None and cls.partner_column:
            return cls.partner_column
    except Exception:  # a check module failing to import must not break curate's bookkeeping
        pass
    return f"{code}_of"


@dataclass
class Regrouped:
    """Flags and partners after regrouping (one entry per row, input order)."""

    flags: list[list[str]]
    partners: dict[str, np.ndarray]  # code -> partner row per row (-1: none)
    stats: dict[str, Any] = field(default_factory=dict)

    def duplicate_of(self) -> np.ndarray:
        """Partner of the highest-precedence relation each row is flagged with (-1: none)."""
        n = len(self.flags)
        out = np.full(n, -1, dtype=np.int64)
        for code in reversed(_partner_order()):
            if code not in self.partners:
                continue
            part = self.partners[code]
            hit = (part >= 0) & _flagged(self.flags, code)
            out[hit] = part[hit]
        return out


def _flagged(flags: list[list[str]], code: str) -> np.ndarray:
    """Per row, whether ``code`` is among its flags (one C-level pass)."""
    return np.fromiter((code in f for f in flags), dtype=bool, count=len(flags))


def _components(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """Per row, the lowest row of its connected component (the package's one union-find)."""
    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return components(n, pairs[:, 0], pairs[:, 1])


def _int_column(table: pa.Table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    col = pc.fill_null(table[name].cast(pa.int64()), -1)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)


def regroup(audit: pa.Table, quality: np.ndarray, drop: list[str] | set[str],
            policy: Literal["keep_best", "drop_group"] = "keep_best",
            answer_key: list[Any] | np.ndarray | None = None,
            content_key: list[Any] | np.ndarray | None = None,
            faults: np.ndarray | None = None) -> Regrouped:
    """Re-decide duplicate and conflict groups so each keeps its best member.

    ``quality``: per-row score, higher is better. ``drop``: codes that reject a row.
    ``answer_key``: per row, a hashable normalized answer (votes in conflict groups).
    ``content_key``: per row, normalized prompt+answer (identical rows are exact duplicates).
    ``faults``: per row, formatting faults (the ``format_faults`` feature): between members of equal quality
    the cleaner copy is kept (a whitespace-mangled copy placed before its original no longer wins on row order).
    """
    n = audit.num_rows
    drop = set(drop)
    flags: list[list[str]] = [list(f or []) for f in audit["flags"].to_pylist()]
    quality = np.asarray(quality, dtype=float)
    faults = np.zeros(n, dtype=np.int64) if faults is None else np.asarray(faults, dtype=np.int64)
    rank = _Rank(quality, faults)
    partners: dict[str, np.ndarray] = {}
    for code in (*DEDUP_CODES, CONFLICT_CODE):
        col = _int_column(audit, partner_column(code))
        if col is not None:
            partners[code] = col.copy()
    group_codes = set(DEDUP_CODES) | {CONFLICT_CODE}
    # rows another drop code rejects anyway can never be a group's keeper
    eligible = np.array([not any(c in drop and c not in group_codes for c in f) for f in flags], dtype=bool)
    stats: dict[str, Any] = {}

    dedup_codes = [c for c in DEDUP_CODES if c in drop and c in partners]
    keeper_of = np.arange(n)  # each row's duplicate-group keeper (itself when alone or no keeper)
    group_size = np.ones(n, dtype=np.int64)
    if dedup_codes:
        keeper_of, group_size, stats["duplicates"] = _dedup(flags, partners, dedup_codes, rank, eligible,
                                                            content_key)
    if CONFLICT_CODE in drop and (CONFLICT_CODE in partners or "conflict_group" in audit.column_names):
        stats["conflicts"] = _conflicts(audit, flags, partners, rank, eligible, keeper_of, group_size,
                                        policy, answer_key)
    return Regrouped(flags=flags, partners=partners, stats=stats)


@dataclass(frozen=True)
class _Rank:
    """How group members compare: higher quality first, then fewer formatting faults, then the lowest row."""

    quality: np.ndarray
    faults: np.ndarray

    def __getitem__(self, m: int) -> tuple[float, int, int]:
        return (-self.quality[m], int(self.faults[m]), m)


def _best(members: list[int], rank: _Rank, eligible: np.ndarray) -> int | None:
    """The best-ranked eligible member (:class:`_Rank`). None if none is eligible."""
    cands = [m for m in members if eligible[m]]
    if not cands:
        return None
    return min(cands, key=rank.__getitem__)


def _dedup(flags, partners, codes, rank, eligible, content_key):
    n = len(flags)
    edges: list[tuple[int, int]] = []
    adj: dict[int, list[tuple[int, str]]] = {}
    rows = np.arange(n)
    for code in codes:
        part = partners[code]
        linked = np.flatnonzero((part >= 0) & (part != rows) & (part < n) & _flagged(flags, code))
        for r, p in zip(linked.tolist(), part[linked].tolist()):  # only the rows in groups
            edges.append((r, p))
            adj.setdefault(r, []).append((p, code))
            adj.setdefault(p, []).append((r, code))
    root = _components(n, edges)
    comps: dict[int, list[int]] = {}
    for r in adj:
        comps.setdefault(int(root[r]), []).append(r)
    keeper_of = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    moved = unresolved = 0
    for root in sorted(comps):
        members = sorted(comps[root])
        size[members] = len(members)
        keeper = _best(members, rank, eligible)
        if keeper is None:
            unresolved += 1  # every member is rejected for another reason: keep the audit's links
            continue
        was_first = not any(c in flags[keeper] for c in codes)
        moved += not was_first
        link = _weakest_links(keeper, adj)
        for m in members:
            keeper_of[m] = keeper
            flags[m] = [c for c in flags[m] if c not in codes]
            for c in codes:
                partners[c][m] = -1
            if m == keeper:
                continue
            code = link.get(m, codes[-1])
            if content_key is not None and content_key[m] == content_key[keeper] and "exact_duplicate" in codes:
                code = "exact_duplicate"
            flags[m].append(code)
            partners[code][m] = keeper
        _order_flags(flags, members)
    return keeper_of, size, {"groups": len(comps), "keeper_changed": moved, "no_eligible_member": unresolved,
                             "rows_in_groups": int(sum(len(v) for v in comps.values()))}


def _weakest_links(source: int, adj: dict[int, list[tuple[int, str]]]) -> dict[int, str]:
    """For every node, the relation on its strongest path to ``source`` (widest-path Dijkstra)."""
    best: dict[int, int] = {source: 99}
    heap = [(-99, source)]
    while heap:
        neg, u = heapq.heappop(heap)
        if -neg < best.get(u, -1):
            continue
        for v, code in adj.get(u, ()):
            w = min(-neg, _STRENGTH.get(code, 0))
            if w > best.get(v, -1):
                best[v] = w
                heapq.heappush(heap, (-w, v))
    by_strength = {s: c for c, s in _STRENGTH.items()}
    return {v: by_strength.get(s, "semantic_duplicate") for v, s in best.items() if v != source}


_ORDER: dict[str, int] = {}


def _order_flags(flags: list[list[str]], rows: list[int]) -> None:
    """Keep flags in a stable order (the audit's check order for the codes it knows)."""
    from ..config import DEFAULT_CHECKS, MODEL_GROUPS

    if not _ORDER:
        names = list(DEFAULT_CHECKS) + [c for g in MODEL_GROUPS.values() for c in g] + ["stale", "leakage"]
        _ORDER.update({c: i for i, c in enumerate(names)})
    for r in rows:
        if len(flags[r]) > 1:  # most rows have one flag: nothing to order (a sort a row is ~half of regrouping)
            flags[r] = sorted(dict.fromkeys(flags[r]), key=lambda c: (_ORDER.get(c, len(_ORDER)), c))


def _conflicts(audit, flags, partners, rank, eligible, keeper_of, group_size, policy, answer_key):
    """Conflict groups: the flagged rows and the rows they point at (the answer the check preferred).

    Rows of an examined prompt group that the check did not flag (valid alternatives such as
    "Cours !" / "Courez !") are not part of the conflict and are left alone.
    """
    n = len(flags)
    edges: list[tuple[int, int]] = []
    members: set[int] = set()
    flagged = np.flatnonzero(_flagged(flags, CONFLICT_CODE))
    members.update(flagged.tolist())
    if CONFLICT_CODE in partners:
        part = partners[CONFLICT_CODE][flagged]
        linked = (part >= 0) & (part < n)
        members.update(part[linked].tolist())
        edges.extend(zip(flagged[linked].tolist(), part[linked].tolist()))
    if "conflict_group" in audit.column_names:
        first: dict[Any, int] = {}
        groups = audit["conflict_group"].to_pylist()
        for r in sorted(members):
            g = groups[r]
            if g is None:
                continue
            if g in first:
                edges.append((r, first[g]))
            else:
                first[g] = r
    # a member's exact/near copies belong to the conflict too (the best copy may be one of them)
    copies: dict[int, list[int]] = {}
    for r in np.flatnonzero(keeper_of != np.arange(n)).tolist():
        copies.setdefault(int(keeper_of[r]), []).append(r)
    for r in list(members):
        k = int(keeper_of[r])
        for c in [k, *copies.get(k, ())]:
            if c not in members:
                members.add(c)
            edges.append((r, c))
    root = _components(n, edges)
    comps: dict[int, list[int]] = {}
    for r in members:
        comps.setdefault(int(root[r]), []).append(r)
    if CONFLICT_CODE not in partners:
        partners[CONFLICT_CODE] = np.full(n, -1, dtype=np.int64)
    part = partners[CONFLICT_CODE]
    kept_rep = majority = by_score = dropped = unresolved = 0
    for root in sorted(comps):
        members_c = sorted(comps[root])
        if len(members_c) < 2:
            continue
        if policy == "drop_group":
            for m in members_c:
                if CONFLICT_CODE not in flags[m]:
                    flags[m].append(CONFLICT_CODE)
                    part[m] = -1
            dropped += 1
            _order_flags(flags, members_c)
            continue
        # only duplicate-group keepers can be kept; their groups' sizes are their votes
        cands = [m for m in members_c if keeper_of[m] == m]
        key = (lambda m: answer_key[m]) if answer_key is not None else (lambda m: m)
        # 1. the answer the check preferred (left unflagged), in its best copy
        preferred = {key(m) for m in members_c if CONFLICT_CODE not in flags[m]}
        keeper = _best([m for m in cands if key(m) in preferred], rank, eligible)
        kept_rep += keeper is not None
        # 2. else the answer most rows agree on (a strict plurality of at least 2 votes)
        if keeper is None and answer_key is not None:
            votes: dict[Any, int] = {}
            for m in cands:
                votes[key(m)] = votes.get(key(m), 0) + int(group_size[m])
            ranked = sorted(votes.items(), key=lambda kv: -kv[1])
            top = ranked[0][1] if ranked else 0
            if top >= 2 and (len(ranked) == 1 or ranked[1][1] < top):
                keeper = _best([m for m in cands if key(m) == ranked[0][0]], rank, eligible)
                majority += keeper is not None
        # 3. else the best-scoring member
        if keeper is None:
            keeper = _best(cands, rank, eligible)
            by_score += keeper is not None
        if keeper is None:
            unresolved += 1
            continue
        for m in members_c:
            if m == keeper or keeper_of[m] != m:
                # the keeper, and copies that already point at their own duplicate-group keeper
                flags[m] = [c for c in flags[m] if c != CONFLICT_CODE]
                part[m] = -1
            elif key(m) == key(keeper):
                # the same answer as the keeper (not a copy of the whole row): it agrees, no conflict
                flags[m] = [c for c in flags[m] if c != CONFLICT_CODE]
                part[m] = -1
            else:
                if CONFLICT_CODE not in flags[m]:
                    flags[m].append(CONFLICT_CODE)
                part[m] = keeper
        _order_flags(flags, members_c)
    return {"groups": sum(1 for v in comps.values() if len(v) > 1), "kept_preferred_answer": kept_rep,
            "kept_majority_answer": majority, "kept_best_score": by_score, "dropped_whole_group": dropped,
            "no_eligible_member": unresolved}


def resolve_kept_instead(duplicate_of: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """For each row, the kept row its relation chain leads to (-1: none kept)."""
    n = len(duplicate_of)
    out = np.full(n, -1, dtype=np.int64)
    for r in range(n):
        if kept[r]:
            continue
        seen = {r}
        p = int(duplicate_of[r])
        while p >= 0 and p not in seen and not kept[p]:
            seen.add(p)
            p = int(duplicate_of[p])
        if p >= 0 and kept[p]:
            out[r] = p
    return out
