"""Adapters against canned HTTP answers: the docs' sample responses, verbatim, must map
onto the right TaskSnapshot, and every documented error onto the right exception.

httpx.MockTransport stands in for the network; nothing here waits (retries use a
zero-delay policy or a Retry-After of 0).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest

from receiver.lifecycle import Source, Status, normalize_state
from receiver.providers.adapter import HttpAdapter
from receiver.providers.apimall import ApimallAdapter
from receiver.providers.apimart import ApimartAdapter
from receiver.providers.apimodels import ApimodelsAdapter
from receiver.providers.base import CallbackAdapter, ProviderAdapter
from receiver.providers.errors import (
    ContentRejectedError,
    InsufficientCreditsError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderCallError,
    ProviderConflictError,
    ProviderForbiddenError,
    ProviderNetworkError,
    ProviderNotFoundError,
    ProviderProtocolError,
    ProviderRateLimitedError,
    ProviderServerError,
    ProviderUnavailableError,
    ProviderValidationError,
)
from receiver.providers.retry import RetryPolicy

Handler = Callable[[httpx.Request], httpx.Response]
FAST = RetryPolicy(max_attempts=3, base_delay=0, max_delay=0, budget=1)
BASE = "https://gw.test"


class Recorder:
    """A MockTransport that answers from a queue (the last answer repeats) and records."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def make(cls: type[HttpAdapter], recorder: Recorder, **kwargs: Any) -> Any:
    client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return cls(client, BASE, "sk-test", policy=FAST, rng=random.Random(0), **kwargs)


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# --- interface -------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ApimodelsAdapter, ApimallAdapter, ApimartAdapter])
def test_adapters_implement_the_protocol(cls: type[HttpAdapter]) -> None:
    adapter = make(cls, Recorder(answer(200, {})))
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.has_callbacks is (cls is ApimodelsAdapter)
    assert isinstance(adapter, CallbackAdapter) is (cls is ApimodelsAdapter)


# --- apimodels.app ---------------------------------------------------------------------

APIMODELS_CREATED = {
    "code": 200,
    "msg": "success",
    "data": {"taskId": "clxxx...", "state": "pending"},
}
APIMODELS_COMPLETED = {
    "code": 200,
    "msg": "success",
    "data": {
        "taskId": "clxxx...",
        "state": "completed",
        "resultUrls": ["https://r2.apimodels.app/images/xxx.jpeg"],
        "createTime": 1705123450000,
        "completeTime": 1705123465000,
    },
}
APIMODELS_FAILED = {
    "code": 200,
    "msg": "success",
    "data": {"taskId": "clxxx...", "state": "failed", "failMsg": "Content policy violation"},
}


async def test_apimodels_create_sends_callback_url_and_maps_the_docs_answer() -> None:
    rec = Recorder(answer(200, APIMODELS_CREATED))
    adapter = make(ApimodelsAdapter, rec)
    result = await adapter.create(
        "gemini-3-pro-image-lite",
        "A futuristic cityscape at sunset with flying cars",
        {"aspect_ratio": "16:9", "resolution": "2k"},
        idempotency_key="tsk_1",
        callback_url="https://genhook.test/callbacks/apimodels/tok",
    )
    sent = rec.requests[0]
    assert (sent.method, sent.url.path) == ("POST", "/api/v1/images/generations")
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert "idempotency-key" not in sent.headers
    assert rec.body() == {
        "model": "gemini-3-pro-image-lite",
        "prompt": "A futuristic cityscape at sunset with flying cars",
        "aspect_ratio": "16:9",
        "resolution": "2k",
        "callback_url": "https://genhook.test/callbacks/apimodels/tok",
    }
    assert result.provider_task_id == "clxxx..."
    assert result.snapshot.state == "pending"
    assert result.snapshot.source is Source.SUBMIT
    assert result.snapshot.provider_task_id == "clxxx..."
    assert "callback_url" not in result.request  # the token stays out of storage


async def test_apimodels_create_without_callback_url_omits_it() -> None:
    rec = Recorder(answer(200, APIMODELS_CREATED))
    await make(ApimodelsAdapter, rec).create(
        "gemini-3-pro-image", "p", {}, idempotency_key="k", callback_url=None
    )
    assert "callback_url" not in rec.body()


