"""Import every check module so each registers itself (no central list to keep in sync)."""

import importlib
import pkgutil

from . import __path__ as _path

for _mod in pkgutil.iter_modules(_path):
    if not _mod.name.startswith("_") and _mod.name != "base":
        importlib.import_module(f"{__package__}.{_mod.name}")
