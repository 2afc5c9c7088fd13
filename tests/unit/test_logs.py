"""Log lines: readable text by default, one JSON object per line when asked."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from receiver import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logging configured as a process would be, writing into a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()

    def configure(log_format: str, level: str = "info") -> io.StringIO:
        config = logs.logging_config(level, log_format)
        config["handlers"]["stderr"].pop("stream")
        logging.config.dictConfig(config)
        [handler] = logging.getLogger().handlers
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        return stream

    captured.configure = configure  # type: ignore[attr-defined]
    yield captured  # type: ignore[misc]
    root.handlers, root.level = saved
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler", "httpx"):
        logger = logging.getLogger(name)
        logger.handlers, logger.filters = [], []
        logger.setLevel(logging.NOTSET)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_message_first(captured) -> None:
    stream = captured.configure("json")
    logging.getLogger("receiver.ingest").warning("task %s: %s", "tsk_1", "odd")
    [line] = lines(stream)
    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert line["level"] == "WARNING" and line["logger"] == "receiver.ingest"
    assert line["message"] == "task tsk_1: odd"
    assert str(line["time"]).endswith("Z")


def test_ids_come_from_extra_and_from_bound_context(captured) -> None:
    stream = captured.configure("json")
    log = logging.getLogger("receiver.dispatcher")
    with logs.bind(task_id="tsk_1", provider="apimodels", event_id=None):
        log.info("sent", extra={"delivery_id": 7, "event_id": "evt_1"})
    log.info("after")
    sent, after = lines(stream)
    assert {k: sent[k] for k in ("task_id", "provider", "event_id", "delivery_id")} == {
        "task_id": "tsk_1",
        "provider": "apimodels",
        "event_id": "evt_1",
        "delivery_id": 7,
    }
    assert "task_id" not in after  # the context ended with the block


def test_a_traceback_is_one_field_of_one_line(captured) -> None:
    stream = captured.configure("json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    [line] = lines(stream)
    assert "ValueError: boom" in str(line["exc_info"])


def test_uvicorn_lines_are_json_too_without_their_colour_copy(captured) -> None:
    stream = captured.configure("json")
    logging.getLogger("uvicorn.error").info("Started", extra={"color_message": "\x1b[1mStarted"})
    [line] = lines(stream)
    assert line["logger"] == "uvicorn.error" and "color_message" not in line


def test_httpx_request_lines_are_debug_only(captured) -> None:
    stream = captured.configure("json")
    logging.getLogger("httpx").info('HTTP Request: GET http://x "HTTP/1.1 200 OK"')
    logging.getLogger("httpx").warning("something real")
    assert [line["message"] for line in lines(stream)] == ["something real"]

    stream = captured.configure("json", level="debug")
    stream.truncate(0)
    stream.seek(0)
    logging.getLogger("httpx").info("HTTP Request: GET http://x")
    [line] = lines(stream)
    assert line["level"] == "DEBUG"


def test_uvicorn_access_lines_are_debug_only(captured) -> None:
    stream = captured.configure("json")
    logging.getLogger("uvicorn.access").info('127.0.0.1:1 - "GET /x HTTP/1.1" 200')
    assert stream.getvalue() == ""


def test_apscheduler_runs_are_not_logged(captured) -> None:
    stream = captured.configure("json")
    logging.getLogger("apscheduler.executors.default").info('Running job "poll"')
    assert stream.getvalue() == ""


def test_text_stays_the_readable_default(captured) -> None:
    stream = captured.configure("text")
    logging.getLogger("receiver.poller").info("task %s expired", "tsk_1")
    text = stream.getvalue()
    assert text.endswith(" INFO receiver.poller task tsk_1 expired\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
