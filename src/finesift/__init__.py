"""finesift: audit, curate, review and train on small, clean, diverse fine-tuning datasets."""

__version__ = "0.1.0"

from .api import audit, compare, curate, train  # noqa: E402

__all__ = ["audit", "curate", "train", "compare", "__version__"]
