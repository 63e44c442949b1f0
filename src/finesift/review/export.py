"""``finesift review DIR --export OUT``: the validated set in the input's shape and format, and the agreement table.

The validated set is every row the person accepted or edited, in row order, written by
:func:`finesift.io.write_records` (as curate writes ``kept.*``) from the records of ``kept.*`` and
``rejected.*``: a rejected row's ``_finesift`` annotations are removed, and edits are written into
the record's own fields:

* Alpaca: the answer into the answer field; a prompt into ``instruction`` (when the record has an
  ``input``, the edited prompt is split back at the ``instruction``/``input`` boundary when one of
  the two is unchanged, else all of it goes to ``instruction`` and ``input`` is emptied);
* prompt/completion: the ``prompt`` and ``completion`` fields (or their single message);
* messages / ShareGPT: the content of the single user message and of the final assistant message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from ..io.jsonutil import decode_raw, encode_raw
from ..io.shapes import ROLE_ALIASES, role_key
from ..records import Dataset

VALIDATED = "validated"
AGREEMENT = "agreement.json"


def _strip_annotations(rec: dict[str, Any], nested: bool) -> dict[str, Any]:
    """A rejected record without the annotations curate added (the last ``_finesift[_N]`` key or
    ``finesift_[N_]`` prefix holding ``reasons``: the one no input field used)."""
    if nested:
        keys = [k for k in rec if (k == "_finesift" or k.startswith("_finesift_")) and isinstance(rec[k], dict)
                and "reasons" in rec[k]]
        if keys:
            rec.pop(max(keys, key=lambda k: (len(k), k)))
        return rec
    prefixes = [k[: -len("reasons")] for k in rec if k.startswith("finesift_") and k.endswith("reasons")]
    if prefixes:
        prefix = max(prefixes, key=len)
        for k in [k for k in rec if k.startswith(prefix)]:
            rec.pop(k)
    return rec


def _role(msg: dict, aliases=ROLE_ALIASES) -> str | None:
    name = msg.get("role", msg.get("from"))
    return aliases.get(role_key(name)) if isinstance(name, str) else None


def _set_content(msg: dict, text: str) -> None:
    msg["content" if "content" in msg or "value" not in msg else "value"] = text


def _edit_messages(msgs: Any, prompt: str | None, output: str | None) -> Any:
    as_text = isinstance(msgs, str)
    if as_text:
        msgs = orjson.loads(msgs)
    lead = 0
    while lead < len(msgs) and _role(msgs[lead]) == "system":  # leading system messages are not the prompt
        lead += 1
    body = msgs[lead:]
    if output is not None:
        last = next((m for m in reversed(body) if _role(m) == "assistant"), None)
        if last is not None:
            _set_content(last, output)
    if prompt is not None:
        users = [m for m in body if _role(m) == "user"]
        if len(users) == 1:
            _set_content(users[0], prompt)
    return orjson.dumps(msgs).decode() if as_text else msgs


def apply_edit(rec: dict[str, Any], shape: str, field_map: dict[str, str], prompt: str | None,
               output: str | None) -> dict[str, Any]:
    """``rec`` with an edited prompt and/or answer written into its own fields."""
    fm = field_map or {}
    if shape == "alpaca":
        f_ins, f_inp = fm.get("instruction", "instruction"), fm.get("input", "input")
        f_out = fm.get("output") or ("output" if "output" in rec else "response")
        if output is not None:
            rec[f_out] = output
        if prompt is not None:
            ins, inp = rec.get(f_ins) or "", rec.get(f_inp) or ""
            if inp and isinstance(ins, str) and isinstance(inp, str):
                if prompt.startswith(ins + "\n\n"):
                    rec[f_inp] = prompt[len(ins) + 2:]
                elif prompt.endswith("\n\n" + inp):
                    rec[f_ins] = prompt[: -len(inp) - 2]
                else:
                    rec[f_ins], rec[f_inp] = prompt, ""
            else:
                rec[f_ins] = prompt
        return rec
    if shape == "prompt_completion":
        f_p, f_c = fm.get("prompt", "prompt"), fm.get("completion", "completion")
        if prompt is not None:
            rec[f_p] = _edit_messages(rec[f_p], prompt, None) if isinstance(rec[f_p], list) else prompt
        if output is not None:
            rec[f_c] = _edit_messages(rec[f_c], None, output) if isinstance(rec[f_c], list) else output
        return rec
    f_msgs = fm.get("messages" if shape == "messages" else "conversations", shape if shape == "messages" else "conversations")
    rec[f_msgs] = _edit_messages(rec[f_msgs], prompt, output)
    return rec


def validated_dataset(data, states) -> tuple[Dataset, list[int]]:
    """A dataset holding the accepted and edited rows' records (edits applied), and their rows."""
    keep = sorted(r for r, st in states.items() if st.keep and r in data.source_of)
    base = data.kept if data.kept is not None else data.rejected
    assert base is not None
    nested = base.format in ("jsonl", "json")
    raws: list[bytes] = []
    for r in keep:
        which, pos = data.source_of[r]
        ds = data.kept if which == "kept" else data.rejected
        raw = ds.table["raw"][pos].as_py()
        st = states[r]
        if which == "kept" and not st.edited:
            raws.append(raw)
            continue
        rec = decode_raw(raw)
        if which == "rejected":
            rec = _strip_annotations(rec, nested)
        if st.edited:
            rec = apply_edit(rec, base.shape, base.field_map, st.prompt, st.output)
        raws.append(encode_raw(rec, exact_json=raw[:1] != b"\x80"))
    table = pa.table({"row": pa.array(keep, pa.int64()), "raw": pa.array(raws, pa.large_binary())})
    table = table.replace_schema_metadata(base.table.schema.metadata)
    if data.kept is None:  # the rejected file's header has the annotation columns: the validated set's has not
        from ..io.formats import attach_options, options_of

        opts = options_of(table)
        if opts.get("columns"):
            opts["columns"] = [c for c in opts["columns"] if not c.startswith("finesift_")]
        if opts.get("arrow_schema") is not None:
            schema = opts["arrow_schema"]
            opts["arrow_schema"] = pa.schema([f for f in schema if not f.name.startswith("finesift_")],
                                             metadata=schema.metadata)
        table = attach_options(table, opts)
    ds = Dataset(table=table, source=base.source, format=base.format, shape=base.shape, field_map=base.field_map)
    return ds, keep


