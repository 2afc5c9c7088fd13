"""Slow and broken clients do not hold the public route (real sockets, real uvicorn).

400 connections sending their headers or bodies byte by byte used to stay open for
as long as they liked (75 s and counting), and near the open-file limit every new
callback failed; a client that disconnected mid-body logged two tracebacks. The
server now cuts headers and bodies off at their deadlines (408, closed), refuses
requests beyond its concurrency limit (503), and treats a disconnect as an ordinary
outcome. The deadlines are set to a second here; the defaults are in settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import make_settings
from tests.fixtures.apimodels import callback_body
from tests.support.harness import Harness, running_genhook

FAST = {"server_header_timeout_seconds": 1, "server_body_timeout_seconds": 1}


@pytest.fixture
async def guarded(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with running_genhook(make_settings(tmp_path, database_url, **FAST)) as harness:
        yield harness


def address(genhook: Harness) -> tuple[str, int]:
    parts = urlsplit(genhook.base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


async def callback_path(genhook: Harness) -> str:
    created = await genhook.client.post("/api/callback-urls", json={"provider": "apimodels"})
    return urlsplit(created.json()["callback_url"]).path


async def trickle(genhook: Harness, data: bytes, *, every: float = 0.1, within: float = 4.0):
    """Send ``data`` one byte per ``every`` seconds; returns (seconds until the server
    closed the connection or None if it never did, what it answered)."""
    reader, writer = await asyncio.open_connection(*address(genhook))
    started = time.monotonic()
    answer = b""

    async def read_all() -> None:
        nonlocal answer
        while chunk := await reader.read(4096):
            answer += chunk

    reading = asyncio.create_task(read_all())
    try:
        for byte in data:
            if reading.done() or time.monotonic() - started > within:
                break
            with contextlib.suppress(ConnectionError):
                writer.write(bytes([byte]))
                await writer.drain()
            await asyncio.sleep(every)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(reading), max(0.0, within - (time.monotonic() - started))
            )
        closed_after = time.monotonic() - started if reading.done() else None
    finally:
        reading.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return closed_after, answer


async def test_headers_sent_byte_by_byte_are_cut_off(guarded: Harness) -> None:
    path = await callback_path(guarded)
    request = f"POST {path} HTTP/1.1\r\nHost: genhook\r\nX-Padding: {'x' * 200}\r\n\r\n".encode()
    results = await asyncio.gather(*(trickle(guarded, request) for _ in range(40)))
    for closed_after, answer in results:
        assert closed_after is not None and closed_after < 2.5, "the connection was held"
        assert answer.startswith(b"HTTP/1.1 408")
    assert (await guarded.client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("route", ["callback", "api"])
async def test_bodies_sent_byte_by_byte_are_cut_off(guarded: Harness, route: str) -> None:
    path = await callback_path(guarded) if route == "callback" else "/api/subscribers"
    body = callback_body() if route == "callback" else b'{"url": "http://127.0.0.1:9/x"}' * 30
    auth = "" if route == "callback" else f"Authorization: Bearer {guarded.token}\r\n"
    head = f"POST {path} HTTP/1.1\r\nHost: genhook\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
    reader, writer = await asyncio.open_connection(*address(guarded))
    writer.write(head.encode())
    await writer.drain()
    started = time.monotonic()
    answer = b""
    for byte in body:
        with contextlib.suppress(ConnectionError):
            writer.write(bytes([byte]))
            await writer.drain()
        with contextlib.suppress(TimeoutError):
            answer += await asyncio.wait_for(reader.read(4096), 0.1)
        if answer or time.monotonic() - started > 4:
            break
    rest = await asyncio.wait_for(reader.read(), 2)  # then the server closes it
    writer.close()
    assert (answer + rest).startswith(b"HTTP/1.1 408"), answer + rest
    assert b"connection: close" in (answer + rest).lower()
    assert time.monotonic() - started < 3
    counts = await guarded.counts()
    assert (counts["snapshots"], counts["subscribers"]) == (0, 0)  # nothing half-read kept


async def test_requests_beyond_the_concurrency_limit_get_503(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path, database_url, server_limit_concurrency=5, server_header_timeout_seconds=2
    )
    async with running_genhook(settings) as genhook:
        host, port = address(genhook)
        held = [await asyncio.open_connection(host, port) for _ in range(6)]
        try:
            statuses = []
            for _ in range(10):  # until the server has accepted the idle six
                refused = await genhook.client.get("/healthz", headers={"Connection": "close"})
                statuses.append(refused.status_code)
                if refused.status_code == 503:
                    break
                await asyncio.sleep(0.05)
            assert statuses[-1] == 503, statuses
            await asyncio.sleep(2.5)  # the idle connections reach their header deadline
            assert (await genhook.client.get("/healthz")).status_code == 200
        finally:
            for _, writer in held:
                writer.close()


async def test_a_client_that_goes_away_mid_body_is_no_traceback(
    guarded: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    path = await callback_path(guarded)
    caplog.set_level(logging.INFO)
    for target in (path, "/api/subscribers"):
        _, writer = await asyncio.open_connection(*address(guarded))
        writer.write(f"POST {target} HTTP/1.1\r\nHost: g\r\nContent-Length: 5000\r\n\r\n".encode())
        writer.write(b'{"data": {"sta')
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        await asyncio.sleep(0.3)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not any(r.exc_info for r in caplog.records)
    assert any("went away" in r.getMessage() for r in caplog.records)
    assert (await guarded.counts())["snapshots"] == 0


async def test_nul_in_a_callback_url_is_the_tokens_business(guarded: Harness) -> None:
    path = await callback_path(guarded)
    applied = await guarded.client.post(f"{path}?x=%00", content=callback_body())
    assert applied.status_code == 200  # the query is never read: no reason to refuse
    forged = await guarded.client.post("/callbacks/apimodels/tsk_x%00.y", content=callback_body())
    assert forged.status_code == 401  # not a 400 before the token was checked


async def test_admin_bodies_are_bounded_and_checked_after_authentication(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, api_token="t0k3n")
    async with running_genhook(settings) as genhook:
        nul = b'{"provider": "apimodels", "x": "\\u0000"}'
        async with genhook.anonymous() as anonymous:
            refused_early = await anonymous.post("/api/callback-urls", content=nul)
        assert refused_early.status_code == 401  # not 422: nobody unauthenticated learns more
        auth = genhook.auth
        refused = await genhook.client.post("/api/callback-urls", content=nul, headers=auth)
        assert refused.status_code == 422
        deep = b"[" * 900 + b'"\\u0000"' + b"]" * 900
        assert (
            await genhook.client.post("/api/subscribers", content=deep, headers=auth)
        ).status_code == 422
        huge = b'{"provider": "apimodels"' + b" " * (1024 * 1024) + b"}"
        too_big = await genhook.client.post("/api/callback-urls", content=huge, headers=auth)
        assert too_big.status_code == 413  # used to be read whole, and unchecked past 1 MiB
        assert (await genhook.counts())["tasks"] == 0
