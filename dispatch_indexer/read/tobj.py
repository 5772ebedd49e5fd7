"""Covalent's serialized assets, read for their preview, never loaded.

Two generations share the same file names (``results.tobj``/``.pkl``,
``value``, ``inputs``, ``function``):

- ``.tobj`` (Covalent 0.229 on): two big-endian unsigned 64-bit offsets
  (where the string part starts, where the data part starts), a JSON header
  (``py_version``, ``cloudpickle_version``, ``attrs``), the object's
  ``str()`` as UTF-8, then the base64 of its cloudpickle. Only the first
  three parts are read; the pickle is never decoded.
- ``.pkl`` (0.136 to 0.228): a pickled ``TransportableObject`` whose state
  holds the same string form; it goes through ``safepickle``, so nothing in
  it runs.

Every read is bounded: a hostile or damaged file (offsets past its end or out
of order, a header that is not JSON or is huge, a truncated file) gives an
``UnreadableAssetError`` with a one-line reason, never a crash and never an
unbounded read.
"""

from __future__ import annotations

import codecs
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .safepickle import as_ghost, loads
from .tree import TRUNCATED

__all__ = [
    "MAX_HEADER",
    "MAX_PICKLE",
    "MAX_PREVIEW",
    "AssetPreview",
    "UnreadableAssetError",
    "read_asset",
    "read_bounded",
    "read_pkl",
    "read_tobj",
]

_OFFSETS = struct.Struct(">QQ")
# The header is a few hundred bytes (a docstring at most); 64 KiB is generous.
MAX_HEADER = 64 * 1024
# Bytes of the string part kept as the preview: enough to recognise a value.
MAX_PREVIEW = 4096
# A .pkl must be loaded whole to be read at all; past this it is not read.
MAX_PICKLE = 64 * 1024 * 1024


class UnreadableAssetError(ValueError):
    """An asset file cannot be read; the message is the one-line reason."""


@dataclass(frozen=True)
class AssetPreview:
    """What an asset file says about the object in it, without loading it."""

    path: str
    format: str  # "tobj" or "pkl"
    size: int
    # The object's str() (Covalent's string form), cut at MAX_PREVIEW bytes.
    preview: str | None
    truncated: bool = False
    # Full length of the string part in bytes (tobj) or characters (pkl).
    preview_length: int | None = None
    py_version: str | None = None
    cloudpickle_version: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def read_asset(path: str | os.PathLike[str], max_preview: int = MAX_PREVIEW) -> AssetPreview:
    """The preview of a ``.tobj`` or ``.pkl`` asset, chosen by its name
    (``.tobj`` also when the name says nothing: it is today's format)."""
    if str(path).endswith(".pkl"):
        return read_pkl(path, max_preview=max_preview)
    return read_tobj(path, max_preview=max_preview)


def read_tobj(
    path: str | os.PathLike[str],
    max_preview: int = MAX_PREVIEW,
    max_header: int = MAX_HEADER,
) -> AssetPreview:
    """Read a ``.tobj``'s header and string part; UnreadableAssetError if it
    is not a well-formed one."""
    try:
        return _read_tobj(path, max_preview, max_header)
    except OSError as exc:
        raise UnreadableAssetError(f"cannot be read: {exc.strerror or exc}") from None


