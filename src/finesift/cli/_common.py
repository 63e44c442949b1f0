"""Option parsing shared by commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

from ..errors import ConfigError


def parse_map(spec: str | None) -> dict[str, str] | None:
    """``instruction=question,output=answer`` -> {"instruction": "question", "output": "answer"}."""
    if not spec:
        return None
    out: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise ConfigError(f"--map: '{part}' is not NAME=FIELD (e.g. --map instruction=question,output=answer)")
        k, v = (x.strip() for x in part.split("=", 1))
        if not k or not v:
            raise ConfigError(f"--map: '{part}' has an empty side")
        out[k] = v
    return out


def parse_list(spec: str | None) -> list[str] | None:
    if not spec:
        return None
    return [s.strip() for s in spec.split(",") if s.strip()]


def load_config_file(path: Path | None) -> dict[str, Any]:
    """A YAML or JSON file of config fields (as written under ``config`` in summary.json)."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        data = orjson.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except Exception as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if str(path).endswith('.json') else 'YAML'}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields, got {type(data).__name__}")
    return data.get("config", data) if "config" in data and isinstance(data["config"], dict) else data


# --- printing data safely ---------------------------------------------------------------------
# Dataset text, paths and descriptions reach a terminal. Rich would read "[/]" or "[link=...]" in
# them as markup (a crash, or a live hyperlink) and a terminal obeys raw escape sequences (clear the
# screen, move the cursor) and bidi overrides (text that reads differently from what it is). Every
# such character is shown as a Python-style escape instead (\x1b, \u202e), like repr() does.

#: bidirectional formatting characters (Unicode "Trojan Source" set) plus line/paragraph separators
_INVISIBLE = frozenset("\u061c\u200e\u200f\u2028\u2029") | frozenset(map(chr, range(0x202A, 0x202F))) \
    | frozenset(map(chr, range(0x2066, 0x206A)))


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _needs_escape(ch: str, keep_newlines: bool) -> bool:
    code = ord(ch)
    if ch == "\n" and keep_newlines:
        return False
    # C0 controls, DEL and C1 controls (\x80-\x9f: a terminal may read \x9b as ESC [)
    return code < 0x20 or 0x7F <= code < 0xA0 or ch in _INVISIBLE


def visible(value: Any, *, keep_newlines: bool = False) -> str:
    """``value`` as text with control, bidi and separator characters shown as escapes (``\\x1b``, ``\\u202e``)."""
    text = value if isinstance(value, str) else str(value)
    if all(not _needs_escape(ch, keep_newlines) for ch in text):
        return text
    return "".join(_escape_char(ch) if _needs_escape(ch, keep_newlines) else ch for ch in text)


def safe_text(value: Any, *, keep_newlines: bool = False) -> str:
    """``value`` made :func:`visible` and escaped for rich markup: printed literally inside a markup string."""
    from rich.markup import escape

    return escape(visible(value, keep_newlines=keep_newlines))


def console(stderr: bool = False):
    """A rich console for the CLI: no emoji codes (":smile:" in data stays text), no auto-highlighting."""
    from rich.console import Console

    return Console(stderr=stderr, emoji=False, highlight=False)