async def test_apimodels_poll_completed_sample() -> None:
    rec = Recorder(answer(200, APIMODELS_COMPLETED))
    snap = await make(ApimodelsAdapter, rec).fetch("clxxx...")
    assert rec.requests[0].url.path == "/api/v1/images/generations"
    assert rec.requests[0].url.params["task_id"] == "clxxx..."
    assert snap.source is Source.POLL
    assert normalize_state(snap.state) is Status.COMPLETED
    assert snap.result_urls == ("https://r2.apimodels.app/images/xxx.jpeg",)
    assert snap.provider_created_at == ts(1705123450)
    assert snap.provider_completed_at == ts(1705123465)
    assert snap.observed_at is not None


async def test_apimodels_poll_failed_sample() -> None:
    snap = await make(ApimodelsAdapter, Recorder(answer(200, APIMODELS_FAILED))).fetch("clxxx...")
    assert normalize_state(snap.state) is Status.FAILED
    assert snap.error_message == "Content policy violation"
    assert snap.result_urls == ()


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, ProviderBadRequestError),
        (401, ProviderAuthError),
        (402, InsufficientCreditsError),
        (404, ProviderNotFoundError),
        (500, ProviderServerError),
    ],
)
@pytest.mark.parametrize("http_status", ["same", 200])
async def test_apimodels_documented_errors_as_status_or_as_body_code(
    code: int, cls: type[ProviderCallError], http_status: Any
) -> None:
    status = code if http_status == "same" else 200
    rec = Recorder(answer(status, {"code": code, "msg": "nope", "data": None}))
    with pytest.raises(cls) as info:
        await make(ApimodelsAdapter, rec).fetch("t1")
    assert (info.value.status_code, info.value.code, info.value.message) == (
        code,
        str(code),
        "nope",
    )


async def test_apimodels_create_is_not_retried_after_a_500() -> None:
    rec = Recorder(answer(500, {"code": 500, "msg": "Internal Server Error", "data": None}))
    with pytest.raises(ProviderServerError) as info:
        await make(ApimodelsAdapter, rec).create(
            "gemini-3-pro-image", "p", {}, idempotency_key="k", callback_url=None
        )
    assert len(rec.requests) == 1
    assert not info.value.retryable


async def test_apimodels_reads_are_retried_after_a_500() -> None:
    rec = Recorder(answer(500, {"code": 500, "msg": "x"}), answer(200, APIMODELS_COMPLETED))
    snap = await make(ApimodelsAdapter, rec).fetch("clxxx...")
    assert len(rec.requests) == 2
    assert snap.state == "completed"


async def test_apimodels_fetch_without_state_is_a_protocol_error() -> None:
    rec = Recorder(answer(200, {"code": 200, "msg": "success", "data": {"taskId": "t"}}))
    with pytest.raises(ProviderProtocolError):
        await make(ApimodelsAdapter, rec).fetch("t")


def test_apimodels_parse_callback_through_the_adapter() -> None:
    body = json.dumps(
        {
            "code": 200,
            "msg": "success",
            "data": {
                "taskId": "clxxx...",
                "model": "google/gemini-3-pro-image",
                "state": "completed",
                "param": json.dumps({"prompt": "p"}),
                "resultJson": json.dumps(
                    {"resultUrls": ["https://r2.apimodels.app/images/xxx.png"]}
                ),
                "failCode": None,
                "failMsg": None,
                "costTime": 12345,
                "completeTime": 1705123465000,
                "createTime": 1705123450000,
            },
        }
    ).encode()
    adapter = make(ApimodelsAdapter, Recorder(answer(200, {})))
    parsed = adapter.parse_callback(body, observed_at=ts(1705123466))
    assert parsed.snapshot.source is Source.CALLBACK
    assert parsed.snapshot.result_urls == ("https://r2.apimodels.app/images/xxx.png",)
    assert parsed.snapshot.provider_cost_ms == 12345
    assert parsed.request_params == {"prompt": "p"}
    assert parsed.parse_errors == ()


# --- API Mall --------------------------------------------------------------------------

