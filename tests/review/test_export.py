"""``--export``: the validated set in the input's shape and format, edits applied; the agreement table."""

from __future__ import annotations

import orjson
import pytest

from finesift.api import curate
from finesift.io import read
from finesift.review.export import apply_edit, export
from finesift.review.store import ReviewStore


def test_export_writes_accepted_and_edited_rows_in_the_input_shape(curated, tmp_path):
    s = ReviewStore(curated / "review.sqlite")
    s.record([(0, "accept", None, None), (19, "accept", None, None), (20, "reject", None, None)], kind="group")
    s.record([(1, "reject", None, None)])
    s.record([(3, "edit", "Translate to French: The weather is lovely.", "Il fait très beau.")])
    s.record([(23, "accept", None, None)])  # the tool rejected it (placeholder): overruled
    out = tmp_path / "export"
    table = export(curated, out)
    lines = [orjson.loads(x) for x in (out / "validated.jsonl").read_bytes().splitlines()]
    assert [x["source"] for x in lines] == ["test", "test", "copy", "ph"]  # rows 0, 3, 19, 23 in row order
    assert all("_finesift" not in x for x in lines)
    assert lines[1]["instruction"] == "Translate to French: The weather is lovely."
    assert lines[1]["output"] == "Il fait très beau." and lines[1]["input"] == ""
    assert set(lines[0]) == {"instruction", "input", "output", "source"}
    ds = read(str(out / "validated.jsonl"))
    assert ds.shape == "alpaca" and len(ds) == 4
    o = table["overall"]
    assert o == {"decided": 6, "agreed": 3, "tool_kept_person_rejected": 1, "tool_rejected_person_accepted": 2,
                 "edited": 1}
    assert table["codes"]["placeholder_output"]["overruled"] == 1
    assert table["codes"]["exact_duplicate"]["person_kept"] == 1 and table["codes"]["exact_duplicate"]["overruled"] == 1
    assert orjson.loads((out / "agreement.json").read_bytes())["overall"] == o


def test_export_of_a_csv_messages_dataset(tmp_path):
    msgs = lambda u, a: orjson.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": u},
                                      {"role": "assistant", "content": a}]).decode()
    import csv

    data = tmp_path / "chat.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["messages", "topic"])
        for i in range(8):
            w.writerow([msgs(f"Question number {i} about cats?", f"Answer number {i}: cats sleep a lot."), f"t{i}"])
        w.writerow([msgs("Empty one?", ""), "bad"])
    curate(str(data), tmp_path / "cur", no_models=True)
    s = ReviewStore(tmp_path / "cur" / "review.sqlite")
    s.record([(2, "edit", "Question two, edited?", "Edited answer.")])
    s.record([(8, "accept", None, None)])  # rejected by the tool (empty answer), accepted here
    s.record([(5, "accept", None, None)])
    export(tmp_path / "cur", tmp_path / "exp")
    ds = read(str(tmp_path / "exp" / "validated.csv"))
    assert ds.shape == "messages" and len(ds) == 3
    assert ds.table["prompt"].to_pylist() == ["Question two, edited?", "Question number 5 about cats?", "Empty one?"]
    assert ds.table["output"].to_pylist()[0] == "Edited answer."
    assert ds.table["system"].to_pylist() == ["Be brief."] * 3
    header = (tmp_path / "exp" / "validated.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "messages,topic"  # no annotation columns from rejected.csv


@pytest.mark.parametrize("prompt, want", [
    ("Summarize:\n\nnew text", {"instruction": "Summarize:", "input": "new text"}),
    ("Shorten:\n\nold text", {"instruction": "Shorten:", "input": "old text"}),
    ("all new", {"instruction": "all new", "input": ""}),
])
def test_alpaca_prompt_edits_go_back_into_instruction_and_input(prompt, want):
    rec = {"instruction": "Summarize:", "input": "old text", "output": "x", "k": 1}
    got = apply_edit(dict(rec), "alpaca", {}, prompt, None)
    assert {k: got[k] for k in ("instruction", "input")} == want and got["k"] == 1 and got["output"] == "x"


def test_export_needs_decisions(curated, tmp_path):
    from finesift.errors import InputError

    with pytest.raises(InputError, match="nothing was reviewed"):
        export(curated, tmp_path / "x")
