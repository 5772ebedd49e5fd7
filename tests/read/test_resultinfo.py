"""``read_fields``, the listing pass's reading of result_info.yaml: the
same answer as ``read_info`` for every file, its fast path the same as
the YAML parser's wherever it applies."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from dispatch_indexer.read.reader import INFO_FILE
from dispatch_indexer.read.resultinfo import parse_info, read_fields, read_info

from ..realdata import FIXTURES

STATUS_LINE = (
    "result_status: !!python/object:covalent._shared_files.util_classes.Status\n  STATUS: {}\n"
)


def _covalent(dispatch_id: str, status: str, start: str, end: str) -> bytes:
    """A result_info.yaml laid out as Covalent writes it."""
    return (
        f"dispatch_id: {dispatch_id}\nend_time: {end}\n"
        + STATUS_LINE.format(status)
        + f"start_time: {start}\n"
    ).encode("utf-8", "surrogateescape")


def _as_fields(info: dict[str, object]) -> tuple[object, ...]:
    return tuple(info.get(k) for k in ("dispatch_id", "status", "start_time", "end_time"))


def _by_parser(raw: bytes) -> dict[str, object]:
    # A trailing comment: nothing to YAML, but not Covalent's layout, so
    # the fast path leaves the file to the parser.
    return parse_info(raw + b"# parsed\n")


def test_every_fixture_reads_the_same_both_ways() -> None:
    paths = sorted(FIXTURES.rglob(INFO_FILE))
    assert len(paths) > 5
    for path in paths:
        fields = read_fields(str(path))
        assert fields == _as_fields(read_info(path)), path
        assert fields == _as_fields(_by_parser(path.read_bytes())), path
        assert fields[0] == path.parent.name and fields[1]


def test_relative_to_a_folder_descriptor(tmp_path: Path) -> None:
    folder = tmp_path / "d1"
    folder.mkdir()
    (folder / INFO_FILE).write_bytes(_covalent("d1", "RUNNING", "2026-11-24 22:59", "null"))
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fields = read_fields(f"d1/{INFO_FILE}", fd)
        assert read_fields(f"absent/{INFO_FILE}", fd) == (None, None, None, None)
    finally:
        os.close(fd)
    start = dt.datetime(2026, 11, 24, 22, 59, tzinfo=dt.timezone.utc)
    assert fields == ("d1", "RUNNING", start, None)


@pytest.mark.timeout(10)
def test_what_is_not_a_file_reads_as_unknown(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    for name in ("fifo.yaml", "dir.yaml", "zero.yaml", "absent.yaml"):
        assert read_fields(str(tmp_path / name)) == (None, None, None, None), name


ODD = {
    "quoted id": _covalent("'abc'", "COMPLETED", "2026-11-24 22:59", "2026-11-24 23:00"),
    "numeric id": _covalent("123", "COMPLETED", "null", "null"),
    "non-ASCII time": _covalent("abc", "COMPLETED", "2026-11-24 22:59\udce9", "null"),
    "bad time": _covalent("abc", "FAILED", "yesterday", "2026-11-24 25:99"),
    "lower status": _covalent("abc", "completed", "null", "null"),
    "no newline at the end": _covalent("abc", "COMPLETED", "null", "null")[:-1],
    "keys reordered": (
        b"start_time: 2026-11-24 22:59\ndispatch_id: abc\n"
        + STATUS_LINE.format("CANCELLED").encode()
        + b"end_time: null\n"
    ),
    "another tag": b"dispatch_id: abc\nresult_status: !!python/object:os.system {STATUS: X}\n",
    "not a mapping": b"- a\n- b\n",
    "garbage": b"\x00\xff{[:\n",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_an_odd_file_reads_as_read_info_reads_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / INFO_FILE
    path.write_bytes(ODD[name])
    assert read_fields(str(path)) == _as_fields(read_info(path))


# Ids YAML reads as text (yaml.dump quotes any other, so Covalent never
# writes one bare): some plain, some quoted, some not UTF-8.
ids = st.text(st.sampled_from("abcdefXYZ0189-_.'\" :#é\udce9"), min_size=1, max_size=12).filter(
    lambda text: re.fullmatch(r"[A-Za-z0-9_.-]+", text) is None or yaml.safe_load(text) == text
)
statuses = st.sampled_from(["COMPLETED", "FAILED", "RUNNING", "NEW_OBJECT", "_", "A1"])
times = st.sampled_from(
    ["null", "2026-11-24 22:59", "2026-02-29 00:00", "2026-11-24T22:59:00+01:00", "x", ""]
)


@given(ids, statuses, times, times)
def test_the_fast_path_agrees_with_the_parser(
    dispatch_id: str, status: str, start: str, end: str
) -> None:
    raw = _covalent(dispatch_id, status, start, end)
    assert parse_info(raw) == _by_parser(raw)