APIMALL_CREATED = {
    "success": True,
    "data": {
        "task_id": "img_01HQ9M7XJQ7PZ3GQ9F6C5W3N2M",
        "request_id": "provider_req_01HQ9M87A5Y2QZW0S1R3T6YQ2C",
        "credits_used": 8,
        "remaining_credits": 112,
        "model": "nano-banana",
    },
    "request_id": "req_01HQ9M7J7X9P7Y8T6W5V4U3S2R",
}
APIMALL_COMPLETED = {
    "success": True,
    "data": {
        "task_id": "img_01HQ9M7XJQ7PZ3GQ9F6C5W3N2M",
        "model": "nano-banana",
        "status": "completed",
        "output": {"resultUrls": ["https://cdn.apimall.ai/generated/image-01.webp"]},
        "primary_url": "https://cdn.apimall.ai/generated/result.webp",
        "image_url": "https://cdn.apimall.ai/generated/cover.webp",
        "error_message": None,
        "credits_used": 8,
        "credits_refunded": 0,
        "created_at": "2026-03-12T09:30:00.000Z",
        "updated_at": "2026-03-12T09:31:06.000Z",
        "completed_at": "2026-03-12T09:31:06.000Z",
    },
    "request_id": "req_01HQ9M7J7X9P7Y8T6W5V4U3S2R",
}
APIMALL_ERROR = {
    "success": False,
    "error": {"code": "insufficient_credits", "message": "Insufficient credits"},
    "request_id": "req_01HQ9M7J7X9P7Y8T6W5V4U3S2R",
}
APIMALL_REQUEST = {
    "type": "text-to-image",
    "num_images": 1,
    "aspect_ratio": "1:1",
    "output_format": "png",
}


async def test_apimall_create_always_sends_the_idempotency_key() -> None:
    rec = Recorder(answer(200, APIMALL_CREATED))
    result = await make(ApimallAdapter, rec).create(
        "nano-banana",
        "A cinematic portrait of a cyberpunk fox in neon rain.",
        APIMALL_REQUEST,
        idempotency_key="genhook-01J0000000000000000000000",
        callback_url="https://ignored.test/cb",
    )
    sent = rec.requests[0]
    assert (sent.method, sent.url.path) == ("POST", "/api/v1/images/generate")
    assert sent.headers["idempotency-key"] == "genhook-01J0000000000000000000000"
    assert rec.body() == {
        "model": "nano-banana",
        "prompt": "A cinematic portrait of a cyberpunk fox in neon rain.",
        **APIMALL_REQUEST,
    }
    assert result.provider_task_id == "img_01HQ9M7XJQ7PZ3GQ9F6C5W3N2M"
    snap = result.snapshot
    assert (snap.source, snap.state) == (Source.SUBMIT, "pending")
    assert (snap.credits_used, snap.remaining_credits) == (8, 112)


async def test_apimall_create_refuses_an_empty_idempotency_key() -> None:
    rec = Recorder(answer(200, APIMALL_CREATED))
    with pytest.raises(ValueError):
        await make(ApimallAdapter, rec).create(
            "nano-banana", "p", {}, idempotency_key=" ", callback_url=None
        )
    assert rec.requests == []


async def test_apimall_status_sample_dedupes_urls_in_order_and_reads_credits() -> None:
    rec = Recorder(answer(200, APIMALL_COMPLETED))
    snap = await make(ApimallAdapter, rec).fetch("img_01HQ9M7XJQ7PZ3GQ9F6C5W3N2M")
    assert rec.requests[0].url.path == "/api/v1/images/img_01HQ9M7XJQ7PZ3GQ9F6C5W3N2M"
    assert normalize_state(snap.state) is Status.COMPLETED
    assert snap.result_urls == (
        "https://cdn.apimall.ai/generated/image-01.webp",
        "https://cdn.apimall.ai/generated/result.webp",
        "https://cdn.apimall.ai/generated/cover.webp",
    )
    assert (snap.credits_used, snap.credits_refunded) == (8, 0)
    assert snap.provider_created_at == datetime(2026, 3, 12, 9, 30, tzinfo=UTC)
    assert snap.provider_completed_at == datetime(2026, 3, 12, 9, 31, 6, tzinfo=UTC)
    assert snap.error_message is None


async def test_apimall_duplicate_urls_collapse() -> None:
    data: dict[str, Any] = {
        **cast(dict[str, Any], APIMALL_COMPLETED["data"]),
        "primary_url": "https://cdn/a",
        "image_url": "https://cdn/a",
    }
    data["output"] = {"resultUrls": ["https://cdn/a", "https://cdn/b"]}
    snap = await make(ApimallAdapter, Recorder(answer(200, {"success": True, "data": data}))).fetch(
        "x"
    )
    assert snap.result_urls == ("https://cdn/a", "https://cdn/b")


