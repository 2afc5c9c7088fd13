"""Routes: a name for "this model, on whichever gateway takes it".

The three gateways sell overlapping models under different names. A route lists
them in the order to try: a job goes to the first target, and on a failure another
gateway could fix, to the next. Built-in routes cover the models all gateways share;
more come from a TOML file in the data directory and from a TOML string in the
settings, later definitions of a name replacing earlier ones, so an operator can
reorder or narrow a built-in route without a release.

Every definition is checked when loaded, against the known providers and their
catalogs, and refused with one :class:`~receiver.errors.RouteDefinitionError` naming
the source, the route and the target: a route found broken at submit time would fail
jobs a correct definition would have served. Reading the file is the only I/O here.

TOML shape::

    [routes.fast-banana]
    description = "Nano Banana, apimodels.app first"
    targets = [
      { provider = "apimodels", model = "gemini-2.5-flash-image" },
      { provider = "apimall", model = "nano-banana", fields = { image_urls = "input_image" } },
    ]

``fields`` maps route fields onto provider fields, over the provider's defaults
(:data:`receiver.routes.mapping.DEFAULT_FIELDS`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from receiver.errors import RouteDefinitionError
from receiver.providers import apimall_models, apimart_models, apimodels_models
from receiver.providers.validation import ModelSpec, ProviderCatalog
from receiver.routes.mapping import CATALOGS, FIELD_KINDS, ROUTE_FIELDS, default_fields

__all__ = [
    "BUILTIN_ROUTES",
    "EXTRA_SOURCE",
    "Route",
    "Target",
    "load_routes",
]

#: How the TOML string from the settings is named in error messages.
EXTRA_SOURCE = "the routes setting"

#: Route names end up in URLs, CLI arguments and event payloads: keep them plain.
ROUTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

Refuse = Callable[[str], RouteDefinitionError]

ROUTE_KEYS = frozenset({"description", "targets"})
TARGET_KEYS = frozenset({"provider", "model", "fields"})


@dataclass(frozen=True, slots=True)
class Target:
    """One gateway's model within a route, and how route fields are spelled there.

    ``fields`` given to the constructor are laid over the provider's defaults, and the
    attribute holds the result (read-only), so ``Target(t.provider, t.model, t.fields)``
    equals ``t`` and :meth:`describe` shows exactly what will be sent.
    """

    provider: str
    model: str
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        merged = {**default_fields(self.provider), **self.fields}
        object.__setattr__(self, "fields", MappingProxyType(merged))

    def __hash__(self) -> int:
        return hash((self.provider, self.model, tuple(sorted(self.fields.items()))))

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    def describe(self) -> dict[str, Any]:
        """JSON-able form for the API and the README."""
        return {"provider": self.provider, "model": self.model, "fields": dict(self.fields)}


@dataclass(frozen=True, slots=True)
class Route:
    """A name and the targets to try, in order."""

    name: str
    targets: tuple[Target, ...]
    description: str = ""

    def describe(self) -> dict[str, Any]:
        """JSON-able form for the API and the README."""
        return {
            "name": self.name,
            "description": self.description,
            "targets": [target.describe() for target in self.targets],
        }


BUILTIN_ROUTES: Mapping[str, Route] = MappingProxyType(
    {
        "nano-banana": Route(
            "nano-banana",
            (
                Target(apimall_models.NAME, "nano-banana"),
                Target(apimodels_models.NAME, "gemini-2.5-flash-image"),
                Target(apimart_models.NAME, apimart_models.GEMINI),
            ),
            "Nano Banana (Gemini 2.5 Flash Image): API Mall, then apimodels.app, then APIMart",
        ),
        "nano-banana-pro": Route(
            "nano-banana-pro",
            (
                Target(apimall_models.NAME, "nano-banana-pro"),
                Target(apimodels_models.NAME, "gemini-3-pro-image"),
            ),
            "Nano Banana Pro (Gemini 3 Pro Image): API Mall, then apimodels.app",
        ),
    }
)


def load_routes(
    file: Path | None,
    extra: str | None,
    *,
    providers: Collection[str],
    catalogs: Mapping[str, ProviderCatalog] = CATALOGS,
    extra_source: str = EXTRA_SOURCE,
) -> dict[str, Route]:
    """Built-in routes, then those of ``file`` (absent is fine), then those of ``extra``.

    ``providers`` is the set of gateway names that have an adapter; ``catalogs`` gives
    each one's models and fields (a provider without a catalog is taken on trust for
    model and field names). Raises :class:`RouteDefinitionError` on the first problem.
    """
    routes = dict(BUILTIN_ROUTES)
    sources: list[tuple[str, str]] = []
    if file is not None:
        text = _read(file)
        if text is not None:
            sources.append((str(file), text))
    if extra is not None and extra.strip():
        sources.append((extra_source, extra))
    for source, text in sources:
        routes.update(parse_routes(text, source=source, providers=providers, catalogs=catalogs))
    return routes


def parse_routes(
    text: str,
    *,
    source: str,
    providers: Collection[str],
    catalogs: Mapping[str, ProviderCatalog] = CATALOGS,
) -> dict[str, Route]:
    """The routes one TOML document defines, checked; ``source`` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RouteDefinitionError(f"not valid TOML: {error}", source=source) from None
    unknown = sorted(set(document) - {"routes"})
    if unknown:
        raise RouteDefinitionError(
            f"unknown top-level key(s) {', '.join(unknown)}; routes go under [routes.<name>]",
            source=source,
        )
    table = document.get("routes", {})
    if not isinstance(table, dict):
        raise RouteDefinitionError("routes must be a table of [routes.<name>]", source=source)
    parser = _Parser(source, providers, catalogs)
    return {name: parser.route(name, entry) for name, entry in table.items()}


