"""``genhook serve`` stopped by SIGTERM with a live event stream open: the stream
ends cleanly, the process exits 0 well within the grace period, and its log has no
traceback, no ERROR and no "returned without completing response"."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from tests.support.fleet import AUTH, TOKEN, clean_log, start_web
from tests.support.process import free_port, genhook_env


async def test_sigterm_with_an_sse_client_connected_stops_cleanly(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    env = genhook_env(tmp_path / "data", database_url, port, GENHOOK_API_TOKEN=TOKEN)
    web = await asyncio.to_thread(start_web, "web", env, tmp_path, port)
    lines: list[str] = []
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as client,
            client.stream("GET", "/api/events", timeout=30) as stream,
        ):
            assert stream.status_code == 200
            await asyncio.sleep(0.3)
            began = time.monotonic()
            web.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                async for line in stream.aiter_lines():  # ends when the server ends it
                    lines.append(line)
            code = await asyncio.to_thread(web.process.wait, 15)
            seconds = time.monotonic() - began
    finally:
        web.ensure_stopped()
    assert code == 0
    assert seconds < 5, seconds
    text = web.text()
    assert clean_log(text) == [], text
    assert "without completing response" not in text