async def test_apimall_failed_task_reports_message_and_refund() -> None:
    data: dict[str, Any] = {
        "task_id": "img_1",
        "status": "failed",
        "output": {"resultUrls": []},
        "primary_url": None,
        "image_url": None,
        "error_message": "Upstream generation failed",
        "credits_used": 8,
        "credits_refunded": 8,
    }
    snap = await make(ApimallAdapter, Recorder(answer(200, {"success": True, "data": data}))).fetch(
        "img_1"
    )
    assert normalize_state(snap.state) is Status.FAILED
    assert snap.error_message == "Upstream generation failed"
    assert snap.credits_refunded == 8


async def test_apimall_task_ids_are_path_escaped() -> None:
    rec = Recorder(answer(200, APIMALL_COMPLETED))
    await make(ApimallAdapter, rec).fetch("a/b c")
    assert rec.requests[0].url.raw_path == b"/api/v1/images/a%2Fb%20c"


@pytest.mark.parametrize(
    ("status", "code", "cls", "attempts"),
    [
        (400, "invalid_request", ProviderBadRequestError, 1),
        (401, "invalid_api_key", ProviderAuthError, 1),
        (402, "insufficient_credits", InsufficientCreditsError, 1),
        (403, "access_not_approved", ProviderForbiddenError, 1),
        (404, "task_not_found", ProviderNotFoundError, 1),
        (409, "idempotency_conflict", ProviderConflictError, 1),
        (429, "rate_limit_exceeded", ProviderRateLimitedError, 3),
        (451, "content_blocked", ContentRejectedError, 1),
        (500, "internal_error", ProviderServerError, 3),
        (503, "upstream_unavailable", ProviderUnavailableError, 3),
    ],
)
async def test_apimall_documented_status_codes(
    status: int, code: str, cls: type[ProviderCallError], attempts: int
) -> None:
    """``attempts`` is the README's rule, written out (FAST allows 3): 429 and 5xx are
    retried, since every create carries the key; 400/401/402/403/404/409/451 never."""
    body = {**APIMALL_ERROR, "error": {"code": code, "message": f"msg {status}"}}
    rec = Recorder(answer(status, body, {"Retry-After": "0"}))
    adapter = make(ApimallAdapter, rec, concurrency=1)
    with pytest.raises(cls) as info:
        await adapter.create("nano-banana", "p", {}, idempotency_key="k1", callback_url=None)
    error = info.value
    assert type(error) is cls
    assert (error.status_code, error.code, error.message) == (status, code, f"msg {status}")
    assert error.provider == "apimall"
    assert len(rec.requests) == attempts
    assert all(r.headers["idempotency-key"] == "k1" for r in rec.requests)


async def test_apimall_error_inside_a_200_is_still_an_error() -> None:
    rec = Recorder(answer(200, APIMALL_ERROR))
    with pytest.raises(InsufficientCreditsError) as info:
        await make(ApimallAdapter, rec).create(
            "nano-banana", "p", {}, idempotency_key="k", callback_url=None
        )
    assert info.value.code == "insufficient_credits"


async def test_apimall_create_is_retried_after_a_timeout_with_the_same_key() -> None:
    rec = Recorder(httpx.ReadTimeout("slow"), answer(200, APIMALL_CREATED))
    result = await make(ApimallAdapter, rec).create(
        "nano-banana", "p", {}, idempotency_key="same", callback_url=None
    )
    assert result.provider_task_id == APIMALL_CREATED["data"]["task_id"]  # type: ignore[index]
    assert [r.headers["idempotency-key"] for r in rec.requests] == ["same", "same"]
    assert rec.body(0) == rec.body(1)


# --- APIMart ---------------------------------------------------------------------------

APIMART_CREATED_GEMINI = {
    "code": 200,
    "data": [{"status": "submitted", "task_id": "task_01K8SGYNNNVBQTXNR4MM964S7K"}],
}
APIMART_COMPLETED = {
    "code": 200,
    "data": {
        "id": "task_01KPQ7J7DWB7QZ3WCEK3YVPBRA",
        "status": "completed",
        "progress": 100,
        "created": 1776748674,
        "completed": 1776748726,
        "actual_time": 52,
        "estimated_time": 100,
        "result": {
            "images": [
                {
                    "url": [
                        "https://upload.apimart.ai/f/image/xxxxxxxx-gpt_image_2_task_xxx_0.png"
                    ],
                    "expires_at": 1776835126,
                }
            ]
        },
    },
}


