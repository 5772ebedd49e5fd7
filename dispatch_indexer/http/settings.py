"""Where the server listens and who may ask it: host, port and token.

The config file, then ``$COVALENT_INDEXER_TOKEN`` (the token only), then the
command line; a bind beyond loopback without a token is refused, since anyone
who can reach the port could read every result.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from ..config import Config
from ..errors import BadInputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 48010
TOKEN_ENV = "COVALENT_INDEXER_TOKEN"  # noqa: S105 - the name of a variable
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


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
