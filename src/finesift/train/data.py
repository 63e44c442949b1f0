"""Normalized records -> chat-templated SFT examples with the loss on the answer only.

Each row becomes a conversation: the system prompt (if any), every turn before the
final answer, then the answer. The prompt is rendered with the model's own chat
template exactly as at inference (``add_generation_prompt=True``); the answer tokens
and the end-of-turn token are the only ones with labels. The prompt is tokenized on
its own so that the context seen in training is token-for-token the one generation
sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import InputError
from ..records import Dataset

IGNORE = -100

#: Role names other shapes use, mapped to the chat-template roles.
_ROLES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant", "chatgpt": "assistant"}

#: Used only when a tokenizer has no chat template (base models).
_FALLBACK = {"system": "{}\n\n", "user": "### User:\n{}\n\n", "assistant": "### Assistant:\n{}\n\n"}


@dataclass
class Example:
    """One supervised example: the conversation before the answer, and the answer."""

    row: int
    messages: list[dict[str, str]]
    answer: str


@dataclass
class Tokenized:
    """Token ids and labels (prompt positions set to -100) for a list of examples."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    rows: list[int]
    dropped: int = 0  # examples whose answer did not fit max_length

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def tokens(self) -> int:
        return sum(len(x) for x in self.input_ids)

    @property
    def answer_tokens(self) -> int:
        return sum(sum(1 for t in lab if t != IGNORE) for lab in self.labels)

    def mean_length(self) -> float:
        return self.tokens / len(self) if len(self) else 0.0

    def to_hf(self):
        """A ``datasets.Dataset`` SFTTrainer accepts as already processed (it skips its own templating)."""
        from datasets import Dataset as HFDataset

        return HFDataset.from_dict({"input_ids": self.input_ids, "labels": self.labels})

    def subset(self, idx: list[int]) -> "Tokenized":
        return Tokenized([self.input_ids[i] for i in idx], [self.labels[i] for i in idx], [self.rows[i] for i in idx])


@dataclass
class EvalItem:
    """One prompt to generate for, with every reference answer the eval file gives it."""

    messages: list[dict[str, str]]
    references: list[str]
    rows: list[int] = field(default_factory=list)


def load(data: "str | Path | Dataset", *, fmt: str | None = None, field_map: dict[str, str] | None = None) -> Dataset:
    """A path is read with :func:`finesift.io.read`; a Dataset passes through."""
    if isinstance(data, Dataset):
        return data
    path = Path(data)
    if not path.exists():
        raise InputError(str(path), "no such file or folder")
    from ..io import read

    return read(str(path), fmt=fmt, field_map=field_map)


def subset(ds: Dataset, rows: list[int], source: str | None = None) -> Dataset:
    """The Dataset restricted to the given positions (``row`` values are kept)."""
    import pyarrow as pa

    return Dataset(ds.table.take(pa.array(rows, pa.int64())), source=source or ds.source, format=ds.format,
                   shape=ds.shape, field_map=dict(ds.field_map))


def to_examples(ds: Dataset, system_prompt: str | None = None) -> tuple[list[Example], int]:
    """Examples for every row with a non-empty answer; also the count of rows skipped for an empty answer."""
    cols = ds.table.select(["row", "system", "turns", "prompt", "output"]).to_pylist()
    out: list[Example] = []
    skipped = 0
    for rec in cols:
        turns = [{"role": _ROLES.get((t.get("role") or "").lower(), (t.get("role") or "user").lower()),
                  "content": t.get("text") or ""} for t in (rec["turns"] or [])]
        if turns and turns[-1]["role"] == "assistant":
            answer, before = turns[-1]["content"], turns[:-1]
        else:  # no trailing assistant turn: fall back on the flattened prompt/output columns
            answer, before = rec["output"] or "", [{"role": "user", "content": rec["prompt"] or ""}]
        if not answer.strip():
            skipped += 1
            continue
        own_system = [m["content"] for m in before if m["role"] == "system"]
        before = [m for m in before if m["role"] != "system"]
        system = rec["system"] if rec["system"] is not None else (own_system[0] if own_system else system_prompt)
        messages = ([{"role": "system", "content": system}] if system is not None else []) + before
        out.append(Example(int(rec["row"]), messages, answer))
    return out, skipped


