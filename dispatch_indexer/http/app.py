"""The FastAPI application over one open ``DispatchIndex``.

``create_app`` wraps one index (one per application, not per request), puts
the token and Host checks in front (``guard``), turns library errors into
status codes in one place (``responses.error_response``) and registers the
routes (``api`` for the indexer's own, ``covalent`` for those of Covalent's
UI). peewee keeps one connection per thread, and each request opens its
thread's connection and closes it again, so nothing is shared between
threads and nothing is left open.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request

from .. import __version__
from ..errors import BadInputError, IndexerError
from ..index import DispatchIndex
from . import api, covalent, metrics
from .guard import Guard
from .responses import JSON, error_response

T = TypeVar("T")
log = logging.getLogger(__name__)


class _Access:
    """The one index of an application, used from the request threads."""

    def __init__(self, index: DispatchIndex, owned: bool) -> None:
        self.index = index
        self.owned = owned

    def __call__(self, action: Callable[[DispatchIndex], T]) -> T:
        with self.index.connection():
            return action(self.index)


def create_app(
    index: DispatchIndex | Callable[[], DispatchIndex] | None = None,
    *,
    url: str | None = None,
    home: str | os.PathLike[str] | None = None,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The application over ``index`` (an open index, used as it is and left
    open), or over the index a factory returns or ``url``/``home`` open
    (closed when the application shuts down).

    ``token``: every request must carry ``Authorization: Bearer <token>``
    (the status page also accepts ``/?token=`` once). ``allowed_hosts``:
    answer only requests whose Host header names one of these (``serve``
    sets it for a loopback server without a token, against DNS rebinding).
    """
    if token is not None and not token.strip():
        raise BadInputError("the token must not be empty")
    if isinstance(index, DispatchIndex):
        access = _Access(index, owned=False)
    else:
        opened = index() if index is not None else DispatchIndex(url, home=home)
        # This thread's connection was only for opening; requests use their own.
        opened.close()
        access = _Access(opened, owned=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        if access.owned:
            access.index.close()

    app = FastAPI(
        title="covalent-indexer",
        version=__version__,
        summary="Every Covalent dispatch on this machine, from the covalent-indexer index.",
        default_response_class=JSON,
        redoc_url=None,
        # /docs is served by ``api`` from vendored Swagger UI (no CDN).
        docs_url=None,
        lifespan=lifespan,
    )
    app.state.index = access.index
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts)

    @app.exception_handler(IndexerError)
    async def indexer_error(request: Request, exc: IndexerError) -> JSON:
        return error_response(exc)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSON:
        log.error("unexpected error answering %s", request.url.path, exc_info=exc)
        return JSON({"detail": "internal error; see the server's log"}, status_code=500)

    api.add_routes(app, access)
    covalent.add_routes(app, access)
    metrics.add_routes(app, access)
    return app
