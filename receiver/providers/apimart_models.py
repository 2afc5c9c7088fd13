"""APIMart's documented models and request fields.

Sources: ``provider-docs/apimart-gemini-2.5-flash-image.txt`` (the preview model and
its ``-official`` channel) and ``provider-docs/apimart-gpt-image-2.txt``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receiver.providers.errors import ProviderValidationError
from receiver.providers.validation import ModelSpec, ParamSpec, ProviderCatalog, Rule

NAME = "apimart"

GEMINI = "gemini-2.5-flash-image-preview"
GEMINI_OFFICIAL = "gemini-2.5-flash-image-preview-official"
GPT_IMAGE_2 = "gpt-image-2"

GEMINI_SIZES = ("auto", "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
GPT_IMAGE_2_SIZES = (
    "1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "2:1", "1:2", "21:9", "9:21",
)  # fmt: skip


def _mask_needs_images(body: Mapping[str, Any]) -> None:
    if body.get("mask_url") is not None and not body.get("image_urls"):
        raise ProviderValidationError(
            "mask_url", "mask_url must be used together with a non-empty image_urls"
        )


def _no_official_fallback(body: Mapping[str, Any]) -> None:
    if "official_fallback" in body:
        raise ProviderValidationError(
            "official_fallback",
            f"official_fallback cannot be used with {GEMINI_OFFICIAL} (already the official "
            "channel)",
        )


MASK_RULE = Rule("mask_url requires image_urls", _mask_needs_images)
OFFICIAL_RULE = Rule(
    "official_fallback is not accepted by the -official model", _no_official_fallback
)

GEMINI_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("prompt", "string", "Text description.", required=True, max_length=1000),
    ParamSpec("size", "string", "Aspect ratio.", choices=GEMINI_SIZES),
    ParamSpec("resolution", "string", "Output resolution.", choices=("1K",), default="1K"),
    ParamSpec("n", "integer", "Number of images.", minimum=1, maximum=4, default=1),
    ParamSpec("official_fallback", "boolean", "Fall back to the official channel.", default=False),
    ParamSpec("image_urls", "string[]", "Reference image URLs or base64 data.", max_items=14),
    ParamSpec("mask_url", "string", "Mask image URL for inpainting (one image)."),
)

GPT_IMAGE_2_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("prompt", "string", "Text description.", required=True),
    ParamSpec("n", "integer", "Number of images.", minimum=1, maximum=1, default=1),
    ParamSpec(
        "size",
        "string",
        "Aspect ratio.",
        choices=GPT_IMAGE_2_SIZES,
        default="1:1",
        note="only ratio notation is supported; pixel sizes such as 1024x1024 are refused",
    ),
    ParamSpec("image_urls", "string[]", "Reference images (URL or base64 data URL)."),
)

CATALOG = ProviderCatalog(
    provider=NAME,
    models=(
        ModelSpec(GEMINI, GEMINI_PARAMS, (MASK_RULE,), "Gemini 2.5 Flash Image, standard"),
        ModelSpec(
            GEMINI_OFFICIAL,
            GEMINI_PARAMS,
            (MASK_RULE, OFFICIAL_RULE),
            "Gemini 2.5 Flash Image, official channel",
        ),
        ModelSpec(GPT_IMAGE_2, GPT_IMAGE_2_PARAMS, description="GPT Image 2"),
    ),
)
