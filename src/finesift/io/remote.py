"""Inputs and outputs on any filesystem pyarrow supports (``s3://``, ``gs://``, ``hdfs://``, ``abfs://``, ``file://``).

A path is a URI when it starts with ``scheme://``; anything else (a plain path, ``-``, ``C:\\data``)
is local and keeps its local code path. URIs are resolved with
:meth:`pyarrow.fs.FileSystem.from_uri`, so credentials come from pyarrow's usual sources
(``AWS_*`` variables and ``~/.aws``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_*``,
a Hadoop configuration).

Outputs are staged (:func:`output_folder`): the run writes into a local temporary folder with
the local writers (atomic files, ``summary.json`` last), and only a finished folder is uploaded,
``summary.json`` last, after any stale destination ``summary.json`` was deleted first. An object
store has no atomic rename of a folder, so that order is what keeps a half-uploaded folder from
reading as complete.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyarrow.lib import ArrowException

from ..errors import ConfigError, InputError, OutputError

#: what a pyarrow filesystem raises: OSError (ArrowIOError, missing files, network, credentials) or
#: an ArrowException (ArrowInvalid for a bad URI, ArrowNotImplementedError for an unsupported operation)
FS_ERRORS = (OSError, ArrowException)

#: ``scheme://``; a scheme of two letters or more, so a Windows drive (``C:/``, ``C:\\``) is never one
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+://")

SCHEMES_HINT = "a local path, or a URI pyarrow supports (file://, s3://, gs://, hdfs://, abfs://)"
SUMMARY = "summary.json"


def is_uri(path: Any) -> bool:
    """``path`` is a ``scheme://`` string (not a local path, ``-`` or a Windows drive path)."""
    return isinstance(path, str) and _URI.match(path) is not None


def join(base: str | Path, name: str) -> str | Path:
    """``base/name`` for a local folder (a :class:`Path`) or a URI (a string)."""
    if is_uri(base):
        return f"{str(base).rstrip('/')}/{name}"
    return Path(base) / name


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, clipped (a missing libjvm lists dozens of paths)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve(uri: str, *, role: str = "input") -> tuple[Any, str]:
    """``(filesystem, path inside it)`` for ``uri``; one clear error when pyarrow cannot resolve it.

    ``role`` is ``"input"`` (an :class:`InputError` naming the URI) or ``"output"`` (a
    :class:`ConfigError` about ``--out``).
    """
    from pyarrow import fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except FS_ERRORS as exc:  # ArrowInvalid (unknown scheme, bad URI), OSError (no libjvm, no network)
        scheme = uri.split("://", 1)[0]
        if "Unrecognized filesystem type" in str(exc):
            reason = f"unknown filesystem scheme '{scheme}://'"
        else:
            reason = f"cannot open the {scheme}:// filesystem: {one_line(exc)}"
        if role == "output":
            raise ConfigError(f"--out {uri}: {reason} (expected {SCHEMES_HINT})") from None
        raise InputError(uri, reason, expected=SCHEMES_HINT) from None


def file_info(fs: Any, path: str, uri: str, *, role: str = "input") -> Any:
    """``fs.get_file_info(path)``; an unreachable store or refused credentials is one clear line."""
    try:
        return fs.get_file_info(path)
    except FS_ERRORS as exc:
        if role == "output":
            raise OutputError(f"cannot reach output folder {uri}: {one_line(exc)}") from None
        raise InputError(uri, f"cannot reach it: {one_line(exc)}", expected="a reachable, readable dataset") from None


# --------------------------------------------------------------------------- outputs


def _file_names(fs: Any, path: str) -> set[str]:
    from pyarrow import fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
    return {i.base_name for i in infos if i.type == pafs.FileType.File}


def _delete(fs: Any, path: str, names: set[str], present: set[str]) -> None:
    for name in names & present:
        fs.delete_file(f"{path}/{name}")