def export(folder: str | Path, out: str | Path) -> dict[str, Any]:
    """Write ``OUT/validated.<ext>`` and ``OUT/agreement.json``; return the agreement table."""
    from ..errors import InputError
    from ..io import default_extension, write_records
    from ..io.atomic import atomic_open
    from ..pipeline import prepare_output_dir, writing
    from .data import load
    from .feedback import agreement, load_recipe_of
    from .store import DB_NAME, ReviewStore

    folder = Path(folder)
    data = load(folder)
    if not (folder / DB_NAME).exists():
        raise InputError(str(folder), f"no {DB_NAME}: nothing was reviewed yet (run 'finesift review {folder}')")
    store = ReviewStore(folder / DB_NAME)
    states = store.states()
    outdir = prepare_output_dir(out, (*(f"{VALIDATED}{s}" for s in (".jsonl", ".json", ".csv", ".tsv", ".parquet")), AGREEMENT),
                                stale=())
    ds, keep = validated_dataset(data, states)
    path = outdir / f"{VALIDATED}{default_extension(ds)}"
    with writing(path):
        write_records(ds, keep, path)
    table = agreement(data, states, load_recipe_of(folder))
    table["self_check"] = store.self_agreement()
    table["files"] = {"validated": path.name, "rows": len(keep)}
    with writing(outdir / AGREEMENT), atomic_open(outdir / AGREEMENT, "wb") as fh:
        fh.write(orjson.dumps(table, option=orjson.OPT_INDENT_2))
    return table
