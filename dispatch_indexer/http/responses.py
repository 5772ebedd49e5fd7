"""What every route shares: JSON that always renders, library errors as status
codes (in this one place: not found 404, bad input 422, database 503), and
the checks on what a request names before it reaches the index."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import (
    BadInputError,
    DatabaseError,
    IndexerError,
    MissingDependencyError,
    NotFoundError,
    UntrustedDataError,
)

# A dispatch id is a folder name: at most 255 bytes, never "/", NUL, "." or "..".
MAX_ID_BYTES = 255
MAX_PARAM_CHARS = 4096
MAX_HIDE = 10_000


class JSON(JSONResponse):
    """JSON that never fails to render: a non-finite float becomes its name
    (``"NaN"``, ``"Infinity"``), anything else unknown its ``str``."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, default=str)
        except ValueError:
            text = json.dumps(_finite(content), ensure_ascii=False, allow_nan=False, default=str)
        return text.encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def error_response(exc: IndexerError) -> JSON:
    if isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, BadInputError | UntrustedDataError):
        status = 422
    elif isinstance(exc, DatabaseError):
        status = 503
    elif isinstance(exc, MissingDependencyError):
        status = 501
    else:
        status = 500
    return JSON({"detail": str(exc)}, status_code=status)


def possible_id(dispatch_id: str) -> bool:
    """Whether ``dispatch_id`` could name a dispatch folder."""
    return not (
        not dispatch_id
        or dispatch_id in (".", "..")
        or "/" in dispatch_id
        or "\x00" in dispatch_id
        or len(dispatch_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES
    )


def check_id(dispatch_id: str) -> str:
    """A dispatch id that could name a folder; anything else cannot be in the
    index, so it is 'not found' without asking the database."""
    if not possible_id(dispatch_id):
        raise NotFoundError(f"no dispatch with id {dispatch_id[:80]!r} in the index")
    return dispatch_id


def check_text(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_PARAM_CHARS:
        raise BadInputError(f"{name} must be at most {MAX_PARAM_CHARS} characters")
    if "\x00" in value:
        raise BadInputError(f"{name} must not contain NUL characters")
    return value


def download_name(dispatch_id: str) -> str:
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", dispatch_id) or "dispatch"
    return (
        f'attachment; filename="{plain}-result.pkl"; '
        f"filename*=UTF-8''{quote(dispatch_id + '-result.pkl', safe='')}"
    )


class HideRequest(BaseModel):
    """The body of ``DELETE /api/results``, as Covalent's UI sends it."""

    model_config = ConfigDict(extra="ignore")
    dispatchIds: list[Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=list, max_length=MAX_HIDE
    )
