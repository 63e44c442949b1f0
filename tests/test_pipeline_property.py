"""Property: arbitrary records go through read -> audit -> curate -> write without an exception, every
input record is accounted for exactly once, ``row`` is its input position, and what is written back
is the record exactly as it was read.

Records are the hostile ones of :mod:`tests.io.test_roundtrip_property` (markup-like text, control
and bidi characters, huge words, odd types, known roles in odd spellings) mixed with malformed
records (skipped with ``on_error="skip"``) and with records whose role nobody knows (a clear
:class:`~finesift.errors.FinesiftError`, never a traceback and never an empty answer in silence).
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import finesift
from finesift.errors import FinesiftError
from tests.io.test_roundtrip_property import SHAPES, same

#: a record whose role is no known alias (the reader must refuse the file, naming it)
unknown_role = st.builds(lambda r: {"messages": [{"role": "user", "content": "q"}, {"role": r, "content": "a"}]},
                         st.sampled_from(["narrator", "critic", "Robot"]))


def _write(path, records) -> None:
    # the standard library's encoder: integers beyond 64 bits are written exactly
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.sampled_from(sorted(SHAPES)), st.booleans(), st.data())
def test_read_audit_curate_write_accounts_for_every_record(tmp_path_factory, shape, odd_role, data):
    good_rec, bad_rec = SHAPES[shape]
    flagged = data.draw(st.lists(st.one_of(good_rec.map(lambda r: (True, r)), bad_rec.map(lambda r: (False, r))),
                                 min_size=1, max_size=8).filter(lambda fl: any(ok for ok, _ in fl)))
    if shape == "messages" and odd_role:
        flagged.insert(data.draw(st.integers(0, len(flagged))), (None, data.draw(unknown_role)))
    records = [r for _, r in flagged]
    d = tmp_path_factory.mktemp("e2e")
    src = d / "in.jsonl"
    _write(src, records)

    if any(ok is None for ok, _ in flagged):
        try:
            finesift.curate(src, d / "out", no_models=True, on_error="skip")
        except FinesiftError as exc:
            assert "role" in str(exc)
        else:  # skipped as a malformed record: then it is listed, at its position
            skipped = [json.loads(x)["row"] for x in (d / "out" / "skipped.jsonl").read_bytes().split(b"\n") if x]
            assert [i for i, (ok, _) in enumerate(flagged) if ok is None][0] in skipped
        return

    good = [i for i, (ok, _) in enumerate(flagged) if ok]
    audit = finesift.audit(src, out=d / "audit", on_error="skip")
    assert audit.table["row"].to_pylist() == good
    res = finesift.curate(src, d / "out", no_models=True, on_error="skip")
    kept, rejected = res.kept_rows.tolist(), res.rejected_rows.tolist()
    assert sorted(kept + rejected) == good  # every readable record in exactly one of kept / rejected
    out = d / "out"
    skipped = [json.loads(x)["row"] for x in (out / "skipped.jsonl").read_bytes().split(b"\n") if x] \
        if (out / "skipped.jsonl").exists() else []
    assert skipped == [i for i in range(len(records)) if i not in good]  # ... or skipped, at its position
    assert pq.read_table(out / "audit.parquet")["row"].to_pylist() == good

    # what is written is the record as read (the standard parser: exact big integers)
    kept_back = [json.loads(x) for x in (out / "kept.jsonl").read_bytes().splitlines()]
    assert len(kept_back) == len(kept) and all(same(k, records[r]) for k, r in zip(kept_back, kept))
    rej_back = [json.loads(x) for x in (out / "rejected.jsonl").read_bytes().splitlines()]
    key = next(k for k in ("_finesift", "_finesift_1", "_finesift_2")
               if not any(isinstance(r, dict) and k in r for r in records))
    assert len(rej_back) == len(rejected)
    for got, r in zip(rej_back, rejected):
        assert same({k: v for k, v in got.items() if k != key}, records[r])
        assert got[key]["reasons"] == res.reasons[r]
        assert got[key]["kept_instead"] is None or got[key]["kept_instead"] in kept
