"""The route vocabulary, and how each gateway spells it.

A job sent to a route may be tried on several gateways, so its parameters are written
once, in a vocabulary of their own, and translated per target just before the
adapter sees them. The translation refuses whatever a target cannot express (an
unknown field, a value with no equivalent, several images where one is allowed)
instead of dropping it: a job that quietly lost its reference image, or came back
with one image instead of four, would look like a success and be wrong.

Route vocabulary (no further field is shared: across the three gateways' docs only
``prompt`` and ``resolution`` are spelled alike, and both are already here):

* ``prompt``: non-empty text;
* ``aspect_ratio``: one of :data:`ASPECT_RATIOS`, the ratios the Gemini image models
  take; leave it out to let the gateway choose (APIMart's ``auto``);
* ``num_images``: an integer from 1;
* ``resolution``: one of :data:`RESOLUTIONS` (API Mall's spelling);
* ``image_urls``: a list of reference image URLs (or data URLs where the gateway
  takes them); an empty list means no reference images.

A parameter given as ``null`` counts as absent, as in the provider catalogs.

Values are checked against the target's own catalog entry (ranges, value sets, list
lengths) here, so a refusal names the *route* field and the target rather than a
provider field the caller never wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from receiver.providers import apimall_models, apimart_models, apimodels_models
from receiver.providers.errors import ProviderValidationError
from receiver.providers.validation import ModelSpec, ParamKind, ParamSpec, ProviderCatalog

__all__ = [
    "ASPECT_RATIOS",
    "CATALOGS",
    "DEFAULT_FIELDS",
    "FIELD_KINDS",
    "RESOLUTIONS",
    "ROUTE_FIELDS",
    "RouteParamError",
    "UnexpressibleParamError",
    "check_route_params",
    "default_fields",
    "map_params",
]

ROUTE_FIELDS: tuple[str, ...] = ("prompt", "aspect_ratio", "num_images", "resolution", "image_urls")

#: The ratios Gemini 2.5 Flash Image and Gemini 3 Pro Image generate; APIMart's ``size``
#: lists exactly these (plus ``auto``), the other two gateways state no set.
ASPECT_RATIOS: tuple[str, ...] = (
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
)  # fmt: skip

RESOLUTIONS: tuple[str, ...] = ("1K", "2K", "4K")

#: The provider field kinds a route field can be carried in: a list of images fits a
#: single-image field only when it holds one image.
FIELD_KINDS: Mapping[str, frozenset[ParamKind]] = MappingProxyType(
    {
        "prompt": frozenset({"string"}),
        "aspect_ratio": frozenset({"string"}),
        "num_images": frozenset({"integer"}),
        "resolution": frozenset({"string"}),
        "image_urls": frozenset({"string[]", "string"}),
    }
)

#: Each gateway's catalog, read for field kinds and value rules. The same three as
#: ``receiver.providers.registry.CATALOGS`` (a test holds them equal), imported from
#: the pure catalog modules so routes need no adapter, HTTP client or settings.
CATALOGS: Mapping[str, ProviderCatalog] = MappingProxyType(
    {
        catalog.provider: catalog
        for catalog in (apimall_models.CATALOG, apimart_models.CATALOG, apimodels_models.CATALOG)
    }
)

#: Route field -> provider field, per gateway. A route field a gateway has no field for
#: is left out: only its neutral value (see :data:`NEUTRAL`) can be sent there.
DEFAULT_FIELDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        apimall_models.NAME: MappingProxyType(
            {
                "prompt": "prompt",
                "aspect_ratio": "aspect_ratio",
                "num_images": "num_images",
                "resolution": "resolution",
                "image_urls": "image_urls",
            }
        ),
        apimart_models.NAME: MappingProxyType(
            {
                "prompt": "prompt",
                "aspect_ratio": "size",
                "num_images": "n",
                "resolution": "resolution",
                "image_urls": "image_urls",
            }
        ),
        # apimodels.app has no image-count field: its Gemini models make one image.
        apimodels_models.NAME: MappingProxyType(
            {
                "prompt": "prompt",
                "aspect_ratio": "aspect_ratio",
                "resolution": "resolution",
                "image_urls": "image_url",
            }
        ),
    }
)

#: Route values that every gateway produces when the field is not sent at all, so a
#: target without the field still expresses them exactly.
NEUTRAL: Mapping[str, Callable[[Any], bool]] = MappingProxyType(
    {
        "num_images": lambda value: value == 1,
        "image_urls": lambda value: len(value) == 0,
    }
)

#: (provider, provider field) -> how a route value is spelled there. apimodels.app's
#: docs write the tier in lower case (``"2k"``).
VALUE_CONVERSIONS: Mapping[tuple[str, str], Callable[[Any], Any]] = MappingProxyType(
    {(apimodels_models.NAME, "resolution"): str.lower}
)

#: provider -> (field, value) to add when reference images are sent: API Mall's
#: ``type`` defaults to text-to-image, which would leave the images unused.
IMAGE_MODE: Mapping[str, tuple[str, str]] = MappingProxyType(
    {apimall_models.NAME: ("type", "image-to-image")}
)


class MappableTarget(Protocol):
    """What :func:`map_params` reads of a target (``receiver.routes.catalog.Target``)."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def fields(self) -> Mapping[str, str]: ...


class RouteParamError(ProviderValidationError):
    """A route parameter outside the route vocabulary (unknown field, wrong type, a value
    not in the vocabulary's set). A validation refusal like the providers' own, so the
    submit path treats it the same way; ``field`` is the route field, ``target`` the
    ``provider/model`` it was being mapped for, if any."""

    def __init__(self, field: str, message: str, *, target: str | None = None) -> None:
        super().__init__(field, f"{target}: {message}" if target else message)
        self.target = target


