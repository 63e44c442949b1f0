"""JSON encoding shared by readers and writers, and the exact encoding of the ``raw`` column.

orjson does the work; the standard library's ``json`` takes over only where orjson would
change a value: integers beyond 64 bits, which orjson reads as floats (so distinct ids
collapse) and cannot write at all.

``raw`` (:func:`encode_raw` / :func:`decode_raw`) holds each record exactly as it was read,
so writers give it back unchanged: records from JSON and CSV inputs are JSON text (every
JSON value, big integers included, has an exact JSON form); records from Arrow inputs
(Parquet, Hugging Face folders) are a pickle of the values pyarrow gives, because JSON
has no form for bytes, NaN, decimals or timestamps. The two are told apart by the first
byte (a JSON object starts with ``{``, a pickle with ``0x80``). Only bytes this module made
are ever unpickled: ``raw`` is built by :func:`finesift.io.read`, never read from a file.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import json
import pickle
from typing import Any

import orjson

#: options for every dump: numpy values in annotation columns; non-str keys (Parquet maps) as text
DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

#: a run of 19 digits may be an integer outside orjson's range [-2**63, 2**64 - 1]: text with
#: one (rare) goes to the exact parser. Found by mapping digits to "0" and the rest to " ", then
#: a substring search: both C loops, 5x faster than a regular expression (half an orjson parse)
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_RUN = b"0" * 19


def has_long_digits(data: bytes) -> bool:
    """``data`` holds 19 digits in a row (see :data:`_RUN`)."""
    return _RUN in data.translate(_DIGITS)

_PICKLE = b"\x80"


def json_default(obj: Any) -> Any:
    """Turn values orjson cannot serialize (Parquet/Arrow types mostly) into plain JSON.

    Bytes become text when they are UTF-8 (the usual case for text stored as
    binary) and base64 otherwise; decimals keep their exact digits as strings.
    This is for JSON *views* of a record (``metadata``, a Parquet row written as JSONL);
    ``raw`` keeps the values themselves.
    """
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(data).decode("ascii")
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, _dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if hasattr(obj, "tolist"):  # numpy scalars and arrays that OPT_SERIALIZE_NUMPY does not take
        return obj.tolist()
    return str(obj)


def _std_default(obj: Any) -> Any:
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()  # what orjson writes for them
    return json_default(obj)


def _std_dumps(obj: Any, indent: int | None) -> bytes:
    # allow_nan=False: NaN has no JSON form; from the readers, NaN (Arrow) and big integers
    # (JSON) never meet in one record, so this path never sees one
    return json.dumps(obj, default=_std_default, ensure_ascii=False, allow_nan=False, indent=indent,
                      separators=(",", ": ") if indent else (",", ":")).encode("utf-8")


def dumps(obj: Any, *, indent: bool = False) -> bytes:
    """JSON bytes of ``obj``: orjson with :func:`json_default` and :data:`DUMP_OPTIONS`; integers
    beyond 64 bits are written with their exact digits."""
    try:
        return orjson.dumps(obj, default=json_default,
                            option=DUMP_OPTIONS | orjson.OPT_INDENT_2 if indent else DUMP_OPTIONS)
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
        return _std_dumps(obj, 2 if indent else None)


def loads(data: bytes | str) -> Any:
    """Parse JSON like orjson, except that integers beyond 64 bits keep their exact value.

    Raises :class:`orjson.JSONDecodeError` for text that is not JSON (NaN and Infinity included).
    """
    doc = orjson.loads(data)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if has_long_digits(raw):
        # orjson read it, so it is strict JSON; the standard parser keeps every integer exact
        return json.loads(raw)
    return doc


def encode_raw(record: dict[str, Any], *, exact_json: bool = True) -> bytes:
    """The ``raw`` bytes of a record: JSON when ``exact_json`` (values from a JSON or CSV
    input), else a pickle of the values (an Arrow input)."""
    if exact_json:
        return dumps(record)
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def decode_raw(data: bytes) -> dict[str, Any]:
    """The record :func:`encode_raw` encoded, with every value as it was read."""
    if data[:1] == _PICKLE:
        return pickle.loads(data)  # noqa: S301 - only bytes encode_raw made (see the module docstring)
    return loads(data)


__all__ = ["DUMP_OPTIONS", "json_default", "dumps", "loads", "encode_raw", "decode_raw"]
