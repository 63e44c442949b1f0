"""Shape detection, normalization, --map, metadata and ids."""

from __future__ import annotations

import orjson
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from finesift.errors import ConfigError, InputError
from finesift.io import read
from finesift.io.shapes import detect_shape, flatten_chat
from finesift.records import conversation


def _one(write_jsonl, rec, **kw):
    ds = read(str(write_jsonl([rec])), **kw)
    # the conversation as records.conversation gives it (one-exchange rows store none)
    table = ds.table.set_column(ds.table.schema.get_field_index("turns"), "turns", conversation(ds.table))
    return ds, table.to_pylist()[0]


def test_alpaca(write_jsonl):
    ds, r = _one(write_jsonl, {"instruction": "Sum", "input": "1 2", "output": "3", "date": "2024-01-01"})
    assert ds.shape == "alpaca"
    assert ds.field_map == {"instruction": "instruction", "input": "input", "output": "output"}
    assert r["prompt"] == "Sum\n\n1 2" and r["output"] == "3" and r["system"] is None
    assert r["turns"] == [{"role": "user", "text": "Sum\n\n1 2"}, {"role": "assistant", "text": "3"}]
    assert orjson.loads(r["metadata"]) == {"date": "2024-01-01"}


def test_prompt_completion(write_jsonl):
    ds, r = _one(write_jsonl, {"prompt": "Q", "completion": "A", "system": "Be brief."})
    assert ds.shape == "prompt_completion"
    assert (r["prompt"], r["output"], r["system"]) == ("Q", "A", "Be brief.")
    assert r["metadata"] == "{}"


def test_conversational_prompt_completion(write_jsonl):
    ds, r = _one(write_jsonl, {"prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
                               "completion": [{"role": "assistant", "content": "A"}]})
    assert (r["system"], r["prompt"], r["output"]) == ("S", "Q", "A")


def test_messages_multi_turn_with_system(write_jsonl):
    ds, r = _one(write_jsonl, {"messages": [
        {"role": "system", "content": "You translate."},
        {"role": "user", "content": "cat"},
        {"role": "assistant", "content": "chat"},
        {"role": "user", "content": "dog"},
        {"role": "assistant", "content": "chien"},
    ], "lang": "fr"})
    assert ds.shape == "messages" and ds.field_map["messages"] == "messages"
    assert r["system"] == "You translate."
    assert r["prompt"] == "user: cat\nassistant: chat\nuser: dog"
    assert r["output"] == "chien"
    assert [t["role"] for t in r["turns"]] == ["user", "assistant", "user", "assistant"]
    assert orjson.loads(r["metadata"]) == {"lang": "fr"}


