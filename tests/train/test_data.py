"""Records -> chat-templated examples: loss on the answer and end-of-turn only, prompts as at inference."""

from __future__ import annotations

import copy

import pyarrow as pa

from finesift.records import SCHEMA, Dataset
from finesift.train.data import IGNORE, ChatFormatter, Example, eval_items, to_examples


def _dataset(records: list[dict]) -> Dataset:
    rows = []
    for i, r in enumerate(records):
        rows.append({"row": i, "id": str(i), "system": r.get("system"), "turns": r["turns"],
                     "prompt": r["turns"][0]["text"], "output": r["turns"][-1]["text"], "metadata": "{}",
                     "raw": b"{}"})
    return Dataset(pa.Table.from_pylist(rows, schema=SCHEMA), source="mem", format="jsonl", shape="messages")


def _turns(*pairs):
    return [{"role": r, "text": t} for r, t in pairs]


def test_labels_cover_answer_and_end_of_turn_only(smollm_tokenizer):
    fmt = ChatFormatter(smollm_tokenizer)
    ex = Example(0, [{"role": "user", "content": "Translate to French: Hello."}], "Bonjour.")
    ids, labels = fmt.encode(ex)
    answer = [t for t in labels if t != IGNORE]
    assert smollm_tokenizer.decode(answer) == "Bonjour.<|im_end|>"
    n_prompt = labels.index(answer[0])
    # the trained context is token for token what generation sees
    assert ids[:n_prompt] == fmt.encode_prompt(ex.messages)
    assert all(t == IGNORE for t in labels[:n_prompt])
    assert ids[-1] == smollm_tokenizer.eos_token_id  # no loss on ChatML's trailing newline


def test_multi_turn_history_and_system_go_to_the_prompt(smollm_tokenizer):
    ds = _dataset([
        {"system": "Be terse.", "turns": _turns(("user", "Hi"), ("assistant", "Hello"), ("user", "Bye?"),
                                                ("assistant", "Bye."))},
        {"turns": _turns(("human", "Q"), ("gpt", "A"))},
        {"turns": _turns(("user", "empty"), ("assistant", "  "))},
    ])
    examples, skipped = to_examples(ds, system_prompt="Default system.")
    assert skipped == 1
    first, second = examples
    assert [m["role"] for m in first.messages] == ["system", "user", "assistant", "user"]
    assert first.messages[0]["content"] == "Be terse." and first.answer == "Bye."
    assert second.messages == [{"role": "system", "content": "Default system."}, {"role": "user", "content": "Q"}]
    fmt = ChatFormatter(smollm_tokenizer)
    ids, labels = fmt.encode(first)
    assert smollm_tokenizer.decode([t for t in labels if t != IGNORE]) == "Bye.<|im_end|>"
    assert "Hello" in smollm_tokenizer.decode(ids)  # history is context, not target


def test_truncation_drops_examples_without_answer_tokens(smollm_tokenizer):
    fmt = ChatFormatter(smollm_tokenizer, max_length=20)
    long_prompt = Example(0, [{"role": "user", "content": "word " * 50}], "answer")
    short = Example(1, [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}], "yo")
    tok = fmt.tokenize([long_prompt, short])
    assert tok.dropped == 1 and tok.rows == [1]
    assert all(len(x) <= 20 for x in tok.input_ids)


def test_fallback_format_without_chat_template(smollm_tokenizer):
    tok = copy.deepcopy(smollm_tokenizer)
    tok.chat_template = None
    fmt = ChatFormatter(tok)
    ids, labels = fmt.encode(Example(0, [{"role": "user", "content": "Q?"}], "A."))
    assert "### Assistant:" in tok.decode(ids)
    assert tok.decode([t for t in labels if t != IGNORE]) == "A." + tok.eos_token


def test_eval_items_group_references_by_prompt():
    m = [{"role": "user", "content": "Translate to French: Run!"}]
    other = [{"role": "user", "content": "Translate to French: Go."}]
    items = eval_items([Example(0, m, "Cours !"), Example(1, other, "Va !"), Example(2, m, "Courez !"),
                        Example(3, m, "Cours !")])
    assert [it.references for it in items] == [["Cours !", "Courez !"], ["Va !"]]
    assert items[0].rows == [0, 2, 3]
