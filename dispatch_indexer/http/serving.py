"""Running the application: bind one socket, run uvicorn on it until a signal."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from ..errors import IndexerError
from ..index import DispatchIndex
from .app import create_app
from .settings import LOOPBACK_NAMES, ServerSettings, resolve_settings


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or one clear error."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    try:
        sock = socket.create_server((host.strip("[]"), port), family=family, backlog=128)
        # asyncio sets TCP_NODELAY only on sockets it made itself; without it
        # a small response waits ~40 ms for a delayed ACK (Nagle's algorithm).
        # Linux passes the option on to every accepted connection.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise IndexerError(f"cannot listen on {host}:{port}: {reason}") from None


def serve(
    url: str | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    host: str | None = None,
    port: int | None = None,
    token: str | None = None,
    log_level: str = "warning",
    ready: Callable[[ServerSettings], None] | None = None,
) -> None:
    """Serve the API and the status page until interrupted (Ctrl-C, SIGTERM).

    ``ready`` is called with the settings in use (the real port, if 0 was
    asked for) once the socket listens.
    """
    import uvicorn

    index = DispatchIndex(url, home=home)
    try:
        settings = resolve_settings(index.config, host=host, port=port, token=token)
        sock = bind(settings.host, settings.port)
        real = ServerSettings(settings.host, sock.getsockname()[1], settings.token)
        allowed = None
        if settings.token is None:
            allowed = [*LOOPBACK_NAMES, settings.host.strip("[]")]
        app = create_app(lambda: index, token=settings.token, allowed_hosts=allowed)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level=log_level.lower(),
                server_header=False,
                proxy_headers=False,
                timeout_graceful_shutdown=3,
            )
        )
        if ready is not None:
            ready(real)
        with sock, _stopping_quietly():
            server.run(sockets=[sock])
    finally:
        index.close()


@contextmanager
def _stopping_quietly() -> Iterator[None]:
    """uvicorn stops gracefully on SIGINT or SIGTERM, then raises the signal
    again for the handler it found. Found here: one that does nothing, so a
    stopped server returns normally (exit 0) instead of dying of the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, _ignore) for sig in stop_signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The stop signal was already handled by uvicorn."""
