"""finesift: audit, curate, review and train on small, clean, diverse fine-tuning datasets."""

__version__ = "0.1.0"

# ``curate`` and ``train`` are callable subpackages (see finesift._callable): finesift.curate(...) runs
# finesift.api.curate and finesift.curate.pipeline stays importable
from . import curate, train  # noqa: E402
from .api import audit, compare  # noqa: E402

__all__ = ["audit", "curate", "train", "compare", "__version__"]
