"""File formats: find the format of a path and stream its records as Python dicts.

Each reader yields ``(location, item)`` pairs: ``location`` is the 1-based line for
JSONL/CSV/TSV and the 0-based record index for JSON arrays, Parquet and Hugging Face
folders; ``item`` is the record (a dict) or a :class:`Bad` the caller raises or skips.
Problems with the whole file (missing, unreadable, not JSON at all) raise
:class:`~finesift.errors.InputError` at once.

Text is read as UTF-8 (a BOM is dropped); text that is not valid UTF-8 is read as
cp1252 (Windows "latin-1"), which maps almost every byte, and a warning says so. UTF-16
and UTF-32 text (with a byte-order mark, or recognized by its zero bytes) is an error that
says so: read as cp1252 it would be noise reported as invalid JSON or an unknown shape.
Integers beyond 64 bits in JSON keep their exact value (see :mod:`.jsonutil`).
TSV files have no quoting (fields cannot hold tabs or line breaks, as in the IANA
definition and the Tatoeba/GLUE files); CSV follows RFC 4180 quoting.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from ..errors import ConfigError, InputError, MissingDependencyError
from .jsonutil import _DIGITS, _RUN
from .jsonutil import loads as exact_loads
from .remote import FS_ERRORS, file_info, is_uri, one_line, resolve
from .shapes import record_text

#: Formats ``--format`` accepts.
FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "hf")

EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
              ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}

STDIN = "<stdin>"
BOM = b"\xef\xbb\xbf"
#: records per Arrow batch converted to dicts at a time (Parquet, HF)
BATCH_ROWS = 65_536


@dataclass
class Bad:
    """A record that cannot be read; ``text`` keeps it so a skipped record is never lost."""

    reason: str
    expected: str | None = None
    text: str | None = None


@dataclass
class Source:
    """An opened input: its records plus what writers need to reproduce its container."""

    name: str
    format: str
    #: "line" (locations are 1-based lines) or "record" (0-based record indexes)
    unit: str
    items: Iterator[tuple[int, dict[str, Any] | Bad]]
    #: filled while ``items`` is consumed (e.g. the encoding fallback)
    warnings: list[str] = field(default_factory=list)
    #: container details: JSON wrapper key, CSV columns/delimiter, Arrow schema
    options: dict[str, Any] = field(default_factory=dict)
    #: the records' values all have an exact JSON form (JSON, CSV); False for Arrow inputs,
    #: whose bytes, NaN, decimals and timestamps JSON cannot hold (see ``jsonutil.encode_raw``)
    exact_json: bool = True


# --------------------------------------------------------------------------- opening


def _cannot_read(name: str, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(name, "no such file or folder", expected="an existing dataset file or folder")
    if isinstance(exc, PermissionError):
        return InputError(name, "cannot read it: permission denied", expected="a readable file")
    return InputError(name, f"cannot read it: {exc.strerror or exc}", expected="a readable file")


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _cannot_read(name, exc) from None


def _open_binary(path: Path, name: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise _cannot_read(name, exc) from None


def detect_format(path: str, fmt: str | None = None) -> str:
    """The format of ``path``: ``fmt`` if given, else from the folder contents, extension or first bytes.

    ``path`` may be a URI (see :mod:`.remote`): detected the same way, through its filesystem.
    """
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        fmt = {"ndjson": "jsonl", "pq": "parquet", "arrow": "hf"}.get(fmt, fmt)
        if fmt not in FORMATS:
            raise ConfigError(f"--format: unknown format '{fmt}'; formats are: {', '.join(FORMATS)}")
        return fmt
    if path == "-":
        return "jsonl"
    remote = _Remote(path) if is_uri(path) else None
    if remote is not None:
        is_dir, exists, ext, name = remote.is_dir, remote.exists, remote.ext, remote.base_name
    else:
        p = Path(path)
        is_dir, ext, name = p.is_dir(), p.suffix.lower(), p.name
    if is_dir:
        return "hf"
    if ext in EXTENSIONS and EXTENSIONS[ext] != "jsonl":
        return EXTENSIONS[ext]
    if remote is None:
        exists = p.exists()
    if not exists:
        if ext in EXTENSIONS:
            return EXTENSIONS[ext]  # open_source reports the missing file
        raise _cannot_read(path, FileNotFoundError())
    if remote is not None:
        head = remote.head(4096)
    else:
        try:
            with open(p, "rb") as fh:
                head = fh.read(4096)
        except OSError as exc:
            raise _cannot_read(path, exc) from None
    if ext in EXTENSIONS:  # .jsonl: unless it is really a JSON array ("[" cannot start a record)
        return "json" if head.removeprefix(BOM).lstrip()[:1] == b"[" else "jsonl"
    if head.startswith(b"PAR1"):
        return "parquet"
    check_not_wide(head, path)
    start = head.removeprefix(BOM).lstrip()[:1]
    if start == b"[":
        return "json"
    if start == b"{":
        return "jsonl"
    raise InputError(path, f"cannot tell the format from the name '{name}'",
                     expected=f"an extension {', '.join(sorted(EXTENSIONS))}, or --format {'|'.join(FORMATS)}")


def open_source(path: str, fmt: str | None = None) -> Source:
    """Open ``path`` (``-`` is JSONL on stdin) as a :class:`Source`."""
    fmt = detect_format(path, fmt)
    if path == "-":
        if fmt != "jsonl":
            raise ConfigError("stdin (-) is read as JSONL only")
        return _jsonl_source(sys.stdin.buffer, STDIN, close=False)
    if is_uri(path):
        return _remote_source(_Remote(path), fmt)
    name = str(Path(path))
    p = Path(path)
    if fmt == "hf":
        return _hf_source(p, name)
    if p.is_dir():
        raise InputError(name, f"is a folder, but --format {fmt} reads a file", expected="a file")
    if fmt == "jsonl":
        return _jsonl_source(_open_binary(p, name), name, close=True)
    if fmt == "json":
        return _json_source(_read_bytes(p, name), name)
    if fmt in ("csv", "tsv"):
        return _csv_source(_read_bytes(p, name), name, fmt)
    return _parquet_source(p, name)


# --------------------------------------------------------------------------- URIs (pyarrow filesystems)


class _Remote:
    """A URI input: its filesystem, the path inside it, and what the local code asks of a path."""

    def __init__(self, uri: str):
        from pyarrow import fs as pafs

        self.name = uri
        self.fs, self.path = resolve(uri)
        self.info = file_info(self.fs, self.path, uri)
        self.exists = self.info.type != pafs.FileType.NotFound
        self.is_dir = self.info.type == pafs.FileType.Directory
        self.base_name = self.info.base_name
        self.ext = Path(self.base_name).suffix.lower()

    def _fail(self, exc: Exception) -> InputError:
        if isinstance(exc, OSError) and not type(exc).__module__.startswith("pyarrow"):
            return _cannot_read(self.name, exc)
        return InputError(self.name, f"cannot read it: {one_line(exc)}", expected="a readable file")

    def stream(self) -> IO[bytes]:
        """A buffered binary stream; compression=None: bytes as stored, as a local file reads
        (pyarrow would otherwise decompress by extension)."""
        try:
            return io.BufferedReader(self.fs.open_input_stream(self.path, compression=None), 1 << 20)
        except FS_ERRORS as exc:
            raise self._fail(exc) from None

    def head(self, n: int) -> bytes:
        with self.stream() as fh:
            try:
                return fh.read(n)
            except FS_ERRORS as exc:
                raise self._fail(exc) from None

    def read_bytes(self) -> bytes:
        with self.stream() as fh:
            try:
                return fh.read()
            except FS_ERRORS as exc:
                raise self._fail(exc) from None

    def random_access(self) -> Any:
        try:
            return self.fs.open_input_file(self.path)
        except FS_ERRORS as exc:
            raise self._fail(exc) from None


def _remote_source(remote: _Remote, fmt: str) -> Source:
    name = remote.name
    if fmt == "hf":
        raise InputError(name, "a Hugging Face save_to_disk folder is read from a local path only",
                         expected="a local folder, or the dataset as Parquet or JSONL at that URI "
                                  "(Dataset.to_parquet)")
    if not remote.exists:
        raise _cannot_read(name, FileNotFoundError())
    if remote.is_dir:
        raise InputError(name, f"is a folder, but --format {fmt} reads a file", expected="a file")
    if fmt == "jsonl":
        return _jsonl_source(remote.stream(), name, close=True)
    if fmt == "json":
        return _json_source(remote.read_bytes(), name)
    if fmt in ("csv", "tsv"):
        return _csv_source(remote.read_bytes(), name, fmt)
    return _parquet_source(remote.random_access(), name)


# --------------------------------------------------------------------------- text decoding

_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32", "little-endian"), (b"\x00\x00\xfe\xff", "UTF-32", "big-endian"),
              (b"\xff\xfe", "UTF-16", "little-endian"), (b"\xfe\xff", "UTF-16", "big-endian"))


def wide_encoding(head: bytes) -> tuple[str, str] | None:
    """("UTF-16 (little-endian, with a byte-order mark)", iconv's name for it) when ``head`` (the
    first bytes of a text file) is UTF-16 or UTF-32 text, else None.

    Without a mark, the zero bytes tell: JSON and CSV text is mostly ASCII, which UTF-16 writes
    with a zero byte beside each character; UTF-8 text never holds a raw zero byte (JSON cannot).
    """
    for bom, enc, order in _WIDE_BOMS:
        if head.startswith(bom):
            return f"{enc} ({order}, with a byte-order mark)", enc
    head = head[:4096]
    if len(head) < 4 or b"\x00" not in head:
        return None
    even, odd = head[0::2].count(0) / len(head[0::2]), head[1::2].count(0) / len(head[1::2])
    if even > 0.3 and odd > 0.3:
        return "UTF-32 (no byte-order mark)", "UTF-32"
    if odd > 0.3 and even < 0.05:
        return "UTF-16 (little-endian, no byte-order mark)", "UTF-16LE"
    if even > 0.3 and odd < 0.05:
        return "UTF-16 (big-endian, no byte-order mark)", "UTF-16BE"
    return None


def check_not_wide(head: bytes, name: str) -> None:
    """Raise :class:`InputError` when ``head`` is UTF-16/UTF-32 text (see :func:`wide_encoding`)."""
    found = wide_encoding(head)
    if found is not None:
        raise InputError(name, f"the text is {found[0]}, not UTF-8",
                         expected=f"UTF-8 text; convert it, e.g. iconv -f {found[1]} -t UTF-8 IN > OUT")


def text_encoding(data: bytes, name: str, warnings: list[str]) -> str:
    """The codec for ``data``: "utf-8-sig" (a BOM is dropped), else "cp1252", else "latin-1" (cannot fail).

    Falling back appends a warning naming the first line that is not UTF-8.
    """
    try:
        data.decode("utf-8")  # validation only; the text itself is decoded by the caller
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
    try:
        data.decode("cp1252")
        enc = "cp1252"
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        enc = "latin-1"
    warnings.append(f"{name}: not valid UTF-8 (first at line {line}); read as {enc}")
    return enc


def decode_text(data: bytes, name: str, warnings: list[str]) -> str:
    """``data`` as text, in the codec :func:`text_encoding` picks."""
    return data.decode(text_encoding(data, name, warnings))


def _json_error(exc: orjson.JSONDecodeError, last_line: bool) -> str:
    msg = f"invalid JSON: {exc.msg} at column {exc.colno}"
    if last_line and exc.msg.startswith("unexpected end of data"):
        msg += "; the file ends inside this record (truncated file?)"
    return msg


# --------------------------------------------------------------------------- JSONL


def _jsonl_source(fh: IO[bytes], name: str, *, close: bool) -> Source:
    src = Source(name=name, format="jsonl", unit="line", items=iter(()))
    src.items = _iter_jsonl(fh, name, src.warnings, close)
    return src


def _iter_jsonl(fh: IO[bytes], name: str, warnings: list[str], close: bool) -> Iterator[tuple[int, Any]]:
    loads, JSONDecodeError = orjson.loads, orjson.JSONDecodeError
    bad_encoding = 0  # lines read as cp1252
    first_bad = 0
    lineno = 0
    digits, run = _DIGITS, _RUN  # jsonutil.has_long_digits, inlined (hot loop)
    try:
        for lineno, line in enumerate(fh, 1):
            if lineno == 1:
                check_not_wide(line, name)
                if line.startswith(BOM):
                    line = line[3:]
            if line.isspace() or not line:
                continue
            try:
                rec = loads(line)
                if run in line.translate(digits):  # maybe an integer orjson turned into a float
                    rec = exact_loads(line)
            except JSONDecodeError as exc:
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    # one file, one encoding in practice: a line that is not UTF-8 is cp1252
                    bad_encoding += 1
                    first_bad = first_bad or lineno
                    try:
                        rec = exact_loads(decode_text(line, name, []))
                    except JSONDecodeError as exc2:
                        yield lineno, Bad(_json_error(exc2, not line.endswith(b"\n")), "one JSON object per line",
                                          line.decode("cp1252", "replace").rstrip("\r\n"))
                        continue
                else:
                    yield lineno, Bad(_json_error(exc, not line.endswith(b"\n")), "one JSON object per line",
                                      line.decode("utf-8", "replace").rstrip("\r\n"))
                    continue
            if type(rec) is not dict:
                yield lineno, Bad(f"the line holds a JSON {type(rec).__name__.replace('NoneType', 'null')}, "
                                  f"not an object", "one JSON object per line", record_text(rec))
                continue
            yield lineno, rec
    except OSError as exc:
        raise InputError(name, f"read failed: {exc.strerror or exc}", line=lineno + 1) from None
    finally:
        if close:
            fh.close()
    if bad_encoding:
        warnings.append(f"{name}: {bad_encoding} line(s) not valid UTF-8 (first: line {first_bad}); read as cp1252")


# --------------------------------------------------------------------------- JSON array


def _json_source(data: bytes, name: str) -> Source:
    warnings: list[str] = []
    check_not_wide(data[:4096], name)
    data = data.removeprefix(BOM)
    try:
        doc = exact_loads(data)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in exc.msg:
            try:
                doc = exact_loads(decode_text(data, name, warnings))
            except orjson.JSONDecodeError as exc2:
                raise _bad_json_file(name, exc2) from None
        elif exc.msg.startswith("unexpected content after document") and _looks_like_jsonl(data):
            # a .json file that is really JSON Lines: read it as such (and write it back as such)
            return _jsonl_source(io.BytesIO(data), name, close=True)
        else:
            raise _bad_json_file(name, exc) from None
    options: dict[str, Any] = {}
    if isinstance(doc, dict):
        lists = [k for k, v in doc.items() if isinstance(v, list)]
        if lists and lists[0] in ("messages", "conversations"):
            raise InputError(name, "the file holds one chat record, not a list of records",
                             expected="a JSON array of records, or JSONL (one record per line)")
        if len(lists) != 1:
            raise InputError(name, f"the JSON object has {len(lists)} list field(s) "
                                   f"({', '.join(map(repr, lists)) or 'none'}), so where the records are is unclear",
                             expected="a JSON array of records, or an object holding exactly one list of records")
        options["json_key"] = lists[0]
        doc = doc[lists[0]]
    elif not isinstance(doc, list):
        raise InputError(name, f"the file holds a JSON {type(doc).__name__}",
                         expected="a JSON array of records, or an object holding one list of records")

    def items() -> Iterator[tuple[int, Any]]:
        for i, rec in enumerate(doc):
            if type(rec) is dict:
                yield i, rec
            else:
                yield i, Bad(f"record {i} is a JSON {type(rec).__name__.replace('NoneType', 'null')}, not an object",
                             "an array of JSON objects", record_text(rec))

    return Source(name=name, format="json", unit="record", items=items(), warnings=warnings, options=options)


def _bad_json_file(name: str, exc: orjson.JSONDecodeError) -> InputError:
    truncated = exc.msg.startswith("unexpected end of data")
    reason = f"invalid JSON: {exc.msg} at column {exc.colno}"
    if truncated:
        reason += "; the file ends before the JSON does (truncated file?)"
    return InputError(name, reason, line=exc.lineno, expected="a JSON array of records (or JSONL: one object per line)")


def _looks_like_jsonl(data: bytes) -> bool:
    """The first line is a whole JSON value (an object, or a record that is not one: ``[...]``
    on a line of its own, then more lines, is JSON Lines, not a broken array)."""
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        orjson.loads(first)
        return True
    except orjson.JSONDecodeError:
        return False


# --------------------------------------------------------------------------- CSV / TSV


def _csv_source(data: bytes, name: str, fmt: str) -> Source:
    warnings: list[str] = []
    check_not_wide(data[:4096], name)
    # decoded while parsing: a str copy of a large file (or a StringIO of it) costs 1-4x its size
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=text_encoding(data, name, warnings), newline="")
    delimiter = "\t" if fmt == "tsv" else ","
    # 10 MB fields must work; the limit is process-wide, so only ever raise it
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    if fmt == "tsv":
        reader = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None)
    else:
        reader = csv.reader(stream, delimiter=",", strict=True)
    ends_with_newline = data.endswith((b"\n", b"\r"))
    header: list[str] | None = None
    header_line = 0
    prev = 0
    try:
        for row in reader:
            if row:
                header, header_line = row, prev + 1
                break
            prev = reader.line_num
        prev = reader.line_num
    except csv.Error as exc:
        raise InputError(name, f"the header is not valid {fmt.upper()}: {exc}", line=reader.line_num) from None
    if header is None:
        raise InputError(name, "no records: the file is empty", expected=f"a {fmt.upper()} header line and records")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(name, f"the header repeats column name(s) {', '.join(map(repr, dupes))}", line=header_line,
                         expected="distinct column names")
    options = {"columns": header, "delimiter": delimiter}
    ncol = len(header)

    def items() -> Iterator[tuple[int, Any]]:
        nonlocal prev
        while True:
            start = prev + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                prev = reader.line_num
                hint = _truncated_hint(reader.line_num, data, ends_with_newline)
                yield start, Bad(f"not valid {fmt.upper()}: {exc}{hint}",
                                 f"{fmt.upper()} with {'RFC 4180 quoting' if fmt == 'csv' else 'no quoting'}", None)
                continue
            prev = reader.line_num
            if not row:  # a blank line
                continue
            if len(row) != ncol:
                last = not ends_with_newline and _is_last_line(reader.line_num, data)
                yield start, Bad(f"{len(row)} field(s) where the header has {ncol}"
                                 + ("; the file ends inside this record (truncated file?)" if last else ""),
                                 f"{ncol} fields ({', '.join(header)})", delimiter.join(row))
                continue
            yield start, dict(zip(header, row))

    return Source(name=name, format=fmt, unit="line", items=items(), warnings=warnings, options=options)


def _is_last_line(line_num: int, data: bytes) -> bool:
    return line_num >= data.count(b"\n") + 1


def _truncated_hint(line_num: int, data: bytes, ends_with_newline: bool) -> str:
    if not ends_with_newline and _is_last_line(line_num, data):
        return "; the file ends inside this record (truncated file?)"
    return ""


# --------------------------------------------------------------------------- Parquet / Hugging Face


def _parquet_source(path: Path | Any, name: str) -> Source:
    """``path``: a local path, or an open random-access file of a pyarrow filesystem."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pages written with a checksum are verified, so damaged data is an error rather than noise
        pf = pq.ParquetFile(path, page_checksum_verification=True)
    except OSError as exc:
        if not isinstance(path, Path):
            raise InputError(name, f"cannot read it: {one_line(exc)}", expected="a readable Parquet file") from None
        raise _cannot_read(name, exc) from None
    except (pa.ArrowException, ValueError) as exc:
        raise InputError(name, f"not a valid Parquet file: {exc}", expected="a Parquet file") from None
    schema = pf.schema_arrow
    return Source(name=name, format="parquet", unit="record", items=_parquet_items(pf, name),
                  options={"arrow_schema": schema}, exact_json=False)


