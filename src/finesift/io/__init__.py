"""Reading any SFT dataset into the normalized table, and writing rows back in the input's shape.

* :func:`read` — JSONL, JSON, CSV/TSV, Parquet, Hugging Face folders or ``-`` (stdin), in the
  Alpaca, prompt/completion, OpenAI ``messages`` or ShareGPT shape -> :class:`~finesift.records.Dataset`.
* :func:`write_records` — chosen rows back in the input's own format and shape, with annotations.
"""

from .atomic import atomic_open, atomic_path
from .formats import FORMATS, detect_format
from .readers import read
from .shapes import MAP_NAMES
from .writers import default_extension, output_format, write_records

__all__ = ["read", "write_records", "default_extension", "output_format", "detect_format", "FORMATS",
           "MAP_NAMES", "atomic_open", "atomic_path"]