async def test_apimart_create_sample() -> None:
    rec = Recorder(answer(200, APIMART_CREATED_GEMINI))
    result = await make(ApimartAdapter, rec).create(
        "gemini-2.5-flash-image-preview",
        "A bamboo forest path under moonlight",
        {
            "size": "1:1",
            "n": 1,
            "image_urls": ["https://openai-documentation.vercel.app/images/cat_and_otter.png"],
        },
        idempotency_key="k",
        callback_url=None,
    )
    sent = rec.requests[0]
    assert (sent.method, sent.url.path) == ("POST", "/v1/images/generations")
    assert "idempotency-key" not in sent.headers
    assert rec.body()["model"] == "gemini-2.5-flash-image-preview"
    assert result.provider_task_id == "task_01K8SGYNNNVBQTXNR4MM964S7K"
    assert result.snapshot.state == "submitted"
    assert normalize_state(result.snapshot.state) is Status.PENDING


async def test_apimart_status_sample() -> None:
    rec = Recorder(answer(200, APIMART_COMPLETED))
    snap = await make(ApimartAdapter, rec).fetch("task_01KPQ7J7DWB7QZ3WCEK3YVPBRA")
    assert rec.requests[0].url.path == "/v1/tasks/task_01KPQ7J7DWB7QZ3WCEK3YVPBRA"
    assert snap.provider_task_id == "task_01KPQ7J7DWB7QZ3WCEK3YVPBRA"
    assert normalize_state(snap.state) is Status.COMPLETED
    assert snap.result_urls == (
        "https://upload.apimart.ai/f/image/xxxxxxxx-gpt_image_2_task_xxx_0.png",
    )
    assert snap.result_expires_at == ts(1776835126)
    assert snap.provider_created_at == ts(1776748674)
    assert snap.provider_completed_at == ts(1776748726)
    assert snap.provider_cost_ms == 52_000


async def test_apimart_failed_and_string_urls() -> None:
    failed = {
        "code": 200,
        "data": {"id": "t", "status": "failed", "error": {"message": "blocked", "type": "x"}},
    }
    snap = await make(ApimartAdapter, Recorder(answer(200, failed))).fetch("t")
    assert (snap.state, snap.error_message, snap.error_code) == ("failed", "blocked", "x")
    one_url = {
        "code": 200,
        "data": {
            "id": "t",
            "status": "completed",
            "result": {"images": [{"url": "https://u/1.png"}]},
        },
    }
    snap = await make(ApimartAdapter, Recorder(answer(200, one_url))).fetch("t")
    assert snap.result_urls == ("https://u/1.png",)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ProviderBadRequestError),
        (401, ProviderAuthError),
        (402, InsufficientCreditsError),
        (403, ProviderForbiddenError),
        (404, ProviderNotFoundError),
        (429, ProviderRateLimitedError),
        (500, ProviderServerError),
        (503, ProviderUnavailableError),
    ],
)
async def test_apimart_error_bodies(status: int, cls: type[ProviderCallError]) -> None:
    body = {"code": status, "error": {"message": "task does not exist or has expired", "type": "t"}}
    with pytest.raises(cls) as info:
        await make(ApimartAdapter, Recorder(answer(status, body))).fetch("t")
    assert (info.value.status_code, info.value.code) == (status, "t")
    assert info.value.message == "task does not exist or has expired"


async def test_apimart_body_code_in_a_200_and_flat_message() -> None:
    body = {"code": 400, "message": "build_request_failed: invalid size"}
    with pytest.raises(ProviderBadRequestError) as info:
        await make(ApimartAdapter, Recorder(answer(200, body))).fetch("t")
    assert info.value.message == "build_request_failed: invalid size"


async def test_apimart_create_not_retried_on_network_error() -> None:
    rec = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(ProviderNetworkError) as info:
        await make(ApimartAdapter, rec).create(
            "gpt-image-2", "p", {}, idempotency_key="k", callback_url=None
        )
    assert len(rec.requests) == 1
    assert info.value.status_code is None
    assert not info.value.retryable


