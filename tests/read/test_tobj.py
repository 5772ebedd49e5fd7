"""Covalent's asset files read for their preview: the fixture's, and hostile ones."""

from __future__ import annotations

import base64
import json
import pickle
import struct
from pathlib import Path

import pytest

from dispatch_indexer.read.tobj import (
    MAX_HEADER,
    UnreadableAssetError,
    read_asset,
    read_bounded,
    read_pkl,
    read_tobj,
)

from ..realdata import ARITH_240, FIXTURES_240, SERVER_DATA_240


def _tobj(header: bytes, string: bytes, data: bytes) -> bytes:
    string_at = 16 + len(header)
    return struct.pack(">QQ", string_at, string_at + len(string)) + header + string + data


_HEADER = json.dumps({"py_version": "3.11.7", "cloudpickle_version": "3.1.3", "attrs": {}})
_DATA = base64.b64encode(pickle.dumps(6))


def _write(tmp_path: Path, data: bytes, name: str = "results.tobj") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_every_tobj_of_the_fixture_reads() -> None:
    paths = sorted(FIXTURES_240.rglob("*.tobj"))
    assert len(paths) > 200
    for path in paths:
        preview = read_tobj(path)
        assert preview.py_version == "3.11.7"
        assert preview.cloudpickle_version == "3.1.3"
        assert isinstance(preview.attrs, dict)


def test_the_string_part_is_the_preview() -> None:
    preview = read_asset(SERVER_DATA_240 / ARITH_240 / "node_5" / "results.tobj")
    assert preview.format == "tobj"
    assert preview.preview == "6"
    assert not preview.truncated
    assert preview.attrs["doc"].startswith("int(")


def test_a_well_formed_file_of_our_own(tmp_path: Path) -> None:
    path = _write(tmp_path, _tobj(_HEADER.encode(), "héllo".encode(), _DATA))
    preview = read_tobj(path)
    assert preview.preview == "héllo"
    assert preview.preview_length == len("héllo".encode())


def test_a_huge_string_part_is_cut_at_the_preview_limit(tmp_path: Path) -> None:
    string = ("é" * 600_000).encode()  # two bytes a character: a cut can split one
    path = _write(tmp_path, _tobj(_HEADER.encode(), string, _DATA))
    preview = read_tobj(path, max_preview=4095)
    assert preview.truncated
    assert preview.preview is not None
    assert preview.preview.startswith("é" * 2047)
    assert "\ufffd" not in preview.preview  # the half character is dropped
    assert preview.preview.endswith(f"… [{len(string):,} bytes]")
    assert len(preview.preview) < 4200


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x00\x00", "truncated .tobj: 3 bytes"),
        (struct.pack(">QQ", 16, 10**12) + b"{}", "past its end"),
        (struct.pack(">QQ", 40, 20) + b"x" * 60, "out of order"),
        (struct.pack(">QQ", 4, 20) + b"x" * 8, "inside its own offsets"),
        (_tobj(b"{not json", b"6", _DATA), "header is not JSON"),
        (_tobj(b"\xff\xfe", b"6", _DATA), "header is not JSON"),
        (_tobj(b"[1, 2]", b"6", _DATA), "not an object (list)"),
        (_tobj(_HEADER.encode(), b"6", b""), "data part is 0 bytes"),
        (_tobj(_HEADER.encode(), b"6", _DATA[:-1]), "not whole base64"),
        (_tobj(b" " * (MAX_HEADER + 1), b"6", _DATA), "over the 65,536-byte limit"),
    ],
    ids=[
        "short",
        "past-end",
        "out-of-order",
        "inside-offsets",
        "header-not-json",
        "header-not-utf8",
        "header-not-object",
        "no-data",
        "data-cut",
        "header-huge",
    ],
)
def test_hostile_files_give_one_line_reasons(tmp_path: Path, data: bytes, reason: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(UnreadableAssetError) as caught:
        read_tobj(path)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message


def test_a_missing_file_and_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UnreadableAssetError, match="no such file"):
        read_tobj(tmp_path / "absent.tobj")
    with pytest.raises(UnreadableAssetError, match="not a regular file"):
        read_tobj(tmp_path)


def test_read_bounded_refuses_a_file_over_its_limit(tmp_path: Path) -> None:
    path = _write(tmp_path, b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100
    with pytest.raises(UnreadableAssetError, match="over the 99-byte limit"):
        read_bounded(path, 99)


def _transportable(obj: object) -> bytes:
    """A pickled ``TransportableObject`` as Covalent 0.136 to 0.228 wrote
    ``results.pkl``, made by hand: Covalent is not installed here."""
    state = {
        "_object": base64.b64encode(pickle.dumps(obj)).decode(),
        "_object_string": str(obj),
        "_header": {"py_version": "3.10.4", "cloudpickle_version": "2.0.0", "attrs": {}},
    }
    body = pickle.dumps(state, protocol=2)[2:-1]  # without PROTO and STOP
    klass = b"ccovalent._workflow.transport\nTransportableObject\n"
    # EMPTY_TUPLE, NEWOBJ, then the state dict and BUILD
    return b"\x80\x02" + klass + b")\x81" + body + b"b."


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch ran-a-pickle",))


def test_a_pkl_asset_gives_its_string_form(tmp_path: Path) -> None:
    path = _write(tmp_path, _transportable([1, 2, 3]), "results.pkl")
    preview = read_asset(path)
    assert preview.format == "pkl"
    assert preview.preview == "[1, 2, 3]"
    assert preview.py_version == "3.10.4"


def test_a_long_pkl_string_is_cut(tmp_path: Path) -> None:
    path = _write(tmp_path, _transportable("y" * 10_000), "value.pkl")
    preview = read_pkl(path, max_preview=100)
    assert preview.truncated
    assert preview.preview == "y" * 100 + "… [10,000 characters]"


def test_nothing_in_a_pkl_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, pickle.dumps(_Boom()), "results.pkl")
    preview = read_pkl(path)  # a ghost of the call, not the call
    assert preview.preview is None
    assert not (tmp_path / "ran-a-pickle").exists()


def test_a_pkl_that_is_not_a_pickle(tmp_path: Path) -> None:
    path = _write(tmp_path, b"not a pickle at all", "results.pkl")
    with pytest.raises(UnreadableAssetError, match="pickle cannot be read"):
        read_pkl(path)
    plain = _write(tmp_path, pickle.dumps(42), "value.pkl")
    with pytest.raises(UnreadableAssetError, match="not a TransportableObject"):
        read_pkl(plain)
