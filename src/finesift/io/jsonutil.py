"""JSON encoding shared by readers and writers (orjson, with a default for what JSON cannot hold)."""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
from typing import Any

import orjson

#: options for every dump: numpy values in annotation columns; non-str keys (Parquet maps) as text
DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def json_default(obj: Any) -> Any:
    """Turn values orjson cannot serialize (Parquet/Arrow types mostly) into plain JSON.

    Bytes become text when they are UTF-8 (the usual case for text stored as
    binary) and base64 otherwise; decimals keep their exact digits as strings.
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


def dumps(obj: Any) -> bytes:
    """orjson.dumps with :func:`json_default` and :data:`DUMP_OPTIONS`."""
    return orjson.dumps(obj, default=json_default, option=DUMP_OPTIONS)
