"""apimodels.app's documented models and request fields.

Source: ``provider-docs/apimodels-images-and-callbacks.txt``, which documents the
Google (Gemini / Nano Banana) family only; the page names model ids run together, read
here as the ids below (the ``nanobanana…/gemini-3.1-flash-image-preview`` entries are
taken literally, slash included). The docs state no value sets for ``aspect_ratio`` or
``resolution`` (examples: ``"16:9"``, ``"2k"``), so only their types are checked.
``callback_url`` is reserved: the adapter sets it to genhook's own callback route.
"""

from __future__ import annotations

from receiver.providers.validation import ModelSpec, ParamSpec, ProviderCatalog

NAME = "apimodels"

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("prompt", "string", "Text prompt or edit instruction.", required=True),
    ParamSpec("image_url", "string", "Reference image URL for image editing."),
    ParamSpec("aspect_ratio", "string", "Output aspect ratio, e.g. 16:9."),
    ParamSpec("resolution", "string", "Output resolution tier, e.g. 2k."),
)

MODEL_NAMES: tuple[str, ...] = (
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-lite",
    "gemini-3-pro-image",
    "nanobanana2/gemini-3.1-flash-image-preview",
    "nanobanana-2-lite/gemini-3.1-flash-image-preview",
    "nanobanana-2-beta/gemini-3.1-flash-image-preview",
    "gemini-3-pro-image-gemini",
    "gemini-3.1-flash-image-gemini",
)

CATALOG = ProviderCatalog(
    provider=NAME,
    models=tuple(
        ModelSpec(name, PARAMS, description="Google Gemini image") for name in MODEL_NAMES
    ),
    reserved=("callback_url",),
)
