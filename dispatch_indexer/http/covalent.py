"""The routes of Covalent 0.110's own UI server, so that UI can read the index.

Answers as Covalent's server did: every dispatch's UI document, one by id (an
unknown id is a 400 there, so here too), and the UI's delete, which hides
records and deletes no file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from ..errors import NotFoundError
from ..index import DispatchIndex
from .api import Access
from .responses import JSON, MAX_HIDE, check_id, possible_id


class HideRequest(BaseModel):
    """The body of ``DELETE /api/results``, as Covalent's UI sends it."""

    model_config = ConfigDict(extra="ignore")
    dispatchIds: list[Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=list, max_length=MAX_HIDE
    )


def add_routes(app: FastAPI, access: Access) -> None:
    """Register Covalent's ``/api/results`` routes on ``app``."""

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


def _documents(index: DispatchIndex) -> Iterator[dict[str, Any]]:
    for record in index.iterate():
        try:
            yield index.result_document(record.dispatch_id)
        except NotFoundError:
            continue  # gone between the listing and the read
