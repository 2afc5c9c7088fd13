"""Route params mapped per target are valid under that gateway's documented rules, and
what a target cannot express is refused with the route field named, never dropped.

The adapters are real (built as in production, on a client that is never used): their
``validate`` is the gateway's rules, so a mapped request they accept is one the gateway
documents.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.providers import registry
from receiver.providers.adapter import HttpAdapter
from receiver.providers.errors import ProviderValidationError
from receiver.routes import (
    ASPECT_RATIOS,
    BUILTIN_ROUTES,
    RESOLUTIONS,
    RouteParamError,
    Target,
    UnexpressibleParamError,
    map_params,
)
from receiver.routes.mapping import CATALOGS

TARGETS = [target for route in BUILTIN_ROUTES.values() for target in route.targets]
PROMPT = "A lighthouse at dawn"


def adapter_for(provider: str) -> HttpAdapter:
    # Never sends: validate() is pure, and the client is not opened.
    return registry.ADAPTER_CLASSES[provider](httpx.AsyncClient(), "https://gw.test", None)


ADAPTERS = {name: adapter_for(name) for name in registry.ADAPTER_CLASSES}

urls = st.builds("https://img.test/{}.png".format, st.integers(0, 999))
route_params = st.fixed_dictionaries(
    {},
    optional={
        "aspect_ratio": st.sampled_from(ASPECT_RATIOS),
        "num_images": st.integers(1, 8),
        "resolution": st.sampled_from(RESOLUTIONS),
        "image_urls": st.lists(urls, max_size=16),
    },
)


def refused_field(target: Target, params: dict[str, Any]) -> set[str]:
    """The route fields the gateway's docs give no way to express (the oracle)."""
    images = len(params.get("image_urls", []))
    count = params.get("num_images", 1)
    resolution = params.get("resolution", "1K")
    if target.provider == "apimodels":
        return {f for f, bad in (("num_images", count > 1), ("image_urls", images > 1)) if bad}
    if target.provider == "apimart":
        return {
            f
            for f, bad in (
                ("num_images", count > 4),
                ("resolution", resolution != "1K"),
                ("image_urls", images > 14),
            )
            if bad
        }
    return {"num_images"} if count > 6 else set()


def test_the_routes_catalogs_are_the_registrys() -> None:
    assert dict(CATALOGS) == dict(registry.CATALOGS)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.label)
@given(params=route_params)
def test_every_builtin_target_maps_valid_params_to_a_valid_request_or_names_the_field(
    target: Target, params: dict[str, Any]
) -> None:
    expected_refusals = refused_field(target, params)
    try:
        mapped = map_params(target, params)
    except UnexpressibleParamError as refusal:
        assert refusal.field in expected_refusals
        assert refusal.target == target.label
        assert target.label in str(refusal) and refusal.field in str(refusal)
        return
    assert expected_refusals == set()
    body = ADAPTERS[target.provider].validate(target.model, {"prompt": PROMPT, **mapped})
    assert body["model"] == target.model
    for route_field, value in params.items():
        if route_field == "num_images" and route_field not in target.fields:
            assert value == 1  # apimodels makes one image: expressed by sending nothing
        elif route_field == "image_urls" and not value:
            assert not any(f in body for f in ("image_urls", "image_url"))
        else:
            assert target.fields[route_field] in body


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.label)
@given(
    aspect_ratio=st.sampled_from(ASPECT_RATIOS),
    image=st.lists(urls, max_size=1),
)
def test_what_every_gateway_shares_fails_over_anywhere(
    target: Target, aspect_ratio: str, image: list[str]
) -> None:
    params = {
        "aspect_ratio": aspect_ratio,
        "num_images": 1,
        "resolution": "1K",
        "image_urls": image,
    }
    mapped = map_params(target, {"prompt": PROMPT, **params})
    ADAPTERS[target.provider].validate(target.model, mapped)


def test_field_names_and_value_conversions_per_gateway() -> None:
    params = {
        "prompt": PROMPT,
        "aspect_ratio": "16:9",
        "num_images": 1,
        "resolution": "1K",
        "image_urls": ["https://img.test/a.png"],
    }
    apimall, apimodels, apimart = BUILTIN_ROUTES["nano-banana"].targets
    assert map_params(apimall, params) == {
        "prompt": PROMPT,
        "aspect_ratio": "16:9",
        "num_images": 1,
        "resolution": "1K",
        "image_urls": ["https://img.test/a.png"],
        "type": "image-to-image",
    }
    assert map_params(apimodels, params) == {
        "prompt": PROMPT,
        "aspect_ratio": "16:9",
        "resolution": "1k",
        "image_url": "https://img.test/a.png",
    }
    assert map_params(apimart, params) == {
        "prompt": PROMPT,
        "size": "16:9",
        "n": 1,
        "resolution": "1K",
        "image_urls": ["https://img.test/a.png"],
    }


