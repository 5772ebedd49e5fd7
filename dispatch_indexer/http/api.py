"""The indexer's own routes: the status page, ``/healthz`` and ``/api/v1``.

Routes are plain functions, which FastAPI runs in its thread pool; each asks
the index through ``access`` (see ``app``), so a request's thread opens its
own connection and closes it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, Response

from ..daemon import status as daemon_status
from ..errors import BadInputError
from ..index import DispatchIndex
from ..store.query import DEFAULT_LIMIT, MAX_LIMIT
from . import statuspage
from .responses import JSON, MAX_PARAM_CHARS, check_id, check_text, download_name

T = TypeVar("T")


class Access(Protocol):
    """Runs one action on the index in the calling thread's own connection (``app``)."""

    def __call__(self, action: Callable[[DispatchIndex], T]) -> T: ...


PREFIX = "/api/v1"
MAX_STATUSES = 32


def add_routes(app: FastAPI, access: Access) -> None:
    """Register the status page, ``/healthz`` and the ``/api/v1`` routes on ``app``."""
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

    @app.get(f"{PREFIX}/dispatches", tags=["dispatches"])
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
            str | None,
            Query(
                description='Words (or their starts) and "quoted phrases" of the id, workflow, '
                "location, errors, failing tasks, tags or note."
            ),
        ] = None,
        tag: Annotated[str | None, Query(description="Only dispatches with this tag.")] = None,
        sort: Annotated[
            str | None,
            Query(
                description="start_time (default), end_time, duration, lattice_name, status "
                "or size (of the folder)."
            ),
        ] = None,
        order: Annotated[str | None, Query(description="desc (default) or asc.")] = None,
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
            check_text("status", value)
        filters = {
            "status": statuses or None,
            "results_dir": check_text("results_dir", results_dir),
            "lattice_name": check_text("lattice_name", lattice_name),
            "since": check_text("since", since),
            "until": check_text("until", until),
            "text": check_text("text", text),
            "tag": check_text("tag", tag),
            "sort": check_text("sort", sort),
            "order": check_text("order", order),
            "include_missing": include_missing,
            "limit": limit,
            "cursor": check_text("cursor", cursor),
        }
        page = access(lambda ix: ix.list(**filters))  # type: ignore[arg-type]
        return JSON({"dispatches": [r.list_json() for r in page], "next_cursor": page.next_cursor})

    @app.get(f"{PREFIX}/dispatches/{{dispatch_id}}", tags=["dispatches"])
    def get_dispatch(dispatch_id: str) -> JSON:
        """One dispatch in full: its nodes and its result (where it is plain data)."""
        check_id(dispatch_id)
        return JSON(access(lambda ix: ix.get(dispatch_id)).to_json())

    @app.get(f"{PREFIX}/dispatches/{{dispatch_id}}/document", tags=["dispatches"])
    def get_document(dispatch_id: str) -> JSON:
        """The dispatch as Covalent's UI shows it (the document of /api/results/{id})."""
        check_id(dispatch_id)
        return JSON(access(lambda ix: ix.result_document(dispatch_id)))

    @app.get(
        f"{PREFIX}/dispatches/{{dispatch_id}}/result.pkl",
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
            headers={"Content-Disposition": download_name(dispatch_id)},
        )

    @app.get(f"{PREFIX}/stats", tags=["service"])
    def stats() -> JSON:
        """Records by status and in total, the registered folders, the daemon."""

        def gather(ix: DispatchIndex) -> dict[str, Any]:
            return daemon_status.stats_json(daemon_status.gather(ix))

        return JSON(access(gather))
