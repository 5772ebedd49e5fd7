"""The HTTP API, the Covalent-compatible endpoints and the status page.

``create_app`` wraps one open ``DispatchIndex`` (one per application, not
per request). Routes are plain functions, which FastAPI runs in its thread
pool; peewee keeps one connection per thread, and each request opens its
thread's connection and closes it again, so nothing is shared between
threads and nothing is left open. Library errors map to status codes in one
place (``_error``): not found 404, bad input 422, database 503.

``serve`` resolves the settings (config, then ``$COVALENT_INDEXER_TOKEN``,
then the arguments), refuses to listen beyond loopback without a token,
binds, and runs uvicorn until interrupted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import math
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..config import Config
from ..daemon.lock import running_pid
from ..errors import (
    BadInputError,
    DatabaseError,
    IndexerError,
    MissingDependencyError,
    NotFoundError,
    UntrustedDataError,
)
from ..index import DispatchIndex
from ..store import engine as db_mod
from ..store.query import DEFAULT_LIMIT, MAX_LIMIT
from . import statuspage
from .guard import Guard

T = TypeVar("T")
log = logging.getLogger(__name__)

API = "/api/v1"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 48010
TOKEN_ENV = "COVALENT_INDEXER_TOKEN"  # noqa: S105 - the name of a variable
# A dispatch id is a folder name: at most 255 bytes, never "/", NUL, "." or "..".
MAX_ID_BYTES = 255
MAX_PARAM_CHARS = 4096
MAX_STATUSES = 32
MAX_HIDE = 10_000
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


# ---- settings ------------------------------------------------------------


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    token: str | None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


def resolve_settings(
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    token: str | None = None,
    environ: dict[str, str] | None = None,
) -> ServerSettings:
    """Host, port and token: the config file, then ``$COVALENT_INDEXER_TOKEN``
    (the token only), then the arguments. Refuses a bind beyond loopback
    without a token (BadInputError)."""
    env = os.environ if environ is None else environ
    chosen_host = (host if host is not None else config.http_host).strip()
    chosen_port = port if port is not None else config.http_port
    chosen_token = config.http_token
    if env.get(TOKEN_ENV):
        chosen_token = env[TOKEN_ENV]
    if token is not None:
        chosen_token = token
    if chosen_token is not None and not chosen_token.strip():
        raise BadInputError("the token must not be empty")
    if isinstance(chosen_port, bool) or not isinstance(chosen_port, int):
        raise BadInputError(f"port must be an integer, not {chosen_port!r}")
    if not 0 <= chosen_port <= 65535:
        raise BadInputError(f"port must be between 0 and 65535, not {chosen_port}")
    if not chosen_host:
        raise BadInputError("host must not be empty (use 0.0.0.0 for every interface)")
    if chosen_token is None and not is_loopback(chosen_host):
        raise BadInputError(
            f"refusing to listen on {chosen_host} without a token: anyone who can reach it "
            f"could read every result; set http_token in the config, ${TOKEN_ENV} or --token, "
            f"or listen on {DEFAULT_HOST}"
        )
    return ServerSettings(chosen_host, chosen_port, chosen_token)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses
    )


# ---- responses -------------------------------------------------------------


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


def _error(exc: IndexerError) -> JSON:
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


def _check_text(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_PARAM_CHARS:
        raise BadInputError(f"{name} must be at most {MAX_PARAM_CHARS} characters")
    if "\x00" in value:
        raise BadInputError(f"{name} must not contain NUL characters")
    return value


def _download_name(dispatch_id: str) -> str:
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


# ---- the application ------------------------------------------------------------


class _Access:
    """The one index of an application, used from the request threads."""

    def __init__(self, index: DispatchIndex, owned: bool) -> None:
        self.index = index
        self.owned = owned

    def __call__(self, action: Callable[[DispatchIndex], T]) -> T:
        database = self.index.database
        opened = False
        if database.is_closed():
            try:
                database.connect(reuse_if_open=True)
            except db_mod.engine_errors() as exc:
                raise DatabaseError(
                    f"cannot open the index at {db_mod.describe(self.index.url)}: {exc}"
                ) from None
            opened = True
        try:
            return action(self.index)
        finally:
            if opened and not database.is_closed():
                database.close()


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
        lifespan=lifespan,
    )
    app.state.index = access.index
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts)

    @app.exception_handler(IndexerError)
    async def indexer_error(request: Request, exc: IndexerError) -> JSON:
        return _error(exc)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSON:
        log.error("unexpected error answering %s", request.url.path, exc_info=exc)
        return JSON({"detail": "internal error; see the server's log"}, status_code=500)

    page = statuspage.StatusPage.load()

    @app.api_route(
        "/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    def status_page() -> HTMLResponse:
        return HTMLResponse(page.html, headers=page.headers)

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", tags=["service"])
    def healthz() -> JSON:
        """Whether the server runs and can read its index."""
        access(lambda ix: ix.counts())
        return JSON({"status": "ok"})

    @app.get(f"{API}/dispatches", tags=["dispatches"])
    def list_dispatches(
        status: Annotated[
            list[str] | None, Query(description="Only this status (repeat for several).")
        ] = None,
        results_dir: Annotated[
            str | None, Query(description="Only dispatches in this folder or below it.")
        ] = None,
        lattice_name: Annotated[str | None, Query(description="Only this workflow name.")] = None,
        since: Annotated[
            str | None, Query(description="Started at or after (ISO 8601; naive is UTC).")
        ] = None,
        until: Annotated[str | None, Query(description="Started at or before (ISO 8601).")] = None,
        text: Annotated[
            str | None, Query(description="Id, workflow, location or error contains this.")
        ] = None,
        include_missing: Annotated[
            bool, Query(description="Include dispatches whose folder is gone.")
        ] = True,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(max_length=MAX_PARAM_CHARS, description="next_cursor of the previous page."),
        ] = None,
    ) -> JSON:
        """One page of dispatches, newest first, and the cursor of the next page
        (null on the last)."""
        statuses = status or []
        if len(statuses) > MAX_STATUSES:
            raise BadInputError(f"at most {MAX_STATUSES} statuses")
        for value in statuses:
            _check_text("status", value)
        filters = {
            "status": statuses or None,
            "results_dir": _check_text("results_dir", results_dir),
            "lattice_name": _check_text("lattice_name", lattice_name),
            "since": _check_text("since", since),
            "until": _check_text("until", until),
            "text": _check_text("text", text),
            "include_missing": include_missing,
            "limit": limit,
            "cursor": _check_text("cursor", cursor),
        }
        page = access(lambda ix: ix.list(**filters))  # type: ignore[arg-type]
        return JSON({"dispatches": [r.list_json() for r in page], "next_cursor": page.next_cursor})

    @app.get(f"{API}/dispatches/{{dispatch_id}}", tags=["dispatches"])
    def get_dispatch(dispatch_id: str) -> JSON:
        """One dispatch in full: its nodes and its result (where it is plain data)."""
        check_id(dispatch_id)
        return JSON(access(lambda ix: ix.get(dispatch_id)).to_json())

    @app.get(f"{API}/dispatches/{{dispatch_id}}/document", tags=["dispatches"])
    def get_document(dispatch_id: str) -> JSON:
        """The dispatch as Covalent's UI shows it (the document of /api/results/{id})."""
        check_id(dispatch_id)
        return JSON(access(lambda ix: ix.result_document(dispatch_id)))

    @app.get(
        f"{API}/dispatches/{{dispatch_id}}/result.pkl",
        tags=["dispatches"],
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def get_result_pickle(dispatch_id: str) -> Response:
        """The stored result.pkl, byte for byte (never unpickled by the server)."""
        check_id(dispatch_id)
        data = access(lambda ix: ix.result_bytes(dispatch_id))
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": _download_name(dispatch_id)},
        )

    @app.get(f"{API}/stats", tags=["service"])
    def stats() -> JSON:
        """Records by status and in total, the registered folders, the daemon."""

        def gather(ix: DispatchIndex) -> dict[str, Any]:
            counts = dict(sorted(ix.counts().items()))
            pid = running_pid(ix.paths)
            return {
                "by_status": counts,
                "by_host": dict(sorted(ix.counts_by_host().items())),
                "total": sum(counts.values()),
                "roots": [
                    {"path": r.path, "watch": r.watch, "exists": r.exists, "records": r.records}
                    for r in ix.dirs()
                ],
                "daemon": {"running": pid is not None, "pid": pid if pid and pid > 0 else None},
                "database": db_mod.describe(ix.url),
                "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            }

        return JSON(access(gather))

    # ---- Covalent 0.110's UI server ----------------------------------------

    @app.get("/api/results", tags=["covalent"])
    def covalent_results() -> JSON:
        """Every dispatch's UI document, newest first (Covalent's ``GET /api/results``)."""
        return JSON(access(lambda ix: list(_documents(ix))))

    @app.get("/api/results/{dispatch_id}", tags=["covalent"])
    def covalent_result(dispatch_id: str) -> JSON:
        """One UI document; an unknown id is a 400, as Covalent's server answers it."""
        try:
            check_id(dispatch_id)
            if access(lambda ix: ix.get(dispatch_id)).hidden:
                # Deleted through Covalent's UI: gone, as far as that UI knows.
                raise NotFoundError(f"no dispatch with id {dispatch_id!r} in the index")
            return JSON(access(lambda ix: ix.result_document(dispatch_id)))
        except NotFoundError as exc:
            return JSON({"detail": str(exc)}, status_code=400)

    @app.delete("/api/results", tags=["covalent"])
    def covalent_delete(body: HideRequest | None = None) -> JSON:
        """Hide these dispatches from every listing (Covalent's ``DELETE /api/results``).
        No file is deleted; unknown ids are ignored."""
        given = body.dispatchIds if body is not None else []
        # An id no folder could have is in no index: nothing to hide.
        ids = [i for i in dict.fromkeys(given) if possible_id(i)]
        hidden = access(lambda ix: ix.hide(ids)) if ids else 0
        return JSON({"ok": True, "hidden": hidden})

    return app


def _documents(index: DispatchIndex) -> Iterator[dict[str, Any]]:
    for record in index.iterate():
        try:
            yield index.result_document(record.dispatch_id)
        except NotFoundError:
            continue  # gone between the listing and the read


# ---- running it ------------------------------------------------------------


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