def _parquet_items(pf: Any, name: str) -> Iterator[tuple[int, Any]]:
    """Records row group by row group, so a damaged one is named (with its column, when one is)."""
    import pyarrow as pa

    meta = pf.metadata
    groups = meta.num_row_groups
    i = 0
    for g in range(groups):
        start = i
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[g], use_threads=False):
                for rec in batch.to_pylist():
                    yield i, rec
                    i += 1
        except (pa.ArrowException, OSError, ValueError) as exc:
            n = meta.row_group(g).num_rows
            where = f"row group {g} of {groups} (numbered from 0; records {start}-{start + n - 1})"
            bad_cols = _damaged_columns(pf, g)
            if bad_cols:
                where += f", column {', '.join(map(repr, bad_cols))}"
            raise InputError(name, f"the Parquet data is damaged: cannot read {where}: {_one_line(exc)}",
                             expected="an intact Parquet file (write it again from its source)") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _damaged_columns(pf: Any, group: int) -> list[str]:
    """The columns of ``group`` that cannot be read (on the error path only: each is read alone)."""
    import pyarrow as pa

    bad = []
    for col in pf.schema_arrow.names:
        try:
            pf.read_row_group(group, columns=[col], use_threads=False)
        except (pa.ArrowException, OSError, ValueError):
            bad.append(col)
    return bad


