"""Grouping helpers shared by the dataset-level checks (duplicates, conflicts, templates).

Everything here is vectorized over numpy/pyarrow arrays: dense group ids from a
key column, the lowest-``row`` member of each group, connected components of an
edge list (scipy's), and
the exact (system, prompt, output) grouping that several checks share through
the audit :class:`~finesift.checks.base.Context`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import Context, normalized

#: Fields that make two rows the same training example.
EXACT_FIELDS = ("system", "prompt", "output")
#: Separator between fields in joined keys (a control character normalized text never contains).
SEP = "\x1f"


def row_ids(table: pa.Table) -> np.ndarray:
    """The ``row`` column as int64 (positions when a test table has none)."""
    if "row" in table.column_names:
        return np.asarray(table["row"].to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.arange(table.num_rows, dtype=np.int64)


def dense_ids(keys: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Group id per element (0..k-1 in order of first appearance) and the k distinct keys.

    Exact string equality (a hash table in Arrow), so no collisions to worry about.
    """
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    enc = pc.dictionary_encode(keys)
    ids = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return ids, enc.dictionary


def joined_key(table: pa.Table, fields: tuple[str, ...] | list[str], ctx: Context,
               take: np.ndarray | None = None) -> pa.Array:
    """Normalized text of ``fields`` joined with :data:`SEP` (missing columns count as empty).

    ``take``: only these row positions (in this order).
    """
    n = table.num_rows if take is None else len(take)
    idx = None if take is None else pa.array(take, pa.int64())
    cols = []
    for f in fields:
        if f in table.column_names:
            col = normalized(table, f, ctx)
            cols.append(col if idx is None else col.take(idx))
        else:
            cols.append(pa.array([""] * n, pa.string()))
    if len(cols) == 1:
        col = cols[0]
        return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    out = pc.binary_join_element_wise(*cols, SEP)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def lowest_member(gid: np.ndarray, rows: np.ndarray, n_groups: int) -> np.ndarray:
    """Position of the member with the lowest ``row`` in each group (array of length ``n_groups``)."""
    first = np.full(n_groups, -1, dtype=np.int64)
    if len(gid) == 0:
        return first
    if len(rows) < 2 or (rows[1:] >= rows[:-1]).all():  # rows in order (always, after reading): first position
        n = len(gid)
        first[:] = n
        np.minimum.at(first, gid, np.arange(n, dtype=np.int64))
        first[first == n] = -1
        return first
    order = np.lexsort((rows, gid))
    g = gid[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    first[g[starts]] = order[starts]
    return first


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of an undirected graph on ``n`` nodes (edges ``a[i]``-``b[i]``):
    per node, its component's label = the smallest node id in it.

    The one union-find of the package (duplicate groups, semantic groups, curate's regrouping):
    scipy's ``connected_components`` on a sparse adjacency matrix.
    """
    parent = np.arange(n, dtype=np.int64)
    if n == 0 or len(a) == 0:
        return parent
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    k, label = connected_components(graph, directed=False)
    lowest = np.full(k, n, dtype=np.int64)
    np.minimum.at(lowest, label, parent)
    return lowest[label]


class ExactGroups:
    """Rows grouped by normalized (system, prompt, output); computed once per audit and shared."""

    def __init__(self, gid: np.ndarray, n_groups: int, kept_pos: np.ndarray, rows: np.ndarray):
        self.gid = gid
        self.n_groups = n_groups
        #: position of each group's kept member (lowest row)
        self.kept_pos = kept_pos
        self.rows = rows

    @property
    def size(self) -> np.ndarray:
        """Group size per row."""
        return np.bincount(self.gid, minlength=self.n_groups)[self.gid]

    @property
    def is_duplicate(self) -> np.ndarray:
        """True for every member of a group except its kept member."""
        return self.kept_pos[self.gid] != np.arange(len(self.gid))


def column_ids(table: pa.Table, column: str, ctx: Context) -> tuple[np.ndarray, pa.Array]:
    """:func:`dense_ids` of a normalized column (a missing column is all ""), computed once per audit."""
    def compute() -> tuple[np.ndarray, pa.Array]:
        if column in table.column_names:
            return dense_ids(normalized(table, column, ctx))
        return dense_ids(pa.array([""] * table.num_rows, pa.string()))

    return ctx.cached(("column_ids", column, ctx.table_key(table)), compute)


def fields_sep_free(table: pa.Table, fields: tuple[str, ...] | list[str], ctx: Context) -> bool:
    """Whether no distinct normalized value of ``fields`` holds :data:`SEP`. Then rows have equal joined
    keys exactly when every field is equal, so tuples of per-field ids group as the joined keys do."""
    def compute() -> bool:
        for f in fields:
            values = column_ids(table, f, ctx)[1]
            if len(values) and pc.any(pc.match_substring(values, SEP)).as_py():
                return False
        return True

    return ctx.cached(("fields_sep_free", tuple(fields), ctx.table_key(table)), compute)


def tuple_ids(table: pa.Table, fields: tuple[str, ...] | list[str], ctx: Context) -> tuple[np.ndarray, int]:
    """Group id per row (0..k-1 in order of first appearance) of the normalized ``fields`` taken
    together, and k: the ids :func:`dense_ids` gives :func:`joined_key`, built from the cached per-field
    ids (integer hashing, no joined strings) when no field holds the separator."""
    if not fields_sep_free(table, fields, ctx):
        gid, uniq = dense_ids(joined_key(table, fields, ctx))
        return gid, len(uniq)
    gid, uniq = column_ids(table, fields[0], ctx)
    k = len(uniq)
    for f in fields[1:]:
        ids, values = column_ids(table, f, ctx)
        if len(values) > 1:  # (first-seen order of pairs = first-seen order of the joined keys)
            gid, uniq = dense_ids(pa.array(gid * len(values) + ids))
            k = len(uniq)
    return gid, k


def exact_groups(table: pa.Table, ctx: Context, fields: tuple[str, ...] = EXACT_FIELDS) -> ExactGroups:
    def compute() -> ExactGroups:
        gid, k = tuple_ids(table, fields, ctx)
        rows = row_ids(table)
        return ExactGroups(gid, k, lowest_member(gid, rows, k), rows)

    return ctx.cached(("exact_groups", tuple(fields), ctx.table_key(table)), compute)


def seed_of(ctx: Context, default: int = 0) -> int:
    """The audit seed (``ctx.config.seed``), or ``default`` when there is no config (unit tests)."""
    seed = getattr(getattr(ctx, "config", None), "seed", None)
    return int(seed) if seed is not None else default


def nullable_int(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """int64 Arrow array, null where ``valid`` is False (partner columns)."""
    return pa.array(np.where(valid, values, 0).astype(np.int64), mask=~valid, type=pa.int64())