def eval_items(examples: list[Example]) -> list[EvalItem]:
    """Group examples sharing a prompt into one item with several references (first-seen order).

    Translation data often has several valid answers per prompt; scoring a hypothesis
    against all of them is fairer than against whichever row came first.
    """
    items: dict[bytes, EvalItem] = {}
    for ex in examples:
        key = orjson.dumps(ex.messages)
        item = items.get(key)
        if item is None:
            items[key] = item = EvalItem(ex.messages, [], [])
        if ex.answer not in item.references:
            item.references.append(ex.answer)
        item.rows.append(ex.row)
    return list(items.values())


class ChatFormatter:
    """Renders prompts with the tokenizer's chat template and builds answer-only labels."""

    def __init__(self, tokenizer, max_length: int = 512):
        self.tok = tokenizer
        self.max_length = max_length
        self.templated = bool(getattr(tokenizer, "chat_template", None))
        self.eos = tokenizer.eos_token or ""

    def prompt_text(self, messages: list[dict[str, str]]) -> str:
        if self.templated:
            return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "".join(_FALLBACK.get(m["role"], _FALLBACK["user"]).format(m["content"]) for m in messages) + \
            "### Assistant:\n"

    def answer_text(self, messages: list[dict[str, str]], answer: str, prompt: str) -> str:
        """The answer as the template renders it, ending at the end-of-turn token (what generation stops on)."""
        if not self.templated:
            return answer + self.eos
        full = self.tok.apply_chat_template(messages + [{"role": "assistant", "content": answer}], tokenize=False)
        if not full.startswith(prompt):  # exotic template: answer plus end-of-sequence is the honest fallback
            return answer + self.eos
        tail = full[len(prompt):]
        # Text after the end-of-turn token (ChatML's trailing newline) is never generated: no loss on it.
        if self.eos and self.eos in tail:
            tail = tail[: tail.rindex(self.eos) + len(self.eos)]
        return tail

    def encode_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        return self.tok(self.prompt_text(messages), add_special_tokens=False)["input_ids"]

    def encode(self, ex: Example) -> tuple[list[int], list[int]] | None:
        """``(input_ids, labels)``, cut to max_length; None when no answer token fits."""
        prompt = self.prompt_text(ex.messages)
        p_ids = self.tok(prompt, add_special_tokens=False)["input_ids"]
        a_ids = self.tok(self.answer_text(ex.messages, ex.answer, prompt), add_special_tokens=False)["input_ids"]
        ids = (p_ids + a_ids)[: self.max_length]
        labels = ([IGNORE] * len(p_ids) + a_ids)[: self.max_length]
        if all(t == IGNORE for t in labels):
            return None
        return ids, labels

    def tokenize(self, examples: list[Example]) -> Tokenized:
        ids, labels, rows, dropped = [], [], [], 0
        for ex in examples:
            enc = self.encode(ex)
            if enc is None:
                dropped += 1
                continue
            ids.append(enc[0])
            labels.append(enc[1])
            rows.append(ex.row)
        return Tokenized(ids, labels, rows, dropped)


def describe(ds: Dataset, examples: list[Example], tokenized: Tokenized, skipped_empty: int) -> dict[str, Any]:
    """What was trained on: counts the summary reports."""
    return {
        "source": ds.source,
        "rows": len(ds),
        "examples": len(tokenized),
        "skipped_empty_answer": skipped_empty,
        "dropped_too_long": tokenized.dropped,
        "tokens": tokenized.tokens,
        "answer_tokens": tokenized.answer_tokens,
        "mean_tokens": round(tokenized.mean_length(), 1),
    }