def _guard_arrow(batches: Iterator[Any], name: str) -> Iterator[tuple[int, Any]]:
    import pyarrow as pa

    i = 0
    try:
        for batch in batches:
            for rec in batch.to_pylist():
                yield i, rec
                i += 1
    except (pa.ArrowException, OSError, ValueError) as exc:
        # i records were read: the damage is in the batch that starts at record i
        raise InputError(name, f"the data is damaged: cannot read the records from record {i} on: {_one_line(exc)}",
                         expected="an intact dataset folder (save it again with save_to_disk)") from None


def _hf_source(path: Path, name: str) -> Source:
    if not path.exists():
        raise _cannot_read(name, FileNotFoundError())
    if not path.is_dir():
        raise InputError(name, "is a file, but --format hf reads a folder written by datasets' save_to_disk",
                         expected="a folder")
    if (path / "dataset_dict.json").exists():
        splits = sorted(p.name for p in path.iterdir() if p.is_dir())
        raise InputError(name, f"is a Hugging Face DatasetDict with splits {', '.join(splits)}",
                         expected=f"one split's folder, e.g. {path / (splits[0] if splits else 'train')}")
    if not ((path / "state.json").exists() and (path / "dataset_info.json").exists()):
        found = sorted(p.name for p in path.iterdir())[:5]
        raise InputError(name, f"is a folder but not a Hugging Face dataset (found: {', '.join(found) or 'nothing'})",
                         expected="a dataset file, or a folder written by datasets' save_to_disk "
                                  "(with state.json and dataset_info.json)")
    try:
        import datasets
    except ImportError:
        raise MissingDependencyError("datasets", "Reading a Hugging Face dataset folder", extra="train") from None
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises many types for a damaged folder
        raise InputError(name, f"cannot load the Hugging Face dataset: {exc}",
                         expected="a folder written by save_to_disk") from None
    batches = (t for t in ds.with_format("arrow").iter(batch_size=BATCH_ROWS))
    # the Arrow schema (with the features datasets keeps in its metadata) lets HF rows be
    # written back as Parquet with their own types
    return Source(name=name, format="hf", unit="record", items=_guard_arrow(batches, name),
                  options={"arrow_schema": ds.data.schema}, exact_json=False)



