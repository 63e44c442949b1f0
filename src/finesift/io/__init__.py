"""Reading any SFT dataset into the normalized table, and writing rows back in the input's shape.

* :func:`read` — JSONL, JSON, CSV/TSV, Parquet, Hugging Face folders or ``-`` (stdin), in the
  Alpaca, prompt/completion, OpenAI ``messages`` or ShareGPT shape -> :class:`~finesift.records.Dataset`.
* :func:`write_records` — chosen rows back in the input's own format and shape, with annotations
  (under :func:`annotation_key`, which never collides with a field of the input).
* :mod:`.remote` — URIs of any filesystem pyarrow supports (``s3://``, ``gs://``, ``file://``...) for inputs
  and, staged locally then uploaded, outputs.
"""

from .atomic import atomic_open, atomic_path
from .formats import FORMATS, detect_format
from .readers import read
from .remote import is_uri
from .shapes import MAP_NAMES, ROLE_ALIASES, ROLES
from .writers import annotation_key, default_extension, output_format, write_records

__all__ = ["read", "write_records", "annotation_key", "default_extension", "output_format", "detect_format",
           "FORMATS", "MAP_NAMES", "ROLES", "ROLE_ALIASES", "atomic_open", "atomic_path", "is_uri"]