def test_text_to_image_on_api_mall_sends_no_type_and_no_images() -> None:
    apimall = BUILTIN_ROUTES["nano-banana"].targets[0]
    assert map_params(apimall, {"image_urls": [], "num_images": 2}) == {"num_images": 2}


def test_nulls_count_as_absent() -> None:
    for target in TARGETS:
        assert map_params(target, {"aspect_ratio": None, "image_urls": None}) == {}


@pytest.mark.parametrize(
    ("provider", "params", "field", "words"),
    [
        ("apimodels", {"num_images": 2}, "num_images", "one image"),
        ("apimodels", {"image_urls": ["a", "b"]}, "image_urls", "single reference image"),
        ("apimart", {"num_images": 5}, "num_images", "at most 4"),
        ("apimart", {"resolution": "2K"}, "resolution", "1K"),
        ("apimart", {"image_urls": ["u"] * 15}, "image_urls", "at most 14"),
        ("apimart", {"prompt": "x" * 1001}, "prompt", "1000"),
        ("apimall", {"num_images": 7}, "num_images", "at most 6"),
    ],
)
def test_unexpressible_values_are_refused_naming_field_and_target(
    provider: str, params: dict[str, Any], field: str, words: str
) -> None:
    target = next(t for t in BUILTIN_ROUTES["nano-banana"].targets if t.provider == provider)
    with pytest.raises(UnexpressibleParamError) as caught:
        map_params(target, params)
    assert caught.value.field == field
    assert isinstance(caught.value, ProviderValidationError)
    assert target.label in str(caught.value) and words in str(caught.value)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"size": "1:1"}, "size"),  # a provider's name, not the route's
        ({"n": 2}, "n"),
        ({"seed": 4}, "seed"),
        ({"aspect_ratio": "auto"}, "aspect_ratio"),
        ({"aspect_ratio": "1024x1024"}, "aspect_ratio"),
        ({"aspect_ratio": "7:3"}, "aspect_ratio"),
        ({"resolution": "2k"}, "resolution"),  # no coercion: the vocabulary says 2K
        ({"num_images": 0}, "num_images"),
        ({"num_images": "2"}, "num_images"),
        ({"num_images": True}, "num_images"),
        ({"image_urls": "https://img.test/a.png"}, "image_urls"),
        ({"image_urls": [""]}, "image_urls"),
        ({"prompt": "  "}, "prompt"),
    ],
)
def test_params_outside_the_route_vocabulary_are_refused_on_every_target(
    params: dict[str, Any], field: str
) -> None:
    for target in TARGETS:
        with pytest.raises(RouteParamError) as caught:
            map_params(target, params)
        assert caught.value.field == field
        assert caught.value.target == target.label
        assert target.label in str(caught.value)


def test_a_default_field_the_model_does_not_document_is_refused_not_passed_through() -> None:
    gpt = Target("apimart", "gpt-image-2")  # documents no resolution
    assert map_params(gpt, {"aspect_ratio": "21:9"}) == {"size": "21:9"}
    with pytest.raises(UnexpressibleParamError) as caught:
        map_params(gpt, {"resolution": "1K"})
    assert caught.value.field == "resolution"
    with pytest.raises(UnexpressibleParamError) as caught:
        map_params(gpt, {"num_images": 2})
    assert caught.value.field == "num_images"


def test_an_overridden_single_image_field_takes_one_image() -> None:
    target = Target("apimall", "nano-banana", {"image_urls": "input_image"})
    mapped = map_params(target, {"image_urls": ["https://img.test/a.png"]})
    assert mapped == {"input_image": "https://img.test/a.png", "type": "image-to-image"}
    ADAPTERS["apimall"].validate("nano-banana", {"prompt": PROMPT, **mapped})
    with pytest.raises(UnexpressibleParamError) as caught:
        map_params(target, {"image_urls": ["a", "b"]})
    assert caught.value.field == "image_urls"


def test_a_target_of_an_unknown_model_is_refused_on_model() -> None:
    with pytest.raises(UnexpressibleParamError) as caught:
        map_params(Target("apimall", "no-such-model"), {})
    assert caught.value.field == "model"


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(RouteParamError) as caught:
        map_params(TARGETS[0], ["prompt"])  # type: ignore[arg-type]
    assert caught.value.field == "params"
