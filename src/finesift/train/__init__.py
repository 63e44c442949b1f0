"""Train and compare: LoRA fine-tuning with recovery, and the curated-vs-raw comparison with intervals.

``train(data, out, ...)`` fine-tunes a LoRA adapter (TRL SFTTrainer + PEFT) and writes a run
folder; ``compare(raw, curated, eval, out, ...)`` trains both arms over several seeds and
reports downstream metrics with 95% intervals and paired differences.
"""

from __future__ import annotations

from .._callable import make_callable

from typing import TYPE_CHECKING, Any

from .config import CompareConfig, TrainConfig

if TYPE_CHECKING:  # heavy imports (torch, transformers) only when a function runs
    from .comparison import CompareResult
    from .runner import TrainResult

__all__ = ["train", "compare", "TrainConfig", "CompareConfig", "TrainResult", "CompareResult"]


def train(data, out, config=None, **kwargs: Any) -> "TrainResult":
    """See :func:`finesift.train.runner.train`."""
    from .runner import train as _train

    return _train(data, out, config, **kwargs)


def compare(raw, curated, eval, out, config=None, **kwargs: Any) -> "CompareResult":
    """See :func:`finesift.train.comparison.compare`."""
    from .comparison import compare as _compare

    return _compare(raw, curated, eval, out, config, **kwargs)


def __getattr__(name: str):
    if name == "TrainResult":
        from .runner import TrainResult

        return TrainResult
    if name == "CompareResult":
        from .comparison import CompareResult

        return CompareResult
    raise AttributeError(name)


def _api_train():
    from ..api import train

    return train


make_callable(__name__, _api_train)