def _read(file: Path) -> str | None:
    try:
        return file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise RouteDefinitionError("not UTF-8 text", source=str(file)) from None
    except OSError as error:
        raise RouteDefinitionError(f"cannot be read: {error.strerror}", source=str(file)) from None


@dataclass(frozen=True, slots=True)
class _Parser:
    """Checks one document's entries; holds what every error message needs."""

    source: str
    providers: Collection[str]
    catalogs: Mapping[str, ProviderCatalog]

    def route(self, name: str, entry: Any) -> Route:
        def refuse(message: str) -> RouteDefinitionError:
            return RouteDefinitionError(message, source=self.source, route=name)

        if not ROUTE_NAME.fullmatch(name):
            raise refuse(
                "a route name is 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        if name in self.providers:
            raise refuse("a route cannot be named like a provider (a job names one or the other)")
        if not isinstance(entry, dict):
            raise refuse("must be a table with targets (and an optional description)")
        unknown = sorted(set(entry) - ROUTE_KEYS)
        if unknown:
            raise refuse(f"unknown key(s) {', '.join(unknown)}; allowed: description, targets")
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise refuse(f"description must be a string, got {_type_name(description)}")
        raw_targets = entry.get("targets")
        if not isinstance(raw_targets, list):
            raise refuse("targets must be an array of {provider, model} tables")
        if not raw_targets:
            raise refuse("targets must not be empty")
        targets = tuple(self.target(name, index, raw) for index, raw in enumerate(raw_targets))
        for index, target in enumerate(targets):
            # One target per provider: a report is matched to its attempt by who sent it
            # (a late one from a provider the task has left), and API Mall's
            # Idempotency-Key is the task id.
            if any(earlier.provider == target.provider for earlier in targets[:index]):
                raise RouteDefinitionError(
                    f"{target.provider} is listed twice (a route tries each gateway once)",
                    source=self.source,
                    route=name,
                    target=index,
                )
        return Route(name, targets, description)

    def target(self, route: str, index: int, entry: Any) -> Target:
        def refuse(message: str) -> RouteDefinitionError:
            return RouteDefinitionError(message, source=self.source, route=route, target=index)

        if not isinstance(entry, dict):
            raise refuse(f"must be a table {{provider, model}}, got {_type_name(entry)}")
        unknown = sorted(set(entry) - TARGET_KEYS)
        if unknown:
            raise refuse(f"unknown key(s) {', '.join(unknown)}; allowed: provider, model, fields")
        provider = entry.get("provider")
        if not isinstance(provider, str):
            raise refuse(f"provider must be a string, got {_type_name(provider)}")
        if provider not in self.providers:
            raise refuse(
                f"unknown provider {provider!r}; known: {', '.join(sorted(self.providers))}"
            )
        model = entry.get("model")
        if not isinstance(model, str) or not model.strip():
            raise refuse(f"model must be a non-empty string, got {_type_name(model)}")
        catalog = self.catalogs.get(provider)
        if catalog is not None and model not in catalog.model_names:
            raise refuse(
                f"{provider} has no model {model!r}; known: {', '.join(catalog.model_names)}"
            )
        fields = entry.get("fields", {})
        if not isinstance(fields, dict):
            raise refuse(
                f"fields must be a table of route field = provider field, got {_type_name(fields)}"
            )
        self.check_overrides(fields, refuse)
        target = Target(provider, model, fields)
        if catalog is not None:
            self.check_against_catalog(target, fields, catalog.model(model), refuse)
        return target

    @staticmethod
    def check_overrides(fields: Mapping[str, Any], refuse: Refuse) -> None:
        for route_field, provider_field in fields.items():
            if route_field not in ROUTE_FIELDS:
                raise refuse(
                    f"fields: {route_field!r} is not a route field; "
                    f"route fields: {', '.join(ROUTE_FIELDS)}"
                )
            if not isinstance(provider_field, str) or not provider_field.strip():
                raise refuse(
                    f"fields.{route_field} must be a provider field name, "
                    f"got {_type_name(provider_field)}"
                )

    @staticmethod
    def check_against_catalog(
        target: Target, overrides: Mapping[str, str], spec: ModelSpec, refuse: Refuse
    ) -> None:
        """An override must name a documented field of a kind that can carry the route
        field; two route fields must not land in one provider field. (A default the
        model does not document is refused per job by ``map_params``, not here: the
        route is still good for jobs that do not use that field.)"""
        seen: dict[str, str] = {}
        for route_field, provider_field in target.fields.items():
            if provider_field in seen:
                raise refuse(
                    f"fields: {seen[provider_field]} and {route_field} both map to {provider_field}"
                )
            seen[provider_field] = route_field
        for route_field, provider_field in overrides.items():
            param = spec.param(provider_field)
            if param is None:
                raise refuse(
                    f"fields.{route_field}: {target.label} documents no field "
                    f"{provider_field!r}; documented: {', '.join(p.name for p in spec.params)}"
                )
            if param.kind not in FIELD_KINDS[route_field]:
                raise refuse(
                    f"fields.{route_field}: {provider_field} is of type {param.kind}, which "
                    f"cannot carry {route_field}"
                )


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)  # fmt: skip
