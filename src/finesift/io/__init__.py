"""Reading any SFT dataset into the normalized table, and writing rows back in the input's shape."""

from .atomic import atomic_open, atomic_path
from .readers import read

__all__ = ["read", "atomic_open", "atomic_path"]