# --------------------------------------------------------------------------- container options on the table

_OPTIONS_KEY = b"finesift.io"
_SCHEMA_KEY = b"finesift.arrow_schema"


def attach_options(table: Any, options: dict[str, Any]) -> Any:
    """Store ``options`` in the table's schema metadata, so a Dataset carries what writers need.

    The Arrow schema of a Parquet input is kept too, so its column types come back on writing.
    """
    meta = {_OPTIONS_KEY: orjson.dumps({k: v for k, v in options.items() if k != "arrow_schema"})}
    if options.get("arrow_schema") is not None:
        meta[_SCHEMA_KEY] = options["arrow_schema"].serialize().to_pybytes()
    return table.replace_schema_metadata(meta)


def options_of(table: Any) -> dict[str, Any]:
    """The options :func:`attach_options` stored (``{}`` for a table built elsewhere)."""
    import pyarrow as pa

    meta = table.schema.metadata or {}
    options = orjson.loads(meta[_OPTIONS_KEY]) if _OPTIONS_KEY in meta else {}
    if _SCHEMA_KEY in meta:
        options["arrow_schema"] = pa.ipc.read_schema(pa.py_buffer(meta[_SCHEMA_KEY]))
    return options


__all__ = ["FORMATS", "Bad", "Source", "detect_format", "open_source", "decode_text", "text_encoding",
           "wide_encoding", "check_not_wide", "attach_options", "options_of"]
