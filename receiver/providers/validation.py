"""Declarative request rules: one catalog per provider drives validation and docs.

Each provider module (``*_models.py``) describes its documented models and
parameters as data (:class:`ParamSpec`, :class:`ModelSpec`, :class:`Rule`). The same
data validates a request before any network call (:meth:`ProviderCatalog.validate`)
and renders as JSON for the README (:meth:`ProviderCatalog.describe`), so the two
cannot drift apart.

Policy, the same for every provider:

* an unknown model is an error naming ``model``;
* a documented parameter must have its documented type, range, length or value set
  (no coercion: APIMart rejects ``"n": "1"``, so do we);
* a documented optional parameter given as ``null`` counts as absent and is dropped;
* anything undocumented passes through untouched: gateways add fields faster than
  their docs, and refusing them would block callers for no gain;
* reserved fields (set by the adapter itself, e.g. ``callback_url``) are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from receiver.providers.errors import ProviderValidationError

ParamKind = Literal["string", "integer", "boolean", "string[]"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One documented request field and the constraints its docs state."""

    name: str
    kind: ParamKind
    description: str = ""
    required: bool = False
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    max_items: int | None = None
    default: Any = None
    note: str | None = None  # appended when a value is refused, e.g. "no pixel sizes"

    def check(self, value: Any) -> None:
        """Raise :class:`ProviderValidationError` unless ``value`` meets this spec."""
        checker = _KIND_CHECKS[self.kind]
        checker(self, value)

    def refuse(self, message: str) -> ProviderValidationError:
        text = f"{self.name} {message}"
        if self.note:
            text = f"{text} ({self.note})"
        return ProviderValidationError(self.name, text)

    def describe(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "type": self.kind, "required": self.required}
        for key in ("choices", "minimum", "maximum", "max_length", "max_items", "default"):
            value = getattr(self, key)
            if value is not None:
                entry[key] = list(value) if isinstance(value, tuple) else value
        if self.description:
            entry["description"] = self.description
        if self.note:
            entry["note"] = self.note
        return entry


def _check_string(spec: ParamSpec, value: Any) -> None:
    if not isinstance(value, str):
        raise spec.refuse(f"must be a string, got {_type_name(value)}")
    if spec.required and not value.strip():
        raise spec.refuse("must not be empty")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise spec.refuse(f"must be at most {spec.max_length} characters, got {len(value)}")
    if spec.choices is not None and value not in spec.choices:
        raise spec.refuse(f"must be one of {', '.join(spec.choices)}; got {value!r}")


def _check_integer(spec: ParamSpec, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise spec.refuse(f"must be a plain integer, got {_type_name(value)} {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise spec.refuse(f"must be at least {spec.minimum}, got {value}")
    if spec.maximum is not None and value > spec.maximum:
        raise spec.refuse(f"must be at most {spec.maximum}, got {value}")


def _check_boolean(spec: ParamSpec, value: Any) -> None:
    if not isinstance(value, bool):
        raise spec.refuse(f"must be true or false, got {_type_name(value)} {value!r}")


def _check_string_list(spec: ParamSpec, value: Any) -> None:
    if not isinstance(value, list | tuple):
        raise spec.refuse(f"must be an array of strings, got {_type_name(value)}")
    if spec.max_items is not None and len(value) > spec.max_items:
        raise spec.refuse(f"must hold at most {spec.max_items} items, got {len(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise spec.refuse(f"item {index} must be a non-empty string")


_KIND_CHECKS: Mapping[ParamKind, Callable[[ParamSpec, Any], None]] = {
    "string": _check_string,
    "integer": _check_integer,
    "boolean": _check_boolean,
    "string[]": _check_string_list,
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


@dataclass(frozen=True, slots=True)
class Rule:
    """A documented constraint across fields; ``check`` raises on the params it refuses."""

    description: str
    check: Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model a provider documents, with its parameters and cross-field rules."""

    name: str
    params: tuple[ParamSpec, ...]
    rules: tuple[Rule, ...] = ()
    description: str = ""

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def describe(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name}
        if self.description:
            entry["description"] = self.description
        entry["params"] = [p.describe() for p in self.params]
        if self.rules:
            entry["rules"] = [r.description for r in self.rules]
        return entry


@dataclass(frozen=True, slots=True)
class ProviderCatalog:
    """Every model a provider documents; validates requests and describes itself."""

    provider: str
    models: tuple[ModelSpec, ...]
    reserved: tuple[str, ...] = ()

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def model(self, name: Any) -> ModelSpec:
        """The spec of ``name``; an unknown model is a validation error on ``model``."""
        for spec in self.models:
            if spec.name == name:
                return spec
        raise ProviderValidationError(
            "model",
            f"model {name!r} is not supported by {self.provider}; "
            f"supported: {', '.join(self.model_names)}",
        )

    def validate(self, model: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check a request; return the body to send: ``model`` first, then ``params``."""
        spec = self.model(model)
        if not isinstance(params, Mapping):
            raise ProviderValidationError("params", "params must be a JSON object")
        if "model" in params and params["model"] != model:
            raise ProviderValidationError("model", "model is given twice with different values")
        for name in self.reserved:
            if name in params:
                raise ProviderValidationError(name, f"{name} is set by genhook, not by the caller")
        body: dict[str, Any] = {"model": model}
        for name, value in params.items():
            param = spec.param(name)
            if param is not None and value is None and not param.required:
                continue
            body[name] = value
        for param in spec.params:
            if param.name in body:
                param.check(body[param.name])
            elif param.required:
                raise ProviderValidationError(param.name, f"{param.name} is required")
        for rule in spec.rules:
            rule.check(body)
        return body

    def describe(self) -> dict[str, Any]:
        """A JSON-able description of the catalog (models, parameters, rules)."""
        return {"provider": self.provider, "models": [m.describe() for m in self.models]}
