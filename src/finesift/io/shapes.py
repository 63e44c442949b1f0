"""Input shapes and their normalization to the columns of :data:`finesift.records.SCHEMA`.

Four shapes are detected from the first records:

=================== ================================================ ==========================
shape               fields (normalized name = default input field)   example
=================== ================================================ ==========================
alpaca              instruction, output (or response), [input]       Alpaca, Dolly, GPTeacher
prompt_completion   prompt, completion (strings or message lists)    OpenAI legacy, TRL
messages            messages: [{role, content}]                      OpenAI chat, TRL
sharegpt            conversations: [{from, value}]                   ShareGPT, Vicuna
=================== ================================================ ==========================

Every shape may also have ``system`` and ``id`` fields. ``--map`` (``field_map``) names
the input's fields for these normalized names and overrides detection.

Value rules:

* text fields must be strings; ``null`` is read as empty text, and numbers are read as
  their decimal text (arithmetic datasets store answers like ``4``). Booleans, lists and
  objects are errors: they are almost always a wrong ``--map``.
* chat messages accept ``role``/``content`` and ShareGPT ``from``/``value`` in either
  shape; roles are lower-cased and ``human`` → ``user``, ``gpt``/``model``/``chatgpt`` →
  ``assistant``. Content may be a list of OpenAI content parts (their text parts are
  joined); a whole message list may be JSON text, as a CSV cell must hold it.
* ids: the ``id`` field (a string or number), else the xxhash64 of the raw record;
  repeats get ``-2``, ``-3`` … so ids are unique within a file.
* leading system messages go to ``system`` (not to ``turns`` nor ``prompt``); later
  system messages stay in ``turns``.
"""

from __future__ import annotations

import decimal
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import orjson

from ..errors import ConfigError, InputError
from ..records import SHAPES
from .jsonutil import dumps

#: Normalized names ``--map`` accepts.
MAP_NAMES = ("instruction", "input", "output", "prompt", "completion", "messages", "conversations", "system", "id")

#: Per shape: required names, optional names (besides ``system`` and ``id``).
SHAPE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "alpaca": (("instruction", "output"), ("input",)),
    "prompt_completion": (("prompt", "completion"), ()),
    "messages": (("messages",), ()),
    "sharegpt": (("conversations",), ()),
}
COMMON_OPTIONAL = ("system", "id")

#: The shape a mapped name implies.
SHAPE_OF = {name: shape for shape, (req, opt) in SHAPE_FIELDS.items() for name in req + opt}

#: Input field names tried, in order, for a normalized name that ``--map`` does not give.
#: ``response`` is Dolly's (and Bitext's) name for the answer.
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {name: (name,) for name in MAP_NAMES}
DEFAULT_FIELDS["output"] = ("output", "response")

SHAPE_HELP = ("alpaca (instruction, output[, input]), prompt_completion (prompt, completion), "
              "messages (messages: [{role, content}]), sharegpt (conversations: [{from, value}])")

ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                "chatgpt": "assistant", "bard": "assistant", "bing": "assistant", "model": "assistant",
                "system": "system"}

#: How many records shape detection looks at.
SAMPLE_SIZE = 100


class RecordError(Exception):
    """One record does not fit the detected shape; the reader adds the file and line."""

    def __init__(self, reason: str, expected: str | None = None):
        super().__init__(reason)
        self.reason, self.expected = reason, expected


@dataclass(frozen=True)
class ShapeSpec:
    """The detected (or mapped) shape and the input field behind each normalized name."""

    shape: str
    #: every active normalized name -> input field name (optional ones included)
    fields: dict[str, str]
    #: the subset reported in ``Dataset.field_map``: required, mapped, or seen in the first records
    reported: dict[str, str] = field(default_factory=dict)

    @property
    def used(self) -> frozenset[str]:
        """Input fields the shape consumes; every other field goes to ``metadata``."""
        return frozenset(self.fields.values())


# --------------------------------------------------------------------------- detection


def _validate_map(field_map: dict[str, str] | None) -> dict[str, str]:
    fm = dict(field_map or {})
    for name, value in fm.items():
        if name not in MAP_NAMES:
            raise ConfigError(f"--map: unknown name '{name}'; names are: {', '.join(MAP_NAMES)}")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"--map: '{name}' must name a field of the input")
    shapes = sorted({SHAPE_OF[n] for n in fm if n in SHAPE_OF})
    if len(shapes) > 1:
        raise ConfigError(f"--map names fields of different shapes ({', '.join(shapes)}): "
                          f"{', '.join(f'{k}={v}' for k, v in fm.items())}")
    return fm


def _fields_list(counts: Counter) -> str:
    return ", ".join(repr(k) for k in counts) or "none"


def _map_suggestion(counts: Counter) -> str:
    names = [k for k in counts][:2]
    if len(names) == 2:
        return f"--map instruction={names[0]},output={names[1]}"
    return "--map instruction=QUESTION_FIELD,output=ANSWER_FIELD"


