"""Grouping helpers shared by the dataset-level checks (duplicates, conflicts, templates).

Everything here is vectorized over numpy/pyarrow arrays: dense group ids from a
key column (strings, or the 64-bit text hashes of :mod:`finesift.checks.features`), the
lowest-``row`` member of each group, connected components of an edge list (scipy's: the one
union-find of the package) and the partner each node of a component points at.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def first_ids(keys: np.ndarray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Group id per element (0..k-1 in order of first appearance) and the k distinct keys, for
    integer keys (e.g. uint64 text hashes): what :func:`dense_ids` gives the texts themselves."""
    enc = pc.dictionary_encode(pa.array(keys) if isinstance(keys, np.ndarray) else keys)
    ids = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return ids, enc.dictionary.to_numpy(zero_copy_only=False)


def positions_of(rows: np.ndarray, state_rows: np.ndarray) -> np.ndarray:
    """Positions in ``state_rows`` (a dataset state's ``row`` values, unique, any order) of ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(state_rows) < 2 or (state_rows[1:] > state_rows[:-1]).all():
        pos = np.searchsorted(state_rows, rows)
    else:  # rows out of order (a test table; never after reading)
        order = np.argsort(state_rows, kind="stable")
        pos = order[np.minimum(np.searchsorted(state_rows[order], rows), len(order) - 1)]
    if len(rows) and (pos.max(initial=0) >= len(state_rows) or not np.array_equal(state_rows[pos], rows)):
        raise RuntimeError("a batch holds rows the dataset state was not fitted on")
    return pos


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


def component_partner(rank: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find grouping of nodes linked by edges a[i]-b[i] (:func:`components`): per node, the
    node of lowest ``rank`` in its component, -1 for that node itself (the kept member)."""
    n = len(rank)
    comp = components(n, a, b)
    head = lowest_member(comp, np.asarray(rank), n)  # component labels are node ids < n
    partner = head[comp]
    partner[partner == np.arange(n)] = -1
    return partner


def nullable_int(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """int64 Arrow array, null where ``valid`` is False (partner columns)."""
    return pa.array(np.where(valid, values, 0).astype(np.int64), mask=~valid, type=pa.int64())