def prepare_remote(uri: str, stale=(SUMMARY,)) -> tuple[Any, str]:
    """The checks :func:`~finesift.pipeline.prepare_output_dir` makes locally, against the remote folder.

    Before any work: the destination must not be a file, must be creatable and writable (a
    probe object is written and deleted); its ``summary.json`` is deleted first, then the other
    ``stale`` files, so an interrupted run never leaves a folder that reads as complete.
    """
    from pyarrow import fs as pafs

    fs, path = resolve(uri, role="output")
    path = path.rstrip("/")
    info = file_info(fs, path, uri, role="output")
    if info.type == pafs.FileType.File:
        raise OutputError(f"output folder {uri} is a file; give a folder (new or existing)")
    try:
        fs.create_dir(path, recursive=True)
    except FS_ERRORS as exc:
        raise OutputError(f"cannot create output folder {uri}: {one_line(exc)}") from None
    probe = f"{path}/.finesift-probe.{secrets.token_hex(4)}.tmp"
    try:
        with fs.open_output_stream(probe) as fh:
            fh.write(b"")
        fs.delete_file(probe)
    except FS_ERRORS as exc:
        raise OutputError(f"cannot write into output folder {uri}: {one_line(exc)}") from None
    try:
        present = _file_names(fs, path)
        _delete(fs, path, {SUMMARY}, present)  # the completion marker first
        _delete(fs, path, set(stale) - {SUMMARY}, present)
    except FS_ERRORS as exc:
        raise OutputError(f"cannot clean output folder {uri}: {one_line(exc)}") from None
    return fs, path


def upload(local: Path, fs: Any, path: str, uri: str, names=()) -> None:
    """Copy the finished local folder ``local`` to ``path`` on ``fs``, ``summary.json`` last.

    The destination's ``summary.json`` is deleted first; files finesift writes (``names``) that
    this run did not produce (``kept.jsonl`` of an earlier run on another format) are deleted
    before the marker is uploaded, as the local writers delete them.
    """
    from pyarrow import fs as pafs

    marker = local / SUMMARY
    try:
        present = _file_names(fs, path)
        _delete(fs, path, {SUMMARY}, present)
        held = None
        if marker.exists():
            # moved out of the staged folder so the bulk copy cannot carry it early
            held = Path(tempfile.mkdtemp(prefix="finesift-marker-")) / SUMMARY
            shutil.move(marker, held)
        try:
            local_fs = pafs.LocalFileSystem()
            if any(local.iterdir()):
                pafs.copy_files(str(local), path, source_filesystem=local_fs, destination_filesystem=fs)
            produced = {p.name for p in local.iterdir() if p.is_file()}
            _delete(fs, path, set(names) - produced - {SUMMARY}, present)
            if held is not None:
                pafs.copy_files(str(held), f"{path}/{SUMMARY}", source_filesystem=local_fs,
                                destination_filesystem=fs)
        finally:
            if held is not None:
                shutil.rmtree(held.parent, ignore_errors=True)
    except FS_ERRORS as exc:
        raise OutputError(f"cannot upload the output to {uri}: {one_line(exc)}") from None


@contextmanager
def output_folder(out: str | Path | None, names=(), stale=(SUMMARY,)) -> Iterator[Any]:
    """The folder a run writes into: ``out`` itself when local (or None), else a local staging folder.

    For a URI, the remote folder is checked and cleaned first (:func:`prepare_remote`), the block
    writes into a temporary local folder, and on success that folder is uploaded (:func:`upload`);
    the temporary folder is removed either way, and a failed run uploads nothing.
    """
    if not is_uri(out):
        yield out
        return
    fs, path = prepare_remote(out, stale)
    local = Path(tempfile.mkdtemp(prefix="finesift-out-"))
    try:
        yield local
        upload(local, fs, path, out, names)
    finally:
        shutil.rmtree(local, ignore_errors=True)


@contextmanager
def local_copy(uri: str, files: tuple[str, ...]) -> Iterator[Path]:
    """The named files of the remote folder ``uri`` (those present) in a temporary local folder."""
    from pyarrow import fs as pafs

    fs, path = resolve(uri, role="input")
    path = path.rstrip("/")
    local = Path(tempfile.mkdtemp(prefix="finesift-in-"))
    try:
        info = file_info(fs, path, uri)
        if info.type == pafs.FileType.NotFound:
            raise InputError(uri, "no such folder", expected="the output folder of 'finesift audit'")
        try:
            present = _file_names(fs, path) if info.type == pafs.FileType.Directory else set()
            for name in files:
                if name in present:
                    pafs.copy_files(f"{path}/{name}", str(local / name), source_filesystem=fs,
                                    destination_filesystem=pafs.LocalFileSystem())
        except FS_ERRORS as exc:
            raise InputError(uri, f"cannot read it: {one_line(exc)}") from None
        yield local
    finally:
        shutil.rmtree(local, ignore_errors=True)


__all__ = ["FS_ERRORS", "file_info", "is_uri", "join", "local_copy", "one_line", "output_folder", "prepare_remote",
           "resolve", "upload"]
