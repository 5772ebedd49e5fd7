"""What every request passes before it reaches a route: the bearer token,
the Host header and the body size. A plain ASGI middleware, so that nothing
(not /healthz, not /openapi.json, not /docs) is answered without it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A page (/, /dispatches/ID, /docs) may be opened once with ?token=...; its
# script then sends the token as a bearer header and takes it out of the
# address bar.
PAGE_PATH = "/"
PAGE_PREFIX = "/dispatches/"
DOCS_PATH = "/docs"
# The pages' scripts, styles and vendored libraries: fixed files with no
# data in them, loaded by <script src>, which cannot send the token.
PUBLIC_PREFIX = "/static/"
MAX_BODY_BYTES = 1024 * 1024


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison (of digests, so the length does not leak either)."""
    if given is None:
        return False
    return hmac.compare_digest(_digest(given), _digest(token))


def bearer(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def host_name(value: str) -> str:
    """The host part of a Host header: ``[::1]:80`` -> ``::1``, ``a:80`` -> ``a``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class Guard:
    """Refuse requests without the token, with an unexpected Host header
    (DNS rebinding against a loopback server without a token) or with an
    oversized body; add ``X-Content-Type-Options: nosniff`` to every answer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_hosts: Iterable[str] | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = (
            {host_name(h) for h in allowed_hosts} if allowed_hosts is not None else None
        )
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # none are served; never unauthenticated
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.allowed_hosts is not None:
            if host_name(headers.get("host", "")) not in self.allowed_hosts:
                await _reject(send, 400, "unexpected Host header")
                return
        if self.token is not None and not self._authorized(scope, headers):
            await _reject(
                send,
                401,
                "missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                [(b"www-authenticate", b'Bearer realm="covalent-indexer"')],
            )
            return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_body_bytes:
                await _reject(send, 413, f"request body over {self.max_body_bytes} bytes")
                return
        elif "transfer-encoding" in headers:
            # A streamed body of unknown size: ask for its length instead.
            await _reject(send, 411, "send the request body with a Content-Length")
            return
        await self.app(scope, receive, _with_nosniff(send))

    def _authorized(self, scope: Scope, headers: Headers) -> bool:
        assert self.token is not None
        if token_matches(bearer(headers), self.token):
            return True
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            return False
        if path.startswith(PUBLIC_PREFIX):
            return True
        page = path in (PAGE_PATH, DOCS_PATH)
        if page or (path.startswith(PAGE_PREFIX) and path.count("/") == 2):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = query.get("token", [])
            return len(given) == 1 and token_matches(given[0], self.token)
        return False


def _with_nosniff(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append((b"x-content-type-options", b"nosniff"))
            message = {**message, "headers": headers}
        await send(message)

    return sending


async def _reject(
    send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
