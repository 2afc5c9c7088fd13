"""The baseline: a bare Starlette endpoint that only reads the body.

Served exactly like genhook (``uvicorn.run`` with the same options), so the ratio
between the two measures what genhook's work costs, not the web stack.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def receive(request: Request) -> Response:
    await request.body()
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(routes=[Route("/callbacks/{provider}/{token}", receive, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
