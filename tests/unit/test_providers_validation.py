"""Every documented request rule, checked before any network call.

Each refusal must name the offending field, both in ``exc.field`` and in the message
a person reads.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from receiver.providers.apimall_models import CATALOG as APIMALL
from receiver.providers.apimart_models import CATALOG as APIMART
from receiver.providers.apimodels_models import CATALOG as APIMODELS
from receiver.providers.errors import ProviderValidationError
from receiver.providers.validation import ProviderCatalog

GEMINI = "gemini-2.5-flash-image-preview"
OFFICIAL = "gemini-2.5-flash-image-preview-official"


def refused(
    catalog: ProviderCatalog, model: str, params: dict[str, Any]
) -> ProviderValidationError:
    with pytest.raises(ProviderValidationError) as info:
        catalog.validate(model, params)
    error = info.value
    assert error.field in str(error), f"message {error!s} does not name {error.field}"
    return error


def base(**params: Any) -> dict[str, Any]:
    return {"prompt": "a cat", **params}


# --- APIMart gemini-2.5-flash-image-preview -------------------------------------------


@pytest.mark.parametrize("model", [GEMINI, OFFICIAL])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_apimart_gemini_accepts_n_1_to_4(model: str, n: int) -> None:
    assert APIMART.validate(model, base(n=n))["n"] == n


@pytest.mark.parametrize("model", [GEMINI, OFFICIAL])
@pytest.mark.parametrize("n", [0, 5, -1, "1", 1.0, True])
def test_apimart_gemini_refuses_other_n(model: str, n: Any) -> None:
    assert refused(APIMART, model, base(n=n)).field == "n"


def test_apimart_gemini_prompt_at_most_1000_characters() -> None:
    assert APIMART.validate(GEMINI, {"prompt": "x" * 1000})["prompt"] == "x" * 1000
    error = refused(APIMART, GEMINI, {"prompt": "x" * 1001})
    assert error.field == "prompt"
    assert "1000" in str(error)


def test_apimart_gemini_at_most_14_image_urls() -> None:
    urls = [f"https://example.com/{i}.png" for i in range(14)]
    assert APIMART.validate(GEMINI, base(image_urls=urls))["image_urls"] == urls
    error = refused(APIMART, GEMINI, base(image_urls=[*urls, "https://example.com/x.png"]))
    assert error.field == "image_urls"
    assert "14" in str(error)


def test_apimart_mask_url_only_with_image_urls() -> None:
    body = APIMART.validate(GEMINI, base(mask_url="https://m.png", image_urls=["https://i.png"]))
    assert body["mask_url"] == "https://m.png"
    assert refused(APIMART, GEMINI, base(mask_url="https://m.png")).field == "mask_url"
    assert (
        refused(APIMART, GEMINI, base(mask_url="https://m.png", image_urls=[])).field == "mask_url"
    )
    assert refused(APIMART, GEMINI, base(mask_url=["a", "b"], image_urls=["x"])).field == "mask_url"


def test_apimart_official_fallback_not_with_the_official_model() -> None:
    assert APIMART.validate(GEMINI, base(official_fallback=True))["official_fallback"] is True
    for value in (True, False):
        error = refused(APIMART, OFFICIAL, base(official_fallback=value))
        assert error.field == "official_fallback"
    assert refused(APIMART, GEMINI, base(official_fallback="yes")).field == "official_fallback"


def test_apimart_gemini_size_and_resolution_sets() -> None:
    for size in ("auto", "1:1", "21:9", "9:16"):
        APIMART.validate(GEMINI, base(size=size))
    assert refused(APIMART, GEMINI, base(size="2:1")).field == "size"  # gpt-image-2 only
    assert refused(APIMART, GEMINI, base(size="1024x1024")).field == "size"
    APIMART.validate(GEMINI, base(resolution="1K"))
    assert refused(APIMART, GEMINI, base(resolution="2K")).field == "resolution"


# --- APIMart gpt-image-2 ---------------------------------------------------------------


def test_gpt_image_2_n_must_be_1() -> None:
    assert APIMART.validate("gpt-image-2", base(n=1))["n"] == 1
    for n in (0, 2, 4):
        assert refused(APIMART, "gpt-image-2", base(n=n)).field == "n"


@pytest.mark.parametrize(
    "size",
    ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "2:1", "1:2", "21:9", "9:21"],
)
def test_gpt_image_2_accepts_the_13_ratios(size: str) -> None:
    assert APIMART.validate("gpt-image-2", base(size=size))["size"] == size


@pytest.mark.parametrize("size", ["1024x1024", "1536x1024", "auto", "3:1"])
def test_gpt_image_2_refuses_pixel_sizes_and_other_ratios(size: str) -> None:
    error = refused(APIMART, "gpt-image-2", base(size=size))
    assert error.field == "size"
    assert "pixel sizes" in str(error)


def test_gpt_image_2_has_no_prompt_length_limit_and_passes_unknown_fields() -> None:
    body = APIMART.validate("gpt-image-2", {"prompt": "x" * 5000, "quality": "hd", "style": "v"})
    assert body == {"model": "gpt-image-2", "prompt": "x" * 5000, "quality": "hd", "style": "v"}


# --- API Mall --------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["nano-banana", "z-image", "zimage", "nano-banana-pro"])
def test_apimall_num_images_1_to_6(model: str) -> None:
    for n in (1, 6):
        assert APIMALL.validate(model, base(num_images=n))["num_images"] == n
    for bad in (0, 7, "2", 2.5):
        assert refused(APIMALL, model, base(num_images=bad)).field == "num_images"


def test_apimall_scale_1_to_4() -> None:
    for scale in (1, 4):
        APIMALL.validate("nano-banana", base(type="upscale", scale=scale))
    for bad in (0, 5, "2"):
        assert refused(APIMALL, "nano-banana", base(scale=bad)).field == "scale"


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("type", ["text-to-image", "image-to-image", "upscale"], ["inpaint", "Text-To-Image"]),
        ("resolution", ["1K", "2K", "4K"], ["8K", "1k"]),
        ("quality", ["low", "medium", "high"], ["ultra"]),
        ("background", ["auto", "transparent", "opaque"], ["white"]),
        ("output_format", ["jpeg", "jpg", "png"], ["webp", "PNG"]),
    ],
)
def test_apimall_enums(field: str, good: list[str], bad: list[str]) -> None:
    for value in good:
        assert APIMALL.validate("nano-banana", base(**{field: value}))[field] == value
    for value in bad:
        error = refused(APIMALL, "nano-banana", base(**{field: value}))
        assert error.field == field
        assert good[0] in str(error)  # the message lists what is allowed


def test_apimall_nano_banana_pro_has_no_upscale_type() -> None:
    APIMALL.validate("nano-banana-pro", base(type="image-to-image"))
    assert refused(APIMALL, "nano-banana-pro", base(type="upscale")).field == "type"


def test_apimall_types_of_other_documented_fields() -> None:
    assert refused(APIMALL, "nano-banana", base(seed="42")).field == "seed"
    assert refused(APIMALL, "nano-banana", base(google_search="true")).field == "google_search"
    assert refused(APIMALL, "nano-banana", base(face_enhance=1)).field == "face_enhance"
    assert refused(APIMALL, "nano-banana", base(image_urls="https://x.png")).field == "image_urls"
    assert refused(APIMALL, "nano-banana", base(input_image=["x"])).field == "input_image"


# --- apimodels -------------------------------------------------------------------------


def test_apimodels_documented_models_and_reserved_callback_url() -> None:
    for model in APIMODELS.model_names:
        APIMODELS.validate(model, base(aspect_ratio="16:9", resolution="2k"))
    assert "gemini-3-pro-image" in APIMODELS.model_names
    assert (
        refused(APIMODELS, "gemini-3-pro-image", base(callback_url="http://x")).field
        == "callback_url"
    )
    assert refused(APIMODELS, "gemini-3-pro-image", base(image_url=3)).field == "image_url"


# --- common ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("catalog", "model"),
    [(APIMART, "gpt-image-1"), (APIMALL, "gpt-image-1.5"), (APIMODELS, "dall-e-3"), (APIMART, "")],
)
def test_unknown_model_names_model(catalog: ProviderCatalog, model: str) -> None:
    error = refused(catalog, model, base())
    assert error.field == "model"
    assert catalog.model_names[0] in str(error)  # and says what is supported


@pytest.mark.parametrize("catalog", [APIMART, APIMALL, APIMODELS])
@pytest.mark.parametrize("prompt", [None, "", "   ", 42])
def test_prompt_is_required_and_a_string(catalog: ProviderCatalog, prompt: Any) -> None:
    params = {} if prompt is None else {"prompt": prompt}
    assert refused(catalog, catalog.model_names[0], params).field == "prompt"


def test_unknown_fields_pass_through_untouched() -> None:
    extra = {"nested": {"a": [1, 2]}, "weird": None}
    body = APIMALL.validate("nano-banana", base(**extra))
    assert body["nested"] is extra["nested"]
    assert "weird" in body and body["weird"] is None


def test_null_documented_optional_fields_count_as_absent() -> None:
    body = APIMART.validate(GEMINI, base(n=None, mask_url=None, official_fallback=None))
    assert body == {"model": GEMINI, "prompt": "a cat"}
    assert APIMART.validate(OFFICIAL, base(official_fallback=None)) == {
        "model": OFFICIAL,
        "prompt": "a cat",
    }


def test_body_starts_with_model_and_refuses_a_conflicting_one() -> None:
    body = APIMART.validate(GEMINI, base(n=2))
    assert list(body) == ["model", "prompt", "n"]
    assert APIMART.validate(GEMINI, base(model=GEMINI))["model"] == GEMINI
    assert refused(APIMART, GEMINI, base(model="gpt-image-2")).field == "model"


def test_validate_is_pure() -> None:
    params = base(n=2, image_urls=["https://a.png"])
    snapshot = orjson.dumps(params)
    APIMART.validate(GEMINI, params)
    assert orjson.dumps(params) == snapshot


def test_catalogs_describe_themselves_as_json() -> None:
    described = orjson.loads(orjson.dumps(APIMART.describe()))
    assert described["provider"] == "apimart"
    assert [m["name"] for m in described["models"]] == [GEMINI, OFFICIAL, "gpt-image-2"]
    gemini = described["models"][0]
    n = next(p for p in gemini["params"] if p["name"] == "n")
    assert (n["type"], n["minimum"], n["maximum"], n["default"]) == ("integer", 1, 4, 1)
    assert "mask_url requires image_urls" in gemini["rules"]
    size = next(p for p in described["models"][2]["params"] if p["name"] == "size")
    assert "1024x1024" in size["note"]
    assert len(size["choices"]) == 13
