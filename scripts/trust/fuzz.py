"""Fuzz: hypothesis-generated requests at the callback route and the admin API.

The callback bodies are what a provider (or anyone holding a valid callback URL)
could send: the documented shape with any field replaced by a poison value
(integers beyond 64 bits, ``1e300``, numeric strings, nesting up to 1,500 levels,
NUL characters, 200 kB strings, the wrong types), other JSON, and plain bytes,
all with valid tokens. The admin API gets schemathesis' requests for every
operation of ``/openapi.json``. The figures: requests sent, 5xx answered,
tracebacks in the server's log, and the server's memory before and after.

Hypothesis runs in a process of its own (spawned, one main thread). It parses the
source of every loaded local module with ``ast`` to pick constants, and before
CPython 3.12 the ``ast`` module's recursion counter is shared by all threads: any
traceback formatted elsewhere in the same process (3.11's ``traceback`` parses the
failing line to place its carets) can make either side raise ``SystemError: AST
constructor recursion depth mismatch``. The test suite runs this beside two other
runs and uvicorn servers in one process, and did (CPython gh-106905).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.core.result import Ok

from scripts.trust.processes import (
    ADMIN,
    Server,
    free_port,
    genhook_env,
    migrate,
    serve_genhook,
    simulator,
    simulator_env,
    stop,
)

BATCH = 50  # requests per hypothesis example, sent concurrently
WORKERS = 16
SKIPPED = {("GET", "/api/events")}  # an endless stream by design


@dataclass(frozen=True)
class FuzzScale:
    callback_requests: int = 90_000
    admin_examples_per_operation: int = 500
    tasks: int = 3000  # a first callback for each goes through every typed column
    warm_up_requests: int = 500  # before the RSS "before" figure


FULL = FuzzScale()
SMALL = FuzzScale(
    callback_requests=1_000, admin_examples_per_operation=4, tasks=100, warm_up_requests=100
)


@dataclass
class FuzzResult:
    callback_requests: int = 0
    admin_requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # of the callbacks answered 200
    server_5xx: int = 0
    examples_5xx: list[str] = field(default_factory=list)
    tracebacks: int = 0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    seconds: float = 0.0

    def add(self, requests: FuzzResult) -> None:
        """Count in what a fuzzing pass (in the fuzzing process) sent and was answered."""
        self.callback_requests += requests.callback_requests
        self.admin_requests += requests.admin_requests
        self.statuses.update(requests.statuses)
        self.outcomes.update(requests.outcomes)
        self.server_5xx += requests.server_5xx
        self.examples_5xx.extend(requests.examples_5xx[: max(0, 10 - len(self.examples_5xx))])

    @property
    def ok(self) -> bool:
        return self.server_5xx == 0 and self.tracebacks == 0 and self.callback_requests > 0

    def rows(self) -> list[tuple[str, str]]:
        total = self.callback_requests + self.admin_requests
        answers = ", ".join(f"{n} x {s}" for s, n in sorted(self.statuses.items()))
        return [
            ("requests (callback route, valid tokens / admin API)",
             f"{total:,} ({self.callback_requests:,} / {self.admin_requests:,})"),
            ("answers", answers),
            ("  callbacks answered 200", ", ".join(
                f"{n} {o}" for o, n in sorted(self.outcomes.items()))),
            ("5xx answered", f"{self.server_5xx}"),
            ("tracebacks in genhook's log", f"{self.tracebacks}"),
            ("server RSS before / after", f"{self.rss_before_kib / 1024:.0f} / "
             f"{self.rss_after_kib / 1024:.0f} MB"),
            ("time", f"{self.seconds:.0f} s ({total / max(self.seconds, 0.001):.0f} req/s)"),
        ]  # fmt: skip


# ---- callback bodies, as JSON text (json.dumps recurses; nesting is built as text)


def _text(value: Any) -> str:
    return json.dumps(value)


# Mostly within what a JSON parser reads (1,024 levels), sometimes beyond it.
depths = st.one_of(st.integers(1, 1000), st.integers(1, 1000), st.integers(1000, 1500))
deep_lists = depths.map(lambda d: "[" * d + "1" + "]" * d)
deep_objects = depths.map(lambda d: '{"a":' * d + '"x"' + "}" * d)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
).map(_text)
poison = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from([2**31, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30]).map(str),
    st.sampled_from(["1e300", "-1e300", "1e999", "-0.0", "1.5e-320"]),
    st.from_regex(r"-?[0-9]{1,40}(\.[0-9]{1,5})?", fullmatch=True).map(_text),
    st.text(max_size=30).map(_text),
    st.text(alphabet="\x00ab\u2028\ud7ff", max_size=8).map(_text),
    st.integers(1_000, 200_000).map(lambda n: _text("x" * n)),
    st.booleans().map(_text),
    st.just("null"),
    deep_lists,
    deep_objects,
    json_values,
)
states = st.sampled_from(
    ["completed", "failed", "processing", "pending", "success", "fail", "cancelled", "weird"]
).map(_text)
DOCUMENTED = {
    "taskId": '"p-fuzz"',
    "model": '"google/gemini-3-pro-image-lite"',
    "param": _text('{"prompt": "x"}'),
    "resultJson": _text('{"resultUrls":["https://r2.apimodels.app/images/x.png"]}'),
    "failCode": "null",
    "failMsg": "null",
    "costTime": "12345",
    "completeTime": "1705123465000",
    "createTime": "1705123450000",
}


@st.composite
def documented_with_poison(draw: st.DrawFn) -> bytes:
    # a provider task id of its own: a shared one would be another task's (an anomaly)
    task_id = _text(f"p-{draw(st.uuids())}")
    fields = {"state": draw(states), **DOCUMENTED, "taskId": task_id}
    names = sorted(name for name in fields if name != "state" or draw(st.integers(0, 9)) == 0)
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        fields[name] = draw(poison)
    if draw(st.booleans()):
        fields[draw(st.text(min_size=1, max_size=8))] = draw(poison)
    data = ", ".join(f"{_text(name)}: {value}" for name, value in fields.items())
    envelope = draw(st.sampled_from(['"code": 200, "msg": "success", ', '"code": 500, ', ""]))
    return ("{" + envelope + '"data": {' + data + "}}").encode("utf-8", "surrogatepass")


@st.composite
def callback_bodies(draw: st.DrawFn) -> bytes:
    """Mostly readable bodies with poison in them, then other JSON, then bytes (the kind
    is drawn explicitly: left to ``one_of``, hypothesis favours the simplest kinds)."""
    kind = draw(st.sampled_from(["documented"] * 7 + ["json", "data", "bytes"]))
    if kind == "documented":
        documented: bytes = draw(documented_with_poison())
        return documented
    if kind == "json":
        text: str = draw(json_values)
        return text.encode()
    if kind == "data":
        value: str = draw(poison)
        return ('{"data": ' + value + "}").encode("utf-8", "surrogatepass")
    body: bytes = draw(st.binary(max_size=2000))
    return body


async def run(database_url: str, workdir: Path, scale: FuzzScale = FULL) -> FuzzResult:
    result = FuzzResult()
    with simulator(workdir / "simulator.log", "--time-factor", "0.01") as sim:
        env = genhook_env(
            workdir / "data",
            database_url,
            free_port(),
            GENHOOK_RUN_BACKGROUND="false",  # the request paths only: no webhooks to fuzzed URLs
            GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS="true",  # random subscriber URLs: no DNS
            GENHOOK_PROVIDER_RETRY_ATTEMPTS="1",
        )
        env.update(simulator_env(sim.url))
        if database_url.startswith("postgresql"):
            migrate(env)
        server = serve_genhook(env, workdir / "genhook.log")
        loop = asyncio.get_running_loop()
        try:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fuzzer:
                warm_up = await _callback_paths(server, 20)
                paths = await _callback_paths(server, scale.tasks)
                started = time.monotonic()
                await loop.run_in_executor(
                    fuzzer, _fuzz_callbacks, server.url, warm_up, scale.warm_up_requests
                )
                result.rss_before_kib = server.rss_kib()
                result.add(
                    await loop.run_in_executor(
                        fuzzer, _fuzz_callbacks, server.url, paths, scale.callback_requests
                    )
                )
                result.add(
                    await loop.run_in_executor(
                        fuzzer, _fuzz_admin, server.url, scale.admin_examples_per_operation
                    )
                )
                result.seconds = time.monotonic() - started
                result.rss_after_kib = server.rss_kib()
        finally:
            stop(server)
        result.tracebacks = server.tracebacks()
    return result


async def _callback_paths(server: Server, count: int) -> list[str]:
    async with server.admin(timeout=30) as client:
        paths = []
        for _ in range(count):
            created = await client.post("/api/callback-urls", json={"provider": "apimodels"})
            paths.append(urlsplit(created.json()["callback_url"]).path)
        return paths


def _fuzz_callbacks(url: str, paths: list[str], requests_wanted: int) -> FuzzResult:
    """Runs in the fuzzing process: ``requests_wanted`` bodies, ``BATCH`` at a time."""
    result = FuzzResult()
    local = threading.local()
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=30)
        return local.client  # type: ignore[no-any-return]

    turn = itertools.count()  # every task in turn: each one's first callback applies

    def send(body: bytes) -> None:
        with lock:
            index = next(turn)
        outcome = None
        try:
            response = client().post(paths[index % len(paths)], content=body)
        except httpx.HTTPError as exc:
            status = 599
            problem = f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            problem = f"callback body {body[:200]!r}"
            if status == 200:
                outcome = response.json().get("status")
        with lock:
            result.statuses[status] += 1
            if outcome:
                result.outcomes[outcome] += 1
            result.callback_requests += 1
            if status >= 500:
                result.server_5xx += 1
                if len(result.examples_5xx) < 10:
                    result.examples_5xx.append(f"{status}: {problem}")

    with ThreadPoolExecutor(WORKERS) as pool:

        @hypothesis.given(batch=st.lists(callback_bodies(), min_size=BATCH, max_size=BATCH))
        @hypothesis.settings(
            max_examples=max(1, requests_wanted // BATCH),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=os.environ.get("GENHOOK_FUZZ_RANDOM") is None,
        )
        def one_batch(batch: list[bytes]) -> None:
            list(pool.map(send, batch))

        one_batch()
    return result


def _fuzz_admin(url: str, examples: int) -> FuzzResult:
    """Runs in the fuzzing process: schemathesis' examples for every operation."""
    result = FuzzResult()
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()
    session.headers.update(ADMIN)
    for found in schema.get_all_operations():
        if not isinstance(found, Ok):
            raise RuntimeError(f"the OpenAPI document does not load: {found}")
        operation = found.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=os.environ.get("GENHOOK_FUZZ_RANDOM") is None,
        )
        def one(case: Case[Any]) -> None:
            try:
                status = case.call(base_url=url, session=session, timeout=30).status_code
            except requests.RequestException:
                status = 599
            result.statuses[status] += 1
            result.admin_requests += 1
            if status >= 500:
                result.server_5xx += 1
                if len(result.examples_5xx) < 10:
                    result.examples_5xx.append(f"{status}: {case.as_curl_command()}")

        one()
    return result
