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
  shape. Content may be a list of OpenAI content parts (their text parts are joined); a
  whole message list may be JSON text, as a CSV cell must hold it.
* roles: a role name is trimmed and lower-cased ("Assistant " is ``assistant``), then
  read through :data:`ROLE_ALIASES` to one of ``system``, ``user``, ``assistant``, ``tool``:

  ========== ===================================================================
  role       names accepted
  ========== ===================================================================
  system     system, developer (OpenAI)
  user       user, human (ShareGPT), prompter (OpenAssistant)
  assistant  assistant, gpt (ShareGPT), chatgpt, bard, bing, model (Gemini/Gemma),
             bot, ai (LangChain), function_call (LLaMA-Factory's tool calls)
  tool       tool, function (OpenAI, legacy), ipython (Llama 3), observation
             (LLaMA-Factory's tool results)
  ========== ===================================================================

  Any other name is an error naming it and the record: read as some role it would hide
  the answer (a ``bot`` answer taken for a prompt line leaves the row with an empty
  answer). Other names are mapped with ``read(..., roles={"bot": "assistant"})`` or
  ``--map role.assistant=bot`` (several names: ``role.assistant=bot|ai``).
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

#: The roles of ``turns``.
ROLES = ("system", "user", "assistant", "tool")

#: Role names read without a mapping (trimmed, lower-cased) -> role; see the module docstring.
ROLE_ALIASES = {
    "system": "system", "developer": "system",
    "user": "user", "human": "user", "prompter": "user",
    "assistant": "assistant", "gpt": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant", "bot": "assistant", "ai": "assistant",
    "function_call": "assistant",
    "tool": "tool", "function": "tool", "ipython": "tool", "observation": "tool",
}
#: ``--map`` entries ``role.ROLE=NAME[|NAME...]`` map role names rather than fields.
ROLE_PREFIX = "role."

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
    #: every active normalized name -> input field name (optional ones included; None when
    #: the default field is mapped to another name, so none is read)
    fields: dict[str, str | None]
    #: the subset reported in ``Dataset.field_map``: required, mapped, or seen in the first records
    reported: dict[str, str] = field(default_factory=dict)
    #: role name (trimmed, lower-cased) -> role: :data:`ROLE_ALIASES` plus the mapped ones
    roles: dict[str, str] = field(default_factory=lambda: dict(ROLE_ALIASES))

    @property
    def used(self) -> frozenset[str]:
        """Input fields the shape consumes; every other field goes to ``metadata``."""
        return frozenset(f for f in self.fields.values() if f is not None)


# --------------------------------------------------------------------------- detection


def role_key(name: str) -> str:
    """How role names are compared: trimmed and lower-cased."""
    return name.strip().lower()


def split_role_map(field_map: dict[str, str] | None,
                   roles: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(field map, role map): ``role.ROLE=NAME[|NAME...]`` entries of ``field_map`` (as ``--map``
    gives them) join ``roles`` (input role name -> role). Raises :class:`ConfigError` for a
    role that is not one of :data:`ROLES`."""
    fields: dict[str, str] = {}
    role_map: dict[str, str] = {}
    for key, value in (field_map or {}).items():
        if not (isinstance(key, str) and key.startswith(ROLE_PREFIX)):
            fields[key] = value
            continue
        role = role_key(key[len(ROLE_PREFIX):])
        if role not in ROLES:
            raise ConfigError(f"--map {key}={value}: '{role}' is not a role; roles are: {', '.join(ROLES)} "
                              f"(e.g. --map role.assistant=bot)")
        names = [role_key(n) for n in str(value).split("|")] if isinstance(value, str) else []
        if not names or not all(names):
            raise ConfigError(f"--map {key}: give the input's role name(s), e.g. --map {ROLE_PREFIX}{role}=bot")
        for n in names:
            role_map[n] = role
    for name, role in (roles or {}).items():
        r = role_key(role) if isinstance(role, str) else role
        if not isinstance(name, str) or not role_key(name) or r not in ROLES:
            raise ConfigError(f"roles: {name!r} -> {role!r}: map an input role name to one of {', '.join(ROLES)}")
        role_map[role_key(name)] = r
    return fields, role_map


def _validate_map(field_map: dict[str, str] | None) -> dict[str, str]:
    fm = dict(field_map or {})
    for name, value in fm.items():
        if name not in MAP_NAMES:
            raise ConfigError(f"--map: unknown name '{name}'; names are: {', '.join(MAP_NAMES)}, "
                              f"and {ROLE_PREFIX}ROLE for role names")
        if not isinstance(value, str) or not value:
            raise ConfigError(f"--map: '{name}' must name a field of the input")
    by_field: dict[str, list[str]] = {}
    for name, value in fm.items():
        by_field.setdefault(value, []).append(name)
    for value, names in by_field.items():
        if len(names) > 1:
            # one field read as two parts (prompt and answer alike) is never what was meant
            raise ConfigError(f"--map: {' and '.join(names)} {'both' if len(names) == 2 else 'all'} name the field "
                              f"'{value}' "
                              f"({','.join(f'{n}={value}' for n in names)}); each field can be one part only")
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


def detect_shape(sample: list[dict[str, Any]], field_map: dict[str, str] | None, source: str, *,
                 roles: dict[str, str] | None = None) -> ShapeSpec:
    """Pick the shape that fits most of the ``sample`` records (ties: :data:`SHAPES` order).

    Fields named in ``field_map`` win over default names, and a map naming any
    shape-specific field fixes the shape; a field the map gives one name is never taken
    for another by default (``--map instruction=input`` leaves no ``input``), and two names
    mapped to one field are a :class:`ConfigError`. ``roles``: extra role names (see
    :func:`split_role_map`). Raises :class:`InputError` when no shape fits or a mapped field
    is in none of the records.
    """
    fm = _validate_map(field_map)
    counts: Counter = Counter(k for rec in sample for k in rec)
    claimed = set(fm.values())

    def resolve(name: str) -> str | None:
        if name in fm:
            return fm[name]
        for cand in DEFAULT_FIELDS[name]:
            if cand in counts and cand not in claimed:
                return cand
        default = DEFAULT_FIELDS[name][0]
        return None if default in claimed else default  # None: a field no record has

    for name, fld in fm.items():
        if fld not in counts:
            raise InputError(source, f"field '{fld}' (--map {name}={fld}) is not in the first records; "
                                     f"fields found: {_fields_list(counts)}",
                             expected="--map NAME=FIELD with FIELD one of the fields found")
    implied = {SHAPE_OF[n] for n in fm if n in SHAPE_OF}
    if implied:
        shape = implied.pop()
        required = SHAPE_FIELDS[shape][0]
        for n in required:
            if resolve(n) is None:
                fld = DEFAULT_FIELDS[n][0]
                other = next(k for k, v in fm.items() if v == fld)
                raise ConfigError(f"--map {other}={fld}: '{fld}' is the field {shape} reads as {n} by default, "
                                  f"and one field can be one part only; name the {n} field too "
                                  f"(--map {n}=FIELD,{other}={fld})")
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
    role_map = dict(roles or {})
    for role in ROLES:
        names = sorted(k for k, v in role_map.items() if v == role)
        if names:
            reported[ROLE_PREFIX + role] = "|".join(names)
    return ShapeSpec(shape=shape, fields=fields, reported=reported, roles={**ROLE_ALIASES, **role_map})


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


def chat_parts(msgs: Any, fld: str, role_names: dict[str, str] | None = None
               ) -> tuple[str | None, list[str], list[str]]:
    """Split a message list into (leading system text, roles, texts).

    A message list stored as JSON text (as a CSV/TSV cell must be) is decoded. Role names
    are read through ``role_names`` (default :data:`ROLE_ALIASES`; keys trimmed and lower-cased);
    a name it lacks raises :class:`RecordError` naming every such name of the record.
    """
    aliases = ROLE_ALIASES if role_names is None else role_names
    unknown: list[str] = []
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
        name = role
        role = aliases.get(name) or aliases.get(role_key(name))
        if role is None:
            if name not in unknown:
                unknown.append(name)
            continue
        if role == "system" and not roles:
            system = text if system is None else system + "\n\n" + text
            continue
        roles.append(role)
        texts.append(text)
    if unknown:
        raise RecordError(
            f"'{fld}' has unknown role name(s) {', '.join(map(repr, unknown))}",
            expected=f"roles {', '.join(ROLES)} or a known alias ({', '.join(sorted(ROLE_ALIASES))}); "
                     f"map others with --map {ROLE_PREFIX}assistant=NAME (or {ROLE_PREFIX}user=NAME ...)")
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
    role_names = spec.roles

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
                sys2, roles, texts = chat_parts(msgs, f"{f_p}+{f_c}", role_names)
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
        sys2, roles, texts = chat_parts(msgs, f_msgs, role_names)
        prompt, out = flatten_chat(roles, texts)
        rid, system, meta = common(rec)
        return rid, sys2 or system, roles, texts, prompt, out, meta

    return chat


def record_text(rec: Any) -> str:
    """The record as JSON text, for listing a skipped record."""
    return dumps(rec).decode()


__all__ = ["MAP_NAMES", "SHAPE_FIELDS", "ROLES", "ROLE_ALIASES", "ShapeSpec", "RecordError", "detect_shape",
           "make_normalizer", "split_role_map", "chat_parts", "flatten_chat", "as_text", "record_text"]