def test_sharegpt_roles(write_jsonl):
    ds, r = _one(write_jsonl, {"id": "conv-1", "conversations": [
        {"from": "system", "value": "S"}, {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]})
    assert ds.shape == "sharegpt"
    assert (r["id"], r["system"], r["prompt"], r["output"]) == ("conv-1", "S", "hi", "hello")
    assert r["turns"] == [{"role": "user", "text": "hi"}, {"role": "assistant", "text": "hello"}]
    _, r = _one(write_jsonl, {"conversations": [{"from": "user", "value": "q"}, {"from": "assistant", "value": "a"}]})
    assert (r["prompt"], r["output"]) == ("q", "a")


def test_chat_without_final_assistant_turn_has_empty_output(write_jsonl):
    _, r = _one(write_jsonl, {"messages": [{"role": "user", "content": "q"}]})
    assert (r["prompt"], r["output"]) == ("q", "")
    _, r = _one(write_jsonl, {"messages": []})
    assert (r["prompt"], r["output"], r["turns"]) == ("", "", [])


def test_alpaca_and_chat_versions_agree(write_jsonl):
    _, a = _one(write_jsonl, {"instruction": "Sum", "input": "1 2", "output": "3"})
    _, m = _one(write_jsonl, {"messages": [{"role": "user", "content": "Sum\n\n1 2"},
                                           {"role": "assistant", "content": "3"}]})
    assert (a["prompt"], a["output"], a["turns"]) == (m["prompt"], m["output"], m["turns"])


def test_content_parts_null_content_and_numbers(write_jsonl):
    _, r = _one(write_jsonl, {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": None}]})
    assert (r["prompt"], r["output"]) == ("look", "")
    _, r = _one(write_jsonl, {"instruction": "2+2", "output": 4})
    assert r["output"] == "4"


def test_field_map_overrides_detection(write_jsonl):
    rec = {"question": "Q", "answer": "A", "instruction": "not this one", "output": "nor this"}
    ds, r = _one(write_jsonl, rec, field_map={"instruction": "question", "output": "answer"})
    assert ds.shape == "alpaca"
    assert ds.field_map["instruction"] == "question" and ds.field_map["output"] == "answer"
    assert (r["prompt"], r["output"]) == ("Q", "A")
    assert orjson.loads(r["metadata"]) == {"instruction": "not this one", "output": "nor this"}
    ds, r = _one(write_jsonl, {"q": "Q", "a": "A", "uid": 9}, field_map={"prompt": "q", "completion": "a", "id": "uid"})
    assert ds.shape == "prompt_completion" and r["id"] == "9" and r["metadata"] == "{}"
    ds, r = _one(write_jsonl, {"chat": [{"role": "user", "content": "x"}]}, field_map={"messages": "chat"})
    assert ds.shape == "messages" and r["prompt"] == "x"


def test_field_map_errors(write_jsonl):
    p = str(write_jsonl([{"question": "Q", "answer": "A"}]))
    with pytest.raises(ConfigError, match="unknown name 'question'"):
        read(p, field_map={"question": "question"})
    with pytest.raises(ConfigError, match="different shapes"):
        read(p, field_map={"instruction": "question", "completion": "answer"})
    with pytest.raises(InputError, match="'nope'.*fields found: 'question', 'answer'"):
        read(p, field_map={"instruction": "nope", "output": "answer"})
    with pytest.raises(InputError, match="'output'.*not in the first records"):
        read(p, field_map={"instruction": "question"})


def test_detection_prefers_the_shape_most_records_have():
    sample = [{"prompt": "p", "completion": "c"}] * 3 + [{"instruction": "i", "output": "o"}]
    assert detect_shape(sample, None, "x").shape == "prompt_completion"


def test_ids_given_hashed_and_unique(write_jsonl):
    rows = [{"id": "a", "instruction": "x", "output": "y"}, {"id": "a", "instruction": "x2", "output": "y"},
            {"instruction": "x", "output": "y"}, {"instruction": "x", "output": "y"}, {"id": 5, "instruction": "z",
                                                                                     "output": "w"}]
    ds = read(str(write_jsonl(rows)))
    ids = ds.table["id"].to_pylist()
    h = xxhash.xxh64_hexdigest(orjson.dumps(rows[2]))
    assert ids == ["a", "a-2", h, f"{h}-2", "5"]
    assert ds.field_map["id"] == "id"
    # stable: the same content gets the same id in another file
    assert read(str(write_jsonl(rows[2:3], "other.jsonl"))).table["id"][0].as_py() == h


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["a", "a-2", "b", "a-3", "a-2"]), min_size=1, max_size=12))
def test_ids_are_always_unique(tmp_path_factory, given_ids):
    path = tmp_path_factory.mktemp("ids") / "d.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"id": i, "instruction": "x", "output": "y"}) + b"\n" for i in given_ids))
    ids = read(str(path)).table["id"].to_pylist()
    assert len(set(ids)) == len(ids)
    assert ids[0] == given_ids[0]


@given(st.lists(st.tuples(st.sampled_from(["user", "assistant", "tool"]), st.text(max_size=5)), max_size=6))
def test_flatten_chat_output_is_final_assistant_turn(turns):
    roles, texts = [r for r, _ in turns], [t for _, t in turns]
    prompt, output = flatten_chat(roles, texts)
    assert output == (texts[-1] if roles and roles[-1] == "assistant" else "")
    n = len(roles) - (1 if output or (roles and roles[-1] == "assistant") else 0)
    if n == 1 and roles[0] == "user":
        assert prompt == texts[0]
    else:
        assert prompt.count("\n") >= max(n - 1, 0)


# --------------------------------------------------------------------------- role names


def test_unknown_roles_are_an_error_naming_them_and_the_record(write_jsonl):
    ok = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "narrator", "content": "a"},
                        {"role": "Robot", "content": "b"}]}
    p = write_jsonl([ok, bad])
    with pytest.raises(InputError, match=r"data\.jsonl:2: 'messages' has unknown role name\(s\) 'narrator', 'Robot'"
                                         r".*--map role\.assistant=NAME") as info:
        read(str(p))
    assert info.value.line == 2
    ds = read(str(p), on_error="skip")
    assert len(ds) == 1 and "'narrator'" in ds.errors[0]["reason"]
    sharegpt = write_jsonl([{"conversations": [{"from": "human", "value": "q"}, {"from": "helper", "value": "a"}]}],
                           name="s.jsonl")
    with pytest.raises(InputError, match=r"s\.jsonl:1: 'conversations' has unknown role name\(s\) 'helper'"):
        read(str(sharegpt))


