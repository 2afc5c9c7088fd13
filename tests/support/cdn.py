"""A result-image host that misbehaves on purpose, for the mirror's refusal tests.

The simulator serves honest PNGs; real CDNs also serve HTML error pages with 200,
SVG, untyped bytes, huge or endless bodies and redirects. Each path here is one of
those, and :attr:`Cdn.hits` counts requests per path so a test can prove that a
refused URL was never fetched. ``status-<code>`` answers that status, ``hang``
answers after ``hang_seconds`` (longer than a test's download timeout), and
``chain?n=K`` redirects K times before the PNG. Setting :attr:`Cdn.healthy` makes
every path (``status-*``, ``hang``) serve the PNG: the host has recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from receiver.simulator.images import task_image
from tests.support.servers import serve

PNG = task_image("cdn", 0, 48)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@dataclass
class Cdn:
    url: str
    hits: Counter[str] = field(default_factory=Counter)
    healthy: bool = False
    hang_seconds: float = 1.0


def _app(cdn: Cdn) -> Starlette:
    async def endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        cdn.hits[name] += 1
        if cdn.healthy and (name.startswith("status-") or name == "hang"):
            return Response(PNG, media_type="image/png")
        if name.startswith("status-"):
            return Response(b"no", status_code=int(name.removeprefix("status-")))
        if name == "hang":
            await asyncio.sleep(cdn.hang_seconds)
            return Response(PNG, media_type="image/png")
        if name == "chain":
            left = int(request.query_params["n"])
            target = f"{cdn.url}/chain?n={left - 1}" if left > 1 else f"{cdn.url}/png"
            return RedirectResponse(target, status_code=302)
        if name == "png":
            return Response(PNG, media_type="image/png")
        if name == "untyped":  # S3 and friends often say nothing useful
            return Response(PNG, media_type="application/octet-stream")
        if name == "html":  # an error page that answers 200
            return Response(b"<html>Not here</html>", media_type="text/html")
        if name == "svg":
            return Response(SVG, media_type="image/svg+xml")
        if name == "fake-png":  # claims to be an image, is not
            return Response(b"GIF? no. " * 20, media_type="image/png")
        if name == "big":  # declares its size up front
            return Response(PNG + b"\0" * 100_000, media_type="image/png")
        if name == "endless":  # chunked, no Content-Length: must be cut off while streaming

            async def chunks() -> AsyncIterator[bytes]:
                yield PNG
                for _ in range(1000):
                    yield b"\0" * 65536

            return StreamingResponse(chunks(), media_type="image/png")
        if name == "gone":
            return Response(b"gone", status_code=410)
        if name == "redirect":
            return RedirectResponse(request.query_params["to"], status_code=302)
        if name == "loop":
            return RedirectResponse(f"{cdn.url}/loop", status_code=302)
        return Response(b"not found", status_code=404)

    return Starlette(routes=[Route("/{name}", endpoint)])


@contextlib.asynccontextmanager
async def running_cdn() -> AsyncIterator[Cdn]:
    cdn = Cdn(url="")
    async with serve(_app(cdn)) as url:
        cdn.url = url
        yield cdn
