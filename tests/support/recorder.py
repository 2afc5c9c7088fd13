"""A callback endpoint for the simulator's tests: records every callback it gets.

The simulator sends apimodels.app callbacks to a URL it was given; tests serve this
endpoint on loopback and read what arrived. It can answer scripted statuses (and
delays) first, then 200, as a flaky receiver would. One recorder serves one test;
:class:`Hooks` routes one server's ``/hook/<name>`` to many (a module-wide server).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Call:
    at: float  # time.time(): comparable with the provider's epoch timestamps
    monotonic: float  # for gaps between calls
    content_type: str | None
    body: bytes

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed


@dataclass
class CallbackRecorder:
    statuses: list[int] = field(default_factory=list)  # answered first, then 200
    delays: list[float] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.calls.append(
            Call(time.time(), time.monotonic(), request.headers.get("content-type"), body)
        )
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])

    def bodies(self) -> list[dict[str, Any]]:
        return [call.json() for call in self.calls]

    def task_ids(self) -> list[str]:
        return [body["data"]["taskId"] for body in self.bodies()]


class Hooks:
    """One callback server for many recorders: each gets its own ``/hook/<name>``."""

    def __init__(self) -> None:
        self.base = ""
        self.recorders: dict[str, CallbackRecorder] = {}

    async def handle(self, request: Request) -> Response:
        return await self.recorders[request.path_params["name"]].handle(request)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook/{name}", self.handle, methods=["POST"])])

    def url(self, recorder: CallbackRecorder) -> str:
        name = uuid.uuid4().hex
        self.recorders[name] = recorder
        return f"{self.base}/hook/{name}"