async def test_apimart_batch_chunks_and_maps() -> None:
    def task(task_id: str) -> dict[str, Any]:
        return {"id": task_id, "status": "processing", "progress": 40, "created": 1776748674}

    def handler(request: httpx.Request) -> httpx.Response:
        ids = json.loads(request.content)["task_ids"]
        known = [task(i) for i in ids if i != "gone"]
        return answer(200, {"code": 200, "data": known})

    calls: list[list[str]] = []

    def recording(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content)["task_ids"])
        assert (request.method, request.url.path) == ("POST", "/v1/tasks/batch")
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(recording))
    adapter = ApimartAdapter(client, BASE, "k", policy=FAST, batch_size=2)
    ids = ["a", "b", "gone", "c", "a", "d"]
    result = await adapter.fetch_many(ids)
    assert calls == [["a", "b"], ["gone", "c"], ["d"]]
    assert list(result) == ["a", "b", "c", "d"]
    assert all(s.source is Source.POLL and s.state == "processing" for s in result.values())
    assert result["c"].provider_task_id == "c"


def test_apimart_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ApimartAdapter(httpx.AsyncClient(), BASE, None, batch_size=0)


# --- fetch_many without a batch endpoint, and validation before I/O --------------------


async def test_fetch_many_fans_out_and_leaves_out_unknown_tasks() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        task_id = request.url.path.rsplit("/", 1)[-1]
        if task_id == "missing":
            return answer(
                404, {"success": False, "error": {"code": "task_not_found", "message": "x"}}
            )
        return answer(200, {"success": True, "data": {"task_id": task_id, "status": "processing"}})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    adapter = ApimallAdapter(client, BASE, "k", policy=FAST, concurrency=2)
    result = await adapter.fetch_many(["x", "missing", "y", "x"])
    assert list(result) == ["x", "y"]


async def test_fetch_many_fails_whole_on_other_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/bad"):
            return answer(
                401, {"success": False, "error": {"code": "invalid_api_key", "message": "x"}}
            )
        return answer(200, {"success": True, "data": {"status": "processing"}})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    adapter = ApimallAdapter(client, BASE, "k", policy=FAST)
    with pytest.raises(ProviderAuthError):
        await adapter.fetch_many(["a", "bad", "c"])


@pytest.mark.parametrize(
    ("cls", "model", "params"),
    [
        (ApimartAdapter, "gpt-image-2", {"n": 2}),
        (ApimallAdapter, "nano-banana", {"num_images": 9}),
        (ApimodelsAdapter, "unknown-model", {}),
    ],
)
async def test_create_validates_before_any_request(
    cls: type[HttpAdapter], model: str, params: dict[str, Any]
) -> None:
    rec = Recorder(answer(200, {}))
    with pytest.raises(ProviderValidationError):
        await make(cls, rec).create(model, "p", params, idempotency_key="k", callback_url=None)
    assert rec.requests == []


@pytest.mark.parametrize("cls", [ApimodelsAdapter, ApimallAdapter, ApimartAdapter])
async def test_create_answer_without_a_task_id_is_a_protocol_error(cls: type[HttpAdapter]) -> None:
    rec = Recorder(answer(200, {"code": 200, "success": True, "data": {}}))
    model = cls.catalog.model_names[0]
    with pytest.raises(ProviderProtocolError):
        await make(cls, rec).create(model, "p", {}, idempotency_key="k", callback_url=None)


@pytest.mark.parametrize("cls", [ApimodelsAdapter, ApimallAdapter, ApimartAdapter])
async def test_a_2xx_that_is_not_json_is_a_protocol_error(cls: type[HttpAdapter]) -> None:
    rec = Recorder(httpx.Response(200, text="<html>gateway</html>"))
    with pytest.raises(ProviderProtocolError):
        await make(cls, rec).fetch("t")
    assert len(rec.requests) == FAST.max_attempts  # reads are retried


@pytest.mark.parametrize("cls", [ApimodelsAdapter, ApimallAdapter, ApimartAdapter])
async def test_an_error_page_that_is_not_json_keeps_its_status(cls: type[HttpAdapter]) -> None:
    rec = Recorder(httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(ProviderServerError) as info:
        await make(cls, rec).fetch("t")
    assert info.value.status_code == 502


async def test_missing_api_key_sends_no_authorization_header() -> None:
    rec = Recorder(answer(200, APIMART_COMPLETED))
    client = httpx.AsyncClient(transport=httpx.MockTransport(rec))
    await ApimartAdapter(client, BASE + "/", None).fetch("t")
    assert "authorization" not in rec.requests[0].headers
    assert str(rec.requests[0].url) == f"{BASE}/v1/tasks/t"
