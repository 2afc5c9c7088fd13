"""A minimal Server-Sent Events reader over httpx, enough to test ``/api/events``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson


@dataclass(frozen=True)
class Message:
    id: str
    event: str
    data: dict[str, object]


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """Parse the stream into messages; comments (pings) and retry lines are skipped."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in fields:
                yield Message(
                    fields.get("id", ""),
                    fields.get("event", "message"),
                    orjson.loads(fields["data"]),
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
