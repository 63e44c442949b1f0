"""A curate output folder, loaded for review: rows, their texts, the tool's verdicts, groups and queues.

Everything is read from inside the folder (``summary.json``, ``audit.parquet``, ``kept.*`` and
``rejected.*``); the original input may have moved. ``kept.*`` and ``rejected.*`` hold their rows in
ascending ``row`` order (curate writes them so), which is how a record of those files is matched to
its row of ``audit.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InputError
from ..records import Dataset, conversation

#: columns of audit.parquet that name another row of the dataset (shown as the partner row)
PARTNER_COLUMNS = ("duplicate_of", "kept_instead", "exact_duplicate_of", "near_duplicate_of",
                   "semantic_duplicate_of", "conflict_of", "format_outlier_of")
#: a group card shows at most this many members side by side (the rest are counted)
MAX_GROUP_MEMBERS = 12
QUEUES = ("kept", "rejected", "all")


@dataclass
class Unit:
    """One card of a queue: a single row, or a duplicate/conflict group (every member at once)."""

    key: str
    rows: list[int]
    group: int | None = None


@dataclass
class ReviewData:
    folder: Path
    summary: dict[str, Any]
    audit: pa.Table
    kept: Dataset | None
    rejected: Dataset | None
    #: row value -> (which file, position in it)
    source_of: dict[int, tuple[str, int]] = field(default_factory=dict)

    # --- derived columns ----------------------------------------------------------------------

    @cached_property
    def rows(self) -> np.ndarray:
        return np.asarray(self.audit["row"].to_numpy(zero_copy_only=False), dtype=np.int64)

    @cached_property
    def pos_of(self) -> dict[int, int]:
        return {int(r): i for i, r in enumerate(self.rows)}

    @cached_property
    def tool_decision(self) -> list[str]:
        return self.audit["decision"].to_pylist()

    @cached_property
    def flags(self) -> list[list[str]]:
        return [f or [] for f in self.audit["flags"].to_pylist()]

    @cached_property
    def reasons(self) -> list[list[str]]:
        if "reasons" not in self.audit.column_names:
            return [[] for _ in range(self.audit.num_rows)]
        return [r or [] for r in self.audit["reasons"].to_pylist()]

    @cached_property
    def cluster(self) -> list[int | None]:
        return self.audit["cluster"].to_pylist() if "cluster" in self.audit.column_names else [None] * len(self.rows)

    @cached_property
    def codes(self) -> dict[str, int]:
        """Issue codes (and rejection reasons) present, with their row counts."""
        out: dict[str, int] = {}
        for f, r in zip(self.flags, self.reasons):
            for c in set(f) | set(r):
                out[c] = out.get(c, 0) + 1
        return dict(sorted(out.items()))

    @cached_property
    def score_columns(self) -> list[str]:
        """Check score columns present in the audit (registry order)."""
        from ..checks.base import registry

        have = set(self.audit.column_names)
        return [c for cls in registry().values() for c in cls.score_columns if c in have]

    @cached_property
    def numeric_score_columns(self) -> list[str]:
        # group ids (conflict_group) are numbers but not scores
        return [c for c in self.score_columns if not c.endswith("_group")
                and (pa.types.is_integer(self.audit.schema.field(c).type) or pa.types.is_floating(self.audit.schema.field(c).type))]

    def numeric(self, column: str) -> np.ndarray:
        """A numeric column as float64, null as NaN."""
        col = self.audit[column]
        return np.asarray(pc.fill_null(col.cast(pa.float64()), float("nan")).to_numpy(zero_copy_only=False),
                          dtype=np.float64)

    # --- texts --------------------------------------------------------------------------------

    def _dataset(self, which: str) -> Dataset:
        ds = self.kept if which == "kept" else self.rejected
        assert ds is not None
        return ds

    @cached_property
    def _texts(self) -> dict[str, dict[str, list[Any]]]:
        out = {}
        for which in ("kept", "rejected"):
            ds = self.kept if which == "kept" else self.rejected
            if ds is None:
                out[which] = {"prompt": [], "output": [], "system": [], "roles": []}
                continue
            out[which] = {k: ds.table[k].to_pylist() for k in ("prompt", "output", "system")}
            out[which]["roles"] = [[t["role"] for t in (turns or [])] for turns in conversation(ds.table).to_pylist()]
        return out

    def text(self, row: int) -> dict[str, Any]:
        which, pos = self.source_of[row]
        t = self._texts[which]
        roles = t["roles"][pos]
        return {"prompt": t["prompt"][pos] or "", "output": t["output"][pos] or "", "system": t["system"][pos],
                # edits are written back into the record's own fields: a multi-turn prompt has no single field
                "prompt_editable": roles in (["user", "assistant"], ["user"]),
                "output_editable": bool(roles) and roles[-1] == "assistant"}

    # --- groups and queues --------------------------------------------------------------------

    @cached_property
    def group_of(self) -> dict[int, int]:
        """row -> group id (its lowest row) for rows in a duplicate or conflict group of 2+ rows."""
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while parent.get(x, x) != root:
                parent[x], x = root, parent[x]
            return root

        def union(a: int, b: int) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        for col in ("duplicate_of", "conflict_group"):
            if col not in self.audit.column_names:
                continue
            for r, other in zip(self.rows.tolist(), self.audit[col].to_pylist()):
                if other is not None and int(other) != r and int(other) in self.pos_of:
                    parent.setdefault(r, r)
                    parent.setdefault(int(other), int(other))
                    union(r, int(other))
        return {r: find(r) for r in parent}

    @cached_property
    def group_members(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for r, g in self.group_of.items():
            out.setdefault(g, []).append(r)
        for members in out.values():
            members.sort()
        return out

    def group_rows(self, gid: int) -> list[int]:
        """The members a group card shows: the tool's kept members first, then by row."""
        members = self.group_members[gid]
        kept = [r for r in members if self.tool_decision[self.pos_of[r]] == "kept"]
        rest = [r for r in members if r not in set(kept)]
        return (kept + rest)[:MAX_GROUP_MEMBERS]

    def queue_rows(self, queue: str) -> list[int]:
        """Rows of a queue, in row order: kept, rejected, all, or ``code:NAME``."""
        dec, rows = self.tool_decision, self.rows.tolist()
        if queue == "kept":
            return [r for r, d in zip(rows, dec) if d == "kept"]
        if queue == "rejected":
            return [r for r, d in zip(rows, dec) if d != "kept"]
        if queue == "all":
            return rows
        code = queue.split(":", 1)[1]
        return [r for r, f, why in zip(rows, self.flags, self.reasons) if code in f or code in why]

    def units(self, queue: str) -> list[Unit]:
        cache = self.__dict__.setdefault("_units", {})
        if queue not in cache:
            units: list[Unit] = []
            seen: set[int] = set()
            for r in self.queue_rows(queue):
                g = self.group_of.get(r)
                if g is None:
                    units.append(Unit(key=f"r{r}", rows=[r]))
                elif g not in seen:
                    seen.add(g)
                    units.append(Unit(key=f"g{g}", rows=self.group_rows(g), group=g))
            cache[queue] = units
        return cache[queue]

    def valid_queue(self, queue: str) -> bool:
        return queue in QUEUES or (queue.startswith("code:") and queue[5:] in self.codes)

    @property
    def fingerprint(self) -> str | None:
        return (self.summary.get("dataset") or {}).get("fingerprint")