def _read_tobj(path: str | os.PathLike[str], max_preview: int, max_header: int) -> AssetPreview:
    with _open(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(_OFFSETS.size)
        if len(head) < _OFFSETS.size:
            raise UnreadableAssetError(
                f"truncated .tobj: {len(head)} bytes, shorter than its two offsets"
            )
        string_at, data_at = _OFFSETS.unpack(head)
        _check_offsets(string_at, data_at, size)
        header_length = string_at - _OFFSETS.size
        if header_length > max_header:
            raise UnreadableAssetError(
                f".tobj header of {header_length:,} bytes is over the {max_header:,}-byte limit"
            )
        header = _parse_header(handle.read(header_length))
        string_length = data_at - string_at
        chunk = handle.read(min(string_length, max_preview))
    truncated = string_length > max_preview
    # An incremental decoder drops a character cut in half at the limit
    # instead of showing a replacement for it.
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(chunk, final=not truncated)
    if truncated:
        text += f"{TRUNCATED} [{string_length:,} bytes]"
    attrs = header.get("attrs")
    return AssetPreview(
        path=str(path),
        format="tobj",
        size=size,
        preview=text,
        truncated=truncated,
        preview_length=string_length,
        py_version=_str_or_none(header.get("py_version")),
        cloudpickle_version=_str_or_none(header.get("cloudpickle_version")),
        attrs=attrs if isinstance(attrs, dict) else {},
    )


def _check_offsets(string_at: int, data_at: int, size: int) -> None:
    if string_at < _OFFSETS.size:
        raise UnreadableAssetError(
            f".tobj string offset {string_at:,} points inside its own offsets"
        )
    if data_at < string_at:
        raise UnreadableAssetError(
            f".tobj offsets out of order: data at {data_at:,} before string at {string_at:,}"
        )
    if data_at > size:
        raise UnreadableAssetError(
            f"truncated .tobj: data offset {data_at:,} is past its end ({size:,} bytes)"
        )
    # The data part is base64 (whole groups of 4); a file cut inside it
    # leaves a remainder, and one cut right at the offset leaves nothing.
    data_length = size - data_at
    if data_length == 0 or data_length % 4:
        raise UnreadableAssetError(
            f"truncated .tobj: its data part is {data_length:,} bytes, not whole base64"
        )


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UnreadableAssetError(f".tobj header is not JSON: {reason}") from None
    if not isinstance(header, dict):
        raise UnreadableAssetError(
            f".tobj header is JSON but not an object ({type(header).__name__})"
        )
    return header


def read_pkl(
    path: str | os.PathLike[str],
    max_preview: int = MAX_PREVIEW,
    max_size: int = MAX_PICKLE,
) -> AssetPreview:
    """Read a pickled ``TransportableObject`` through the safe loader for its
    string form; UnreadableAssetError if it cannot be, or is not one."""
    data = read_bounded(path, max_size)
    try:
        loaded = loads(data)
    except Exception as exc:  # noqa: BLE001 - any failure is "unreadable", with its reason
        raise UnreadableAssetError(f"pickle cannot be read: {_one_line(exc)}") from None
    ghost = as_ghost(loaded)
    if ghost is None:
        raise UnreadableAssetError(
            f"pickle holds a {type(loaded).__name__}, not a TransportableObject"
        )
    state = ghost.state_dict
    # 0.136-0.228 keep the string as `_object_string`; some kept `object_string`.
    string = state.get("_object_string", state.get("object_string"))
    header = state.get("_header")
    header = header if isinstance(header, dict) else {}
    attrs = header.get("attrs", state.get("attrs"))
    text = string if isinstance(string, str) else None
    truncated = text is not None and len(text) > max_preview
    length = len(text) if text is not None else None
    if text is not None and truncated:
        text = f"{text[:max_preview]}{TRUNCATED} [{len(string):,} characters]"
    return AssetPreview(
        path=str(path),
        format="pkl",
        size=len(data),
        preview=text,
        truncated=truncated,
        preview_length=length,
        py_version=_str_or_none(header.get("py_version", state.get("python_version"))),
        cloudpickle_version=_str_or_none(header.get("cloudpickle_version")),
        attrs=attrs if isinstance(attrs, dict) else {},
    )


def read_bounded(path: str | os.PathLike[str], max_size: int) -> bytes:
    """The whole file, or UnreadableAssetError if it is over ``max_size``
    (checked while reading too: a file can grow between stat and read)."""
    try:
        with _open(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_size:
                raise UnreadableAssetError(f"{size:,} bytes, over the {max_size:,}-byte limit")
            data = handle.read(max_size + 1)
    except OSError as exc:
        raise UnreadableAssetError(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_size:
        raise UnreadableAssetError(f"grew past the {max_size:,}-byte limit while read")
    return data


def _open(path: str | os.PathLike[str]) -> Any:
    target = Path(path)
    try:
        if not target.is_file():
            raise UnreadableAssetError(
                "no such file" if not target.exists() else "not a regular file"
            )
        return target.open("rb")
    except OSError as exc:
        raise UnreadableAssetError(f"cannot be opened: {exc.strerror or exc}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:160] if text else "") or type(exc).__name__


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
