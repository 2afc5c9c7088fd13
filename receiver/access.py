"""Where a server and its clients meet: the default URL, the data dir, the token file.

The admin API always wants a bearer token. It is ``GENHOOK_API_TOKEN`` when set;
otherwise the server generates one once into ``<data dir>/api-token`` (mode 0600)
and prints a login link carrying it, as Jupyter does. A client on the same machine
(the CLI, an application using :mod:`receiver.client`) that was given no token reads
that file, but only to talk to a loopback URL: a token of the local server is never
sent to another host.

Constants and pure functions only, with nothing heavier than ``os``: the client
imports this module and must stay cheap to import.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "API_TOKEN_FILE",
    "DEFAULT_DATA_DIR",
    "DEFAULT_PORT",
    "DEFAULT_URL",
    "is_loopback_host",
    "local_token",
]

DEFAULT_PORT = 8000
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_DATA_DIR = ".genhook"
API_TOKEN_FILE = "api-token"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any 127.0.0.0/8 or ::1 address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_token(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The token a local server generated, when ``url`` is on this machine.

    Read from ``$GENHOOK_DATA_DIR/api-token`` (default ``./.genhook``); None when
    the URL is not loopback or there is no such file.
    """
    environ = os.environ if environ is None else environ
    host = urlsplit(url).hostname or ""
    if not is_loopback_host(host):
        return None
    path = Path(environ.get("GENHOOK_DATA_DIR") or DEFAULT_DATA_DIR) / API_TOKEN_FILE
    try:
        token = path.read_text().strip()
    except OSError:
        return None
    return token or None
