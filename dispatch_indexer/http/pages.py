"""The pages ``serve`` shows a person: the list (``/``), one dispatch
(``/dispatches/{id}``) and the API's own (``/docs``), and the files they load
from ``/static/``.

A page is a shell with no data in it: its script asks the API for
everything, with the bearer token when the server has one. ``<script src>``
cannot send that header, so ``/static/`` answers without the token (``guard``):
what it serves are these fixed files, the same for everyone, never a byte of
the index. The Content-Security-Policy allows scripts, styles and requests
from this server only, so nothing is ever loaded from elsewhere.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from importlib import resources

ASSETS = "static"
# Every file /static/ serves (package data; nothing else is reachable).
STATIC_FILES = (
    "common.css",
    "common.js",
    "list.js",
    "charts.js",
    "dispatch.js",
    "docs.js",
    "vendor/dagre/dagre.min.js",
    "vendor/swagger-ui/swagger-ui-bundle.js",
    "vendor/swagger-ui/swagger-ui.css",
)
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath(ASSETS).joinpath(name).read_bytes()


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str


@dataclass(frozen=True)
class Pages:
    """The page shells and the static files, read once from the package."""

    list_html: str
    dispatch_html: str
    docs_html: str
    static: dict[str, StaticFile]

    @classmethod
    def load(cls) -> Pages:
        static = {}
        for name in STATIC_FILES:
            suffix = "." + name.rsplit(".", 1)[-1]
            media = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "text/plain"
            static[name] = StaticFile(_asset(name), media)
        return cls(
            list_html=_asset("list.html").decode(),
            dispatch_html=_asset("dispatch.html").decode(),
            docs_html=_asset("docs.html").decode(),
            static=static,
        )