@pytest.mark.parametrize("name, role", [
    ("Assistant ", "assistant"), (" USER", "user"), ("bot", "assistant"), ("ai", "assistant"), ("model", "assistant"),
    ("chatgpt", "assistant"), ("gpt", "assistant"), ("prompter", "user"), ("human", "user"), ("tool", "tool"),
    ("function", "tool"), ("observation", "tool"), ("function_call", "assistant"),
])
def test_known_role_aliases(write_jsonl, name, role):
    _, r = _one(write_jsonl, {"conversations": [{"from": "user", "value": "q"}, {"from": name, "value": "a"}]})
    assert r["turns"][-1] == {"role": role, "text": "a"}
    # a bot/"Assistant " answer used to be read as a prompt line, leaving the answer empty
    assert r["output"] == ("a" if role == "assistant" else "")
    _, s = _one(write_jsonl, {"messages": [{"role": "developer", "content": "S"}, {"role": "user", "content": "q"}]})
    assert s["system"] == "S"


def test_roles_mapped_explicitly(write_jsonl):
    rec = {"messages": [{"role": "narrator", "content": "S"}, {"role": "Kunde", "content": "q"},
                        {"role": "Agent", "content": "a"}]}
    p = str(write_jsonl([rec]))
    ds = read(p, roles={"narrator": "system", "kunde": "user", "AGENT ": "assistant"})
    r = ds.table.to_pylist()[0]
    assert (r["system"], r["prompt"], r["output"]) == ("S", "q", "a")
    # --map role.ROLE=NAME[|NAME...] entries, as parse_map passes them on
    ds2 = read(p, field_map={"role.system": "narrator", "role.user": "kunde", "role.assistant": "agent|bot"})
    assert ds2.table.to_pylist()[0]["output"] == "a"
    assert ds2.field_map["role.assistant"] == "agent|bot"
    with pytest.raises(ConfigError, match="'robot' is not a role"):
        read(p, field_map={"role.robot": "agent"})
    with pytest.raises(ConfigError, match="roles: 'agent'"):
        read(p, roles={"agent": "answerer"})


# --------------------------------------------------------------------------- one field, one part


def test_one_field_cannot_be_two_parts(write_jsonl):
    p = str(write_jsonl([{"instruction": "Q", "output": "A", "question": "Q2"}]))
    with pytest.raises(ConfigError, match="instruction and output both name the field 'instruction'"):
        read(p, field_map={"instruction": "instruction", "output": "instruction"})
    with pytest.raises(ConfigError, match="'instruction' is the field alpaca reads as instruction by default"):
        read(p, field_map={"output": "instruction"})
    q = str(write_jsonl([{"input": "the question", "output": "A"}], name="q.jsonl"))
    r = read(q, field_map={"instruction": "input"}).table.to_pylist()[0]
    assert r["prompt"] == "the question"  # not "the question\n\nthe question": input is not also read as input


def test_one_exchange_rows_store_no_turns_but_their_conversation_is_prompt_and_answer(write_jsonl):
    # the turns of an Alpaca row would hold its prompt and answer a second time (85 MB on 200k
    # templated rows); a chat's turns are stored, and both read back as one conversation column
    ds = read(str(write_jsonl([{"instruction": "Sum", "input": "1 2", "output": "3"},
                               {"instruction": "Hi", "output": "Hello"}])))
    assert ds.table["turns"].null_count == 2
    assert conversation(ds.table).to_pylist() == [
        [{"role": "user", "text": "Sum\n\n1 2"}, {"role": "assistant", "text": "3"}],
        [{"role": "user", "text": "Hi"}, {"role": "assistant", "text": "Hello"}]]
    chat = read(str(write_jsonl([{"messages": [{"role": "user", "content": "q"},
                                               {"role": "assistant", "content": "a"},
                                               {"role": "user", "content": "q2"},
                                               {"role": "assistant", "content": "a2"}]}])))
    assert chat.table["turns"].null_count == 0
    assert [t["role"] for t in conversation(chat.table).to_pylist()[0]] == ["user", "assistant"] * 2


def test_conversation_fills_only_the_rows_that_store_no_turns():
    import pyarrow as pa

    from finesift.records import SCHEMA

    turns = pa.array([None, [{"role": "user", "text": "x"}], None, []], SCHEMA.field("turns").type)
    table = pa.table({"turns": turns, "prompt": ["p0", "x", None, ""], "output": ["o0", "", "o2", ""]})
    assert conversation(table).to_pylist() == [
        [{"role": "user", "text": "p0"}, {"role": "assistant", "text": "o0"}],
        [{"role": "user", "text": "x"}],
        [{"role": "user", "text": ""}, {"role": "assistant", "text": "o2"}],
        []]
