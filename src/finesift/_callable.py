"""``finesift.curate`` and ``finesift.train`` are both a subpackage and the API function of that name.

A package attribute cannot be both: Python binds ``finesift.curate`` to the subpackage as soon as
any of its modules is imported (the API function itself imports ``finesift.curate.pipeline``), so a
plain function there is replaced after its first call. The subpackage is made callable instead:
``finesift.curate(...)`` runs the API function and ``finesift.curate.pipeline`` stays importable.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, target: Callable[[], Callable[..., Any]]) -> None:
    """Make the module ``module_name`` callable: calling it calls ``target()`` (resolved at call time)."""

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return target()(*args, **kwargs)

    sys.modules[module_name].__class__ = CallableModule
