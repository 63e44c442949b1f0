"""Quality checks: one module per issue code. See :mod:`finesift.checks.base` for the protocol."""

from .base import Check, CheckParams, DatasetCheck, RowCheck, get_check, register, registry

__all__ = ["Check", "CheckParams", "DatasetCheck", "RowCheck", "get_check", "register", "registry"]
