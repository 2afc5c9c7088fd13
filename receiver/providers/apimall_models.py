"""API Mall's documented models and request fields.

Sources: ``provider-docs/apimall-generate-images.txt`` (the unified endpoint: models
``nano-banana`` (default), ``z-image``, ``zimage``) and
``provider-docs/apimall-nano-banana-pro.txt`` (``nano-banana-pro``, a subset of the
fields and no ``upscale`` type). The unified page documents its fields for the whole
endpoint, so every value range it states applies to each of its models; fields a
model's page does not list pass through untouched like any undocumented field.
"""

from __future__ import annotations

from receiver.providers.validation import ModelSpec, ParamSpec, ProviderCatalog

NAME = "apimall"

TYPES = ("text-to-image", "image-to-image", "upscale")
RESOLUTIONS = ("1K", "2K", "4K")
OUTPUT_FORMATS = ("jpeg", "jpg", "png")

_PROMPT = ParamSpec("prompt", "string", "Prompt or edit instruction.", required=True)
_IMAGE_URLS = ParamSpec("image_urls", "string[]", "Reference image URLs.")
_NUM_IMAGES = ParamSpec(
    "num_images", "integer", "Number of output images.", minimum=1, maximum=6, default=1
)
_ASPECT_RATIO = ParamSpec("aspect_ratio", "string", "Target aspect ratio.")
_RESOLUTION = ParamSpec("resolution", "string", "Output resolution tier.", choices=RESOLUTIONS)
_OUTPUT_FORMAT = ParamSpec(
    "output_format", "string", "Output image format.", choices=OUTPUT_FORMATS
)

UNIFIED_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("type", "string", "Task mode.", choices=TYPES, default="text-to-image"),
    _PROMPT,
    ParamSpec("input_image", "string", "Single reference image URL."),
    _IMAGE_URLS,
    _NUM_IMAGES,
    ParamSpec("image_size", "string", "Output size or provider-specific size preset."),
    ParamSpec("image_resolution", "string", "Resolution tier combined with image_size."),
    _ASPECT_RATIO,
    _RESOLUTION,
    ParamSpec("seed", "integer", "Random seed for deterministic providers."),
    ParamSpec("quality", "string", "GPT Image 1.5 quality.", choices=("low", "medium", "high")),
    ParamSpec(
        "background",
        "string",
        "GPT Image 1.5 background mode.",
        choices=("auto", "transparent", "opaque"),
    ),
    _OUTPUT_FORMAT,
    ParamSpec("google_search", "boolean", "Google Search grounding."),
    ParamSpec("task_id", "string", "Source task id for task-based tools (upscaling)."),
    ParamSpec("source_task_id", "string", "Alias for source task references."),
    ParamSpec("origin_task_id", "string", "Original task id for provider workflows."),
    ParamSpec("scale", "integer", "Upscale factor.", minimum=1, maximum=4),
    ParamSpec("face_enhance", "boolean", "Face enhancement during upscaling."),
)

PRO_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "type",
        "string",
        "Task mode.",
        choices=("text-to-image", "image-to-image"),
        default="text-to-image",
    ),
    _PROMPT,
    _IMAGE_URLS,
    _NUM_IMAGES,
    _ASPECT_RATIO,
    _RESOLUTION,
    _OUTPUT_FORMAT,
)

CATALOG = ProviderCatalog(
    provider=NAME,
    models=(
        ModelSpec("nano-banana", UNIFIED_PARAMS, description="Nano Banana (default model)"),
        ModelSpec("z-image", UNIFIED_PARAMS, description="Z-Image"),
        ModelSpec("zimage", UNIFIED_PARAMS, description="Z-Image (alias)"),
        ModelSpec("nano-banana-pro", PRO_PARAMS, description="Nano Banana Pro"),
    ),
)