def load(folder: str | Path) -> ReviewData:
    """Load a finished curate output folder; one clear :class:`InputError` when it is not one."""
    from ..io import read

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(str(folder), "not a folder: give a curate output folder (finesift curate DATA -o DIR)")
    try:
        summary = orjson.loads((folder / "summary.json").read_bytes())
    except FileNotFoundError:
        raise InputError(str(folder), "no summary.json: not a finished curate output folder "
                         "(run 'finesift curate DATA -o DIR' first, or let it finish)") from None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(str(folder / "summary.json"), f"cannot read it: {exc}") from None
    files = summary.get("files") if isinstance(summary, dict) else None
    if not isinstance(files, dict) or "kept" not in files or "rejected" not in files:
        raise InputError(str(folder / "summary.json"), "names no kept/rejected files: this is an audit folder, "
                         "not a curate output folder (review needs 'finesift curate DATA -o DIR')")
    try:
        audit = pq.read_table(folder / "audit.parquet")
    except Exception as exc:
        raise InputError(str(folder / "audit.parquet"), f"cannot read the audit table: {exc}") from None
    for col in ("row", "flags", "decision"):
        if col not in audit.column_names:
            raise InputError(str(folder / "audit.parquet"), f"no '{col}' column: not written by finesift curate")
    dataset = summary.get("dataset") or {}
    field_map = dataset.get("field_map") or None
    data = ReviewData(folder=folder, summary=summary, audit=audit, kept=None, rejected=None)
    decisions = data.tool_decision
    for which in ("kept", "rejected"):
        rows = [int(r) for r, d in zip(data.rows.tolist(), decisions) if (d == "kept") == (which == "kept")]
        name = Path(str(files[which])).name  # a bare file name inside the folder, whatever summary.json says
        path = folder / name
        ds = None
        if rows:
            try:
                ds = read(str(path), field_map=field_map)
            except FileNotFoundError:
                raise InputError(str(path), "missing: the curate output folder is incomplete") from None
            if len(ds) != len(rows):
                raise InputError(str(path), f"holds {len(ds)} records but audit.parquet has {len(rows)} {which} rows: "
                                 "the folder's files come from different runs")
        setattr(data, which, ds)
        for i, r in enumerate(rows):
            data.source_of[r] = (which, i)
    return data
