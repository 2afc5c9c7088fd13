"""The dashboard's browser session: how a person with the API token uses it.

A browser cannot put ``Authorization: Bearer`` on a page load, an ``<img>`` or an
``EventSource``. So ``/login`` takes the token once and sets an ``HttpOnly``,
``SameSite=Strict`` cookie holding an HMAC of it (never the token itself; changing
the token ends every session). The admin middleware accepts that cookie for safe
methods only (GET, HEAD): everything the dashboard does is a read, and a cookie
that cannot authorise a POST or DELETE cannot be abused by a cross-site request.
``/login?token=...`` (the link ``genhook serve`` prints) signs in in one click.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

COOKIE = "genhook_session"
SAFE_METHODS = frozenset({"GET", "HEAD"})
MAX_AGE_SECONDS = 30 * 24 * 3600
_CONTEXT = b"genhook dashboard session v1"


def session_value(api_token: str) -> str:
    """The cookie value for ``api_token``."""
    return hmac.new(api_token.encode(), _CONTEXT, hashlib.sha256).hexdigest()


def cookie_grants(cookie: str | None, api_token: str, method: str) -> bool:
    """Whether a request with this session cookie may pass."""
    if cookie is None or method not in SAFE_METHODS:
        return False
    return hmac.compare_digest(cookie.encode(), session_value(api_token).encode())


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, never another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target  # browsers read a backslash as a slash
    ):
        return "/"
    return target
