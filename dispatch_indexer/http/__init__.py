"""The HTTP API and the status page (``covalent-indexer serve``).

``create_app`` builds the FastAPI application over one ``DispatchIndex``;
``serve`` checks the settings, binds and runs it with uvicorn.
"""

from __future__ import annotations

from .app import DEFAULT_PORT, TOKEN_ENV, ServerSettings, create_app, resolve_settings, serve

__all__ = [
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "ServerSettings",
    "create_app",
    "resolve_settings",
    "serve",
]
