"""The indexer's own routes: the status page, ``/healthz`` and ``/api/v1``.

Routes are plain functions, which FastAPI runs in its thread pool; each asks
the index through ``access`` (see ``app``), so a request's thread opens its
own connection and closes it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, Protocol, TypeVar

from fastapi import FastAPI, Path, Query
from fastapi.responses import HTMLResponse, Response

from ..daemon import status as daemon_status
from ..errors import BadInputError
from ..index import DispatchIndex
from ..store.query import DEFAULT_LIMIT, MAX_LIMIT
from ..store.sorting import ORDERS, SORTS
from ..store.stats import MAX_DAYS
from . import pages as pages_mod
from .responses import JSON, MAX_PARAM_CHARS, check_id, check_text, download_name

T = TypeVar("T")


class Access(Protocol):
    """Runs one action on the index in the calling thread's own connection (``app``)."""

    def __call__(self, action: Callable[[DispatchIndex], T]) -> T: ...


PREFIX = "/api/v1"
MAX_STATUSES = 32


def add_routes(app: FastAPI, access: Access) -> None:
    """Register the pages, ``/healthz`` and the ``/api/v1`` routes on ``app``."""
    pages = pages_mod.Pages.load()
    shell = pages_mod.PAGE_HEADERS

    @app.api_route(
        "/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    def list_page() -> HTMLResponse:
        return HTMLResponse(pages.list_html, headers=shell)

    @app.api_route(
        "/dispatches/{dispatch_id}",
        methods=["GET", "HEAD"],
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def dispatch_page(dispatch_id: str) -> HTMLResponse:
        # The shell only: its script asks the API, which says if the id is unknown.
        return HTMLResponse(pages.dispatch_html, headers=shell)

    @app.api_route(
        "/docs", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
    )
    def docs_page() -> HTMLResponse:
        return HTMLResponse(pages.docs_html, headers=shell)

    @app.api_route("/static/{name:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def static_file(name: str) -> Response:
        found = pages.static.get(name)
        if found is None:
            return JSON({"detail": "no such file"}, status_code=404)
        return Response(
            found.body, media_type=found.media_type, headers={"Cache-Control": "no-cache"}
        )

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", tags=["service"])
    def healthz() -> JSON:
        """Whether the server runs and can read its index."""
        access(lambda ix: ix.counts())
        return JSON({"status": "ok"})

    @app.get(f"{PREFIX}/dispatches", tags=["dispatches"])
    def list_dispatches(
        status: Annotated[
            list[str] | None,
            Query(
                description="Only this status (repeat for several; any case). One that "
                "neither Covalent nor the index knows is a 422 naming the known ones."
            ),
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
        include_missing: Annotated[
            bool, Query(description="Include dispatches whose folder is gone.")
        ] = True,
        limit: Annotated[
            int,
            Query(
                ge=1,
                le=MAX_LIMIT,
                description=f"Page size, 1 to {MAX_LIMIT} (this API's cap; follow next_cursor "
                "for more).",
            ),
        ] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(max_length=MAX_PARAM_CHARS, description="next_cursor of the previous page."),
        ] = None,
        sort: Annotated[
            Literal[SORTS] | None,  # type: ignore[valid-type]
            Query(
                description="start_time (default), end_time, duration, lattice_name, status "
                "or size (of the folder); next_cursor pages through it."
            ),
        ] = None,
        order: Annotated[
            Literal[ORDERS] | None,  # type: ignore[valid-type]
            Query(description="desc (default) or asc."),
        ] = None,
    ) -> JSON:
        """One page of dispatches, newest first (or in ``sort`` order), and the
        cursor of the next page (null on the last)."""
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
            "include_missing": include_missing,
            "limit": limit,
            "cursor": check_text("cursor", cursor),
            "sort": sort,
            "order": order,
        }
        page = access(lambda ix: ix.list(**filters))  # type: ignore[arg-type]
        return JSON(
            {
                "dispatches": [r.list_json() for r in page],
                "next_cursor": page.next_cursor,
                "search_incomplete": page.search_incomplete,
            }
        )

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

    @app.get(f"{PREFIX}/dispatches/{{dispatch_id}}/graph", tags=["dispatches"])
    def get_graph(dispatch_id: str) -> JSON:
        """The dispatch page's data: the record's header, the workflow (name,
        docstring, source, inputs, executor), the result preview, and the task
        graph: tasks with status, times, short error and the sub-dispatch each
        ran; edges by dependency."""
        check_id(dispatch_id)
        return JSON(access(lambda ix: ix.graph(dispatch_id)))

    @app.get(f"{PREFIX}/dispatches/{{dispatch_id}}/nodes/{{node_id}}", tags=["dispatches"])
    def get_node(
        dispatch_id: str,
        node_id: Annotated[str, Path(max_length=64, description="The task's id (its number).")],
    ) -> JSON:
        """One task in full: inputs (by edge name), output preview, stdout,
        stderr, error, source; each text shortened with a marker past its limit."""
        check_id(dispatch_id)
        return JSON(access(lambda ix: ix.node(dispatch_id, node_id)))

    @app.get(f"{PREFIX}/stats/timeline", tags=["service"])
    def timeline(
        days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Days up to today.")] = 90,
    ) -> JSON:
        """Dispatches started per day by status over the last ``days`` days
        (UTC), and their durations in buckets: aggregates, no records."""
        return JSON(access(lambda ix: ix.timeline(days)))

    @app.get(f"{PREFIX}/stats", tags=["service"])
    def stats() -> JSON:
        """Records by status and in total, the registered folders, the daemon."""

        def gather(ix: DispatchIndex) -> dict[str, Any]:
            return daemon_status.stats_json(daemon_status.gather(ix))

        return JSON(access(gather))