class UnexpressibleParamError(RouteParamError):
    """A valid route parameter this target cannot express: another target of the route
    may, but sending this one something else would be a different job."""

    def __init__(self, field: str, message: str, *, target: str) -> None:
        super().__init__(field, message, target=target)


def default_fields(provider: str) -> Mapping[str, str]:
    """The route-field mapping of ``provider``; empty for a gateway this module does not
    know (then only fields a route file maps explicitly can be sent there)."""
    return DEFAULT_FIELDS.get(provider, MappingProxyType({}))


def check_route_params(params: Mapping[str, Any], *, target: str | None = None) -> None:
    """Refuse params outside the route vocabulary, before any target is chosen."""
    if not isinstance(params, Mapping):
        raise RouteParamError("params", "params must be a JSON object", target=target)
    for name, value in params.items():
        if value is not None:
            _check_route_value(name, value, target)


def map_params(
    target: MappableTarget,
    params: Mapping[str, Any],
    *,
    catalogs: Mapping[str, ProviderCatalog] = CATALOGS,
) -> dict[str, Any]:
    """Route params -> the params ``target``'s adapter validates and sends (no ``model``).

    Raises :class:`RouteParamError` for params outside the vocabulary and
    :class:`UnexpressibleParamError` for what ``target`` cannot express; both name the
    route field and the target.
    """
    label = f"{target.provider}/{target.model}"
    check_route_params(params, target=label)
    spec = _model_spec(target, catalogs)
    mapped: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        provider_field = target.fields.get(name)
        if provider_field is None:
            if NEUTRAL.get(name, _never)(value):
                continue
            raise UnexpressibleParamError(
                name, f"{name}={value!r} cannot be expressed: {_missing_reason(name)}", target=label
            )
        if name == "image_urls" and not value:
            continue  # no reference images: the same as not sending the field
        param = spec.param(provider_field) if spec is not None else None
        if spec is not None and param is None:
            raise UnexpressibleParamError(
                name,
                f"{name} cannot be expressed: {label} documents no field {provider_field!r}",
                target=label,
            )
        converted = _convert(name, value, target.provider, provider_field, param, label)
        if param is not None:
            try:
                param.check(converted)
            except ProviderValidationError as refusal:
                raise UnexpressibleParamError(
                    name,
                    f"{name}={value!r} cannot be expressed as {provider_field}: {refusal.message}",
                    target=label,
                ) from None
        mapped[provider_field] = converted
    if params.get("image_urls") and target.provider in IMAGE_MODE:
        mode_field, mode = IMAGE_MODE[target.provider]
        mode_spec = spec.param(mode_field) if spec is not None else None
        if mode_spec is None or mode_spec.choices is None or mode in mode_spec.choices:
            mapped.setdefault(mode_field, mode)
    return mapped


def _model_spec(
    target: MappableTarget, catalogs: Mapping[str, ProviderCatalog]
) -> ModelSpec | None:
    catalog = catalogs.get(target.provider)
    if catalog is None:
        return None
    try:
        return catalog.model(target.model)
    except ProviderValidationError as refusal:
        raise UnexpressibleParamError(
            "model", refusal.message, target=f"{target.provider}/{target.model}"
        ) from None


def _never(_: Any) -> bool:
    return False


def _missing_reason(name: str) -> str:
    if name == "num_images":
        return "this target has no image-count field and makes one image per task"
    return f"this target has no field for {name}"


def _convert(
    name: str,
    value: Any,
    provider: str,
    provider_field: str,
    param: ParamSpec | None,
    label: str,
) -> Any:
    if name == "image_urls":
        urls = list(value)
        if param is not None and param.kind == "string":
            if len(urls) > 1:
                raise UnexpressibleParamError(
                    name,
                    f"image_urls cannot be expressed: {provider_field} takes a single "
                    f"reference image; {len(urls)} given",
                    target=label,
                )
            value = urls[0]
        else:
            value = urls
    conversion = VALUE_CONVERSIONS.get((provider, provider_field))
    return conversion(value) if conversion is not None else value


def _check_route_value(name: str, value: Any, target: str | None) -> None:
    def refuse(message: str) -> RouteParamError:
        return RouteParamError(name, f"route field {name} {message}", target=target)

    if name == "prompt":
        if not isinstance(value, str) or not value.strip():
            raise refuse("must be a non-empty string")
    elif name == "aspect_ratio":
        _check_choice(value, ASPECT_RATIOS, refuse, hint="leave it out to let the gateway choose")
    elif name == "resolution":
        _check_choice(value, RESOLUTIONS, refuse)
    elif name == "num_images":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise refuse(f"must be an integer of at least 1, got {value!r}")
    elif name == "image_urls":
        if not isinstance(value, list | tuple):
            raise refuse("must be a list of image URLs")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise refuse(f"item {index} must be a non-empty string")
    else:
        raise RouteParamError(
            name,
            f"{name!r} is not a route field; route fields: {', '.join(ROUTE_FIELDS)}",
            target=target,
        )


def _check_choice(
    value: Any,
    choices: Collection[str],
    refuse: Callable[[str], RouteParamError],
    *,
    hint: str = "",
) -> None:
    if not isinstance(value, str) or value not in choices:
        suffix = f" ({hint})" if hint else ""
        raise refuse(f"must be one of {', '.join(choices)}; got {value!r}{suffix}")
