"""The HTTP API and the status page (``covalent-indexer serve``).

``settings`` decides where to listen and with which token; ``app`` builds the
FastAPI application over one ``DispatchIndex``; ``api`` and ``covalent`` hold
its routes, ``responses`` what they share, ``guard`` the checks in front of
them; ``serving`` binds and runs it with uvicorn.
"""

from __future__ import annotations

from .app import create_app
from .serving import serve
from .settings import DEFAULT_PORT, TOKEN_ENV, ServerSettings, resolve_settings

__all__ = [
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "ServerSettings",
    "create_app",
    "resolve_settings",
    "serve",
]
