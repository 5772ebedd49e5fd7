"""The status page: one HTML file with its style and script inlined.

Inlined because when a token is set every request needs the bearer header,
which a browser cannot add to ``<script src>``. The Content-Security-Policy
allows exactly these two inline blocks (by hash) and requests to this
server, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from importlib import resources

ASSETS = "static"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(ASSETS).joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class StatusPage:
    html: str
    headers: dict[str, str]

    @classmethod
    def load(cls) -> StatusPage:
        style = _asset("status.css")
        script = _asset("status.js")
        html = _asset("status.html").replace("/*STYLE*/", style, 1).replace("/*SCRIPT*/", script, 1)
        policy = "; ".join(
            [
                "default-src 'none'",
                f"script-src {_sha256(script)}",
                f"style-src {_sha256(style)}",
                "connect-src 'self'",
                "img-src data:",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            ]
        )
        headers = {
            "Content-Security-Policy": policy,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        }
        return cls(html, headers)