def detect_shape(sample: list[dict[str, Any]], field_map: dict[str, str] | None, source: str) -> ShapeSpec:
    """Pick the shape that fits most of the ``sample`` records (ties: :data:`SHAPES` order).

    Fields named in ``field_map`` win over default names, and a map naming any
    shape-specific field fixes the shape. Raises :class:`InputError` when no shape
    fits or a mapped field is in none of the records.
    """
    fm = _validate_map(field_map)
    counts: Counter = Counter(k for rec in sample for k in rec)

    def resolve(name: str) -> str:
        if name in fm:
            return fm[name]
        for cand in DEFAULT_FIELDS[name]:
            if cand in counts:
                return cand
        return DEFAULT_FIELDS[name][0]

    for name, fld in fm.items():
        if fld not in counts:
            raise InputError(source, f"field '{fld}' (--map {name}={fld}) is not in the first records; "
                                     f"fields found: {_fields_list(counts)}",
                             expected="--map NAME=FIELD with FIELD one of the fields found")
    implied = {SHAPE_OF[n] for n in fm if n in SHAPE_OF}
    if implied:
        shape = implied.pop()
        required = SHAPE_FIELDS[shape][0]
        missing = [resolve(n) for n in required if resolve(n) not in counts]
        if missing:
            raise InputError(source, f"--map gives a {shape} shape but field(s) {', '.join(map(repr, missing))} "
                                     f"are not in the first records; fields found: {_fields_list(counts)}",
                             expected=f"--map naming every field of {shape}: {', '.join(required)}")
    else:
        fits = {s: sum(all(resolve(n) in rec for n in SHAPE_FIELDS[s][0]) for rec in sample) for s in SHAPES}
        shape = max(SHAPES, key=lambda s: (fits[s], -SHAPES.index(s)))
        if not fits[shape]:
            raise InputError(source, f"cannot tell the dataset's shape: the first records have fields "
                                     f"{_fields_list(counts)}",
                             expected=f"one of the shapes {SHAPE_HELP}; or name your fields with --map, "
                                      f"e.g. {_map_suggestion(counts)}")
    required, optional = SHAPE_FIELDS[shape]
    fields = {n: resolve(n) for n in required + optional + COMMON_OPTIONAL}
    reported = {n: f for n, f in fields.items() if n in required or n in fm or f in counts}
    return ShapeSpec(shape=shape, fields=fields, reported=reported)


