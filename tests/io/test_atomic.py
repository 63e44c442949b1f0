"""Atomic writes: the final file has the permissions a plain open() would give it."""

from __future__ import annotations

import os
import stat

import pytest

from finesift.io import atomic_open, atomic_path, read, write_records


@pytest.fixture
def umask():
    """Sets the process umask for the test (os.umask returns the old one), restored afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027])
def test_new_files_get_the_umask_mode_like_open(tmp_path, umask, mask, write_jsonl):
    umask(mask)
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    expected = _mode(tmp_path / "plain.txt")
    assert expected == 0o666 & ~mask
    with atomic_open(tmp_path / "a.txt", "w") as fh:  # was 0600 (mkstemp) whatever the umask
        fh.write("x")
    assert _mode(tmp_path / "a.txt") == expected
    ds = read(str(write_jsonl([{"instruction": "q", "output": "a"}])))
    assert _mode(write_records(ds, [0], tmp_path / "kept.jsonl")) == expected
    assert _mode(write_records(ds, [0], tmp_path / "kept.parquet")) == expected  # pyarrow writes the temp path


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o077)
    target = tmp_path / "kept.jsonl"
    target.write_text("old")
    os.chmod(target, 0o644)
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and _mode(target) == 0o644


def test_failed_write_leaves_no_temporary_file(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / "x.json", "w") as fh:
            fh.write("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
