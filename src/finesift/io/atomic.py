"""Atomic writes: a reader never sees a partial file that looks complete.

The data goes to a temporary file beside the target (``.NAME.RANDOM.tmp``), which is renamed
onto the target only when the block succeeds. The final file gets the permissions a plain
``open(path, "w")`` would give it: a new file ``0o666`` less the umask (not the ``0o600`` of
:func:`tempfile.mkstemp`, which another account, e.g. a training job's, could not read); a
replaced file keeps its mode, as it would when opened and truncated in place.
"""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

#: the pattern of temporary names, for cleaning up after a killed run: ``.NAME.*.tmp``
TMP_PREFIX, TMP_SUFFIX = ".", ".tmp"


def _create_temp(path: Path) -> Path:
    """A new empty file beside ``path``, created with mode 0o666 so the umask applies as for ``open``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")
        try:
            os.close(os.open(tmp, flags, 0o666))
            return tmp
        except FileExistsError:  # pragma: no cover - 32 random bits
            continue


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the same folder; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temp(path)
    try:
        yield tmp_path
        try:
            os.chmod(tmp_path, stat.S_IMODE(os.stat(path).st_mode) & 0o777)
        except OSError:
            pass  # no file to replace (or none to stat): the new file's umask mode stands
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``path`` only if the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