# --------------------------------------------------------------------------- value rules


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, decimal.Decimal)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def as_text(value: Any, what: str) -> str:
    """A text field's value as ``str`` (see the module docstring for the rules)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"{what} is {_kind(value)}: {_preview(value)}", expected="a string or null")


def _preview(value: Any, n: int = 60) -> str:
    s = dumps(value).decode()
    return s if len(s) <= n else s[: n - 1] + "…"


def _content_text(content: Any, what: str) -> str:
    if type(content) is str:
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text parts
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return as_text(content, what)


def _id_text(value: Any, fld: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"'{fld}' is {_kind(value)}", expected="an id that is a string or a number")


def _system_text(value: Any, fld: str) -> str | None:
    text = as_text(value, f"'{fld}'")
    return text or None


# --------------------------------------------------------------------------- normalization

#: what a normalizer returns: id (None: hash it), system, roles, texts, prompt, output, metadata
Normalized = tuple[str | None, str | None, Sequence[str], Sequence[str], str, str, dict[str, Any] | None]

#: the roles of a single-turn row, shared by every such row
USER_ASSISTANT = ("user", "assistant")


def _missing(fld: str, shape: str) -> RecordError:
    req = ", ".join(repr(f) for f in SHAPE_FIELDS[shape][0])
    return RecordError(f"record has no field '{fld}'",
                       expected=f"every record to have the {shape} fields ({req}), as the first records do; "
                                f"use --map if this file names them differently")


def chat_parts(msgs: Any, fld: str) -> tuple[str | None, list[str], list[str]]:
    """Split a message list into (leading system text, roles, texts).

    A message list stored as JSON text (as a CSV/TSV cell must be) is decoded.
    """
    if isinstance(msgs, str) and msgs.lstrip().startswith("["):
        try:
            msgs = orjson.loads(msgs)
        except orjson.JSONDecodeError:
            raise RecordError(f"'{fld}' is text that is not a JSON list: {_preview(msgs)}",
                              expected="a list of {role, content} messages") from None
    if not isinstance(msgs, list):
        raise RecordError(f"'{fld}' is {_kind(msgs)}", expected="a list of {role, content} messages")
    system = None
    roles: list[str] = []
    texts: list[str] = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise RecordError(f"message {i} of '{fld}' is {_kind(m)}", expected="a {role, content} object")
        role = m["role"] if "role" in m else m.get("from")
        if not isinstance(role, str):
            what = "no role" if role is None else f"a role that is {_kind(role)}"
            raise RecordError(f"message {i} of '{fld}' has {what}",
                              expected="'role' (or ShareGPT 'from') as a string")
        if "content" in m:
            content = m["content"]
        elif "value" in m:
            content = m["value"]
        else:
            raise RecordError(f"message {i} of '{fld}' has no 'content'", expected="'content' (or ShareGPT 'value')")
        text = _content_text(content, f"content of message {i} of '{fld}'")
        role = role.lower()
        role = ROLE_ALIASES.get(role, role)
        if role == "system" and not roles:
            system = text if system is None else system + "\n\n" + text
            continue
        roles.append(role)
        texts.append(text)
    return system, roles, texts


def flatten_chat(roles: list[str], texts: list[str]) -> tuple[str, str]:
    """(prompt, output): output is the final assistant turn ("" if the last turn is not one).

    The prompt is the turns before it as ``role: text`` lines, except that a single
    user turn is its bare text, so Alpaca and chat copies of the same data agree.
    """
    if roles and roles[-1] == "assistant":
        n, output = len(roles) - 1, texts[-1]
    else:
        n, output = len(roles), ""
    if n == 1 and roles[0] == "user":
        return texts[0], output
    return "\n".join(f"{r}: {t}" for r, t in zip(roles[:n], texts[:n])), output


def make_normalizer(spec: ShapeSpec) -> Callable[[dict[str, Any]], Normalized]:
    """A function turning one input record into :data:`Normalized` (raises :class:`RecordError`)."""
    f = spec.fields
    used = spec.used
    shape = spec.shape
    f_id, f_sys = f["id"], f["system"]

    def common(rec: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any] | None]:
        rid = _id_text(rec.get(f_id), f_id) if f_id in rec else None
        system = _system_text(rec[f_sys], f_sys) if f_sys in rec else None
        meta = None if rec.keys() <= used else {k: v for k, v in rec.items() if k not in used}
        return rid, system, meta

    if shape == "alpaca":
        f_ins, f_inp, f_out = f["instruction"], f["input"], f["output"]

        def alpaca(rec: dict[str, Any]) -> Normalized:
            # the hot path for the most common shape: common() is inlined
            try:
                ins, out = rec[f_ins], rec[f_out]
            except KeyError as exc:
                raise _missing(exc.args[0], shape) from None
            if type(ins) is not str:
                ins = as_text(ins, f"'{f_ins}'")
            if type(out) is not str:
                out = as_text(out, f"'{f_out}'")
            inp = rec.get(f_inp)
            if inp is not None and type(inp) is not str:
                inp = as_text(inp, f"'{f_inp}'")
            prompt = ins + "\n\n" + inp if inp else ins
            rid = _id_text(rec[f_id], f_id) if f_id in rec else None
            system = _system_text(rec[f_sys], f_sys) if f_sys in rec else None
            meta = None if rec.keys() <= used else {k: v for k, v in rec.items() if k not in used}
            return rid, system, USER_ASSISTANT, (prompt, out), prompt, out, meta

        return alpaca

    if shape == "prompt_completion":
        f_p, f_c = f["prompt"], f["completion"]

        def prompt_completion(rec: dict[str, Any]) -> Normalized:
            try:
                p, c = rec[f_p], rec[f_c]
            except KeyError as exc:
                raise _missing(exc.args[0], shape) from None
            rid, system, meta = common(rec)
            if isinstance(p, list) or isinstance(c, list):  # TRL's conversational prompt-completion
                msgs = (p if isinstance(p, list) else [{"role": "user", "content": p}]) + \
                       (c if isinstance(c, list) else [{"role": "assistant", "content": c}])
                sys2, roles, texts = chat_parts(msgs, f"{f_p}+{f_c}")
                prompt, out = flatten_chat(roles, texts)
                return rid, sys2 or system, roles, texts, prompt, out, meta
            if type(p) is not str:
                p = as_text(p, f"'{f_p}'")
            if type(c) is not str:
                c = as_text(c, f"'{f_c}'")
            return rid, system, USER_ASSISTANT, (p, c), p, c, meta

        return prompt_completion

    f_msgs = f["messages" if shape == "messages" else "conversations"]

    def chat(rec: dict[str, Any]) -> Normalized:
        try:
            msgs = rec[f_msgs]
        except KeyError:
            raise _missing(f_msgs, shape) from None
        sys2, roles, texts = chat_parts(msgs, f_msgs)
        prompt, out = flatten_chat(roles, texts)
        rid, system, meta = common(rec)
        return rid, sys2 or system, roles, texts, prompt, out, meta

    return chat


def record_text(rec: Any) -> str:
    """The record as JSON text, for listing a skipped record."""
    return dumps(rec).decode()


__all__ = ["MAP_NAMES", "SHAPE_FIELDS", "ShapeSpec", "RecordError", "detect_shape", "make_normalizer",
           "chat_parts", "flatten_chat", "as_text", "record_text"]
