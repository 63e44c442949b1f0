"""finesift: audit, curate, review and train on small, clean, diverse fine-tuning datasets."""

__version__ = "0.1.0"

from .api import audit, curate  # noqa: E402

__all__ = ["audit", "curate", "__version__"]
