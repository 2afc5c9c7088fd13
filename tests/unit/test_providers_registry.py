"""Adapters are built from settings and found by name; unknown names are refused."""

from __future__ import annotations

import httpx
import orjson
import pytest

from receiver.errors import UnknownProviderError
from receiver.providers.apimall import ApimallAdapter
from receiver.providers.apimart import ApimartAdapter
from receiver.providers.apimodels import ApimodelsAdapter
from receiver.providers.registry import build_adapters, describe_catalogs, get_adapter
from receiver.settings import Settings


async def test_build_adapters_uses_each_providers_url_and_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={"code": 200, "success": True, "data": {"status": "pending", "state": "pending"}},
        )

    settings = Settings(
        _env_file=None,
        apimodels_base_url="http://models.test/",
        apimall_base_url="http://mall.test",
        apimart_base_url="http://mart.test",
        apimodels_api_key="k-models",
        apimall_api_key="k-mall",
        apimart_api_key="k-mart",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapters = build_adapters(settings, client)
        assert set(adapters) == {"apimodels", "apimall", "apimart"}
        assert isinstance(get_adapter(adapters, "apimodels"), ApimodelsAdapter)
        assert isinstance(get_adapter(adapters, "apimall"), ApimallAdapter)
        assert isinstance(get_adapter(adapters, "apimart"), ApimartAdapter)
        for name, adapter in adapters.items():
            assert adapter.name == name
            await adapter.fetch("t1")
    hosts_and_keys = {(r.url.host, r.headers["authorization"]) for r in seen}
    assert hosts_and_keys == {
        ("models.test", "Bearer k-models"),
        ("mall.test", "Bearer k-mall"),
        ("mart.test", "Bearer k-mart"),
    }


def test_unknown_provider_is_refused() -> None:
    adapters = build_adapters(Settings(_env_file=None), httpx.AsyncClient())
    with pytest.raises(UnknownProviderError) as info:
        get_adapter(adapters, "kie")
    assert info.value.provider == "kie"


def test_describe_catalogs_is_json_for_every_provider() -> None:
    described = orjson.loads(orjson.dumps(describe_catalogs()))
    assert {name: entry["callbacks"] for name, entry in described.items()} == {
        "apimodels": True,
        "apimall": False,
        "apimart": False,
    }
    apimall_models = [m["name"] for m in described["apimall"]["models"]]
    assert apimall_models == ["nano-banana", "z-image", "zimage", "nano-banana-pro"]
