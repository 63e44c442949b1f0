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
