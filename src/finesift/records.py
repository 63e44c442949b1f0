"""The normalized record: one Arrow table every stage reads and extends.

Every input shape (Alpaca, prompt/completion, OpenAI ``messages``, ShareGPT
``conversations``) is normalized to the same columns, so checks never care
where a row came from:

========== ============================ ==============================================
column     type                         meaning
========== ============================ ==============================================
row        int64                        0-based position of the record in the input,
                                        skipped records counted; never reused
id         string                       the input's id field, else a stable content hash
system     string (nullable)            system prompt, if any
turns      list<struct<role, text>>     the whole conversation, in order; roles are
                                        system, user, assistant or tool; null for a
                                        row that is one exchange (Alpaca, prompt/
                                        completion): [user: prompt, assistant: output]
                                        (:func:`conversation` fills those in)
prompt     string                       what the model sees before the final answer,
                                        flattened (Alpaca: instruction + input)
output     string                       the final assistant answer (the training target)
metadata   string (JSON object)         fields the shape does not use (date, source…)
raw        large_binary                 the original record, every value exact, for
                                        writing back untouched: JSON for JSON/CSV
                                        inputs, a pickle of the Arrow values for
                                        Parquet/HF (``finesift.io.jsonutil.decode_raw``)
========== ============================ ==============================================

``row`` is the join key between the input, ``audit.parquet``, curate's
``kept``/``rejected`` files, review decisions and training runs. With
``--on-error skip`` the rows of skipped records are missing (rows 0, 2, 3 when
record 1 was malformed): ``row`` is then not the table position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

TURN = pa.struct([("role", pa.string()), ("text", pa.string())])

SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("id", pa.string()),
        ("system", pa.string()),
        ("turns", pa.list_(TURN)),
        ("prompt", pa.string()),
        ("output", pa.string()),
        ("metadata", pa.string()),
        ("raw", pa.large_binary()),
    ]
)

#: Shapes the readers detect; writers use the same names to write rows back.
SHAPES = ("alpaca", "prompt_completion", "messages", "sharegpt")

#: Text fields checks look at (score column suffixes use these names).
TEXT_FIELDS = ("prompt", "output")


@dataclass
class Dataset:
    """A dataset read once into the normalized table, plus what is needed to write it back.

    ``shape`` and ``format`` say how the input looked so writers can reproduce
    it; ``field_map`` is the mapping from normalized names to the input's
    field names that was detected or given with ``--map``. ``errors`` lists
    records skipped with ``--on-error skip`` as ``{"line": n, "row": position, "reason": str,
    "text": the record}`` (``"record"`` in place of ``"line"`` for JSON arrays, Parquet, HF).
    ``input_rows`` counts every input record, skipped ones included.
    """

    table: pa.Table
    source: str
    format: str
    shape: str
    field_map: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    input_rows: int | None = None
    #: non-fatal notes from reading, e.g. "read as cp1252, not UTF-8"
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.table.num_rows

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "shape": self.shape,
            "field_map": self.field_map,
            "rows": len(self),
            "skipped_records": len(self.errors),
            "warnings": list(self.warnings),
        }


#: the roles of a one-exchange row
USER_ASSISTANT_ROLES = ("user", "assistant")


def pair_turns(prompts: pa.Array, outputs: pa.Array) -> pa.Array:
    """``turns`` of one-exchange rows: [user: prompt, assistant: answer] per row."""
    import numpy as np

    n = len(prompts)
    pick = np.empty(2 * n, dtype=np.int64)
    pick[0::2] = np.arange(n)
    pick[1::2] = np.arange(n, 2 * n)
    roles = pa.array(list(USER_ASSISTANT_ROLES), pa.string()).take(
        pa.array(np.tile(np.array([0, 1], dtype=np.int64), n)))
    texts = pa.concat_arrays([prompts, outputs]).take(pa.array(pick))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)),
                                    pa.StructArray.from_arrays([roles, texts], fields=list(TURN)),
                                    type=SCHEMA.field("turns").type)


def conversation(table: pa.Table) -> pa.Array:
    """The ``turns`` of every row of a records table, the one-exchange rows (stored as null: their
    conversation is their prompt and answer, and storing it again cost the text twice) filled in."""
    import numpy as np
    import pyarrow.compute as pc

    turns = table["turns"]
    turns = turns.combine_chunks() if isinstance(turns, pa.ChunkedArray) else turns
    if turns.null_count == 0:
        return turns
    valid = np.asarray(turns.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    missing, present = np.flatnonzero(~valid), np.flatnonzero(valid)
    idx = pa.array(missing, pa.int64())
    def texts(col: str) -> pa.Array:
        got = table[col].take(idx)
        return pc.fill_null(got.combine_chunks() if isinstance(got, pa.ChunkedArray) else got, "")

    made = pair_turns(texts("prompt"), texts("output"))
    if not len(present):
        return made
    # the stored conversations, then the made ones, put back in row order
    where = np.empty(len(turns), dtype=np.int64)
    where[present] = np.arange(len(present))
    where[missing] = len(present) + np.arange(len(missing))
    return pa.concat_arrays([turns.take(pa.array(present, pa.int64())), made]).take(pa.array(where))


def empty_table() -> pa.Table:
    return SCHEMA.empty_table()


def has_flag(flags: pa.Array | pa.ChunkedArray, code: str) -> "np.ndarray":
    """Boolean mask of rows whose ``flags`` list contains ``code`` (vectorized)."""
    import numpy as np
    import pyarrow.compute as pc

    if isinstance(flags, pa.ChunkedArray):
        flags = flags.combine_chunks()
    mask = np.zeros(len(flags), dtype=bool)
    values = pc.list_flatten(flags)
    if len(values):
        parents = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False)
        hit = pc.equal(values, code).to_numpy(zero_copy_only=False)
        mask[parents[hit]] = True
    return mask
