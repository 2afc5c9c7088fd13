"""What a route says about itself, declared with the handler.

Each handler carries one :class:`Operation` (``@operation(...)``): its summary, the
models of its query, body and answers, and the errors it may give. The OpenAPI
document (:mod:`receiver.web.openapi`) is generated from the route table and these,
and the handlers build their answers from the same models, so the document cannot
describe something the code does not do. Nothing is listed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

ATTRIBUTE = "__genhook_operation__"

JSON = "application/json"
HTML = "text/html"

Answer = type[BaseModel] | str | tuple[str, ...] | None
"""A success answer: its resource model, the media type(s) of a non-JSON body, or
None for no body."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    tag: str
    ok: Mapping[int, Answer] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_schema: Mapping[str, Any] | None = None  # a body with no model of ours
    body_media_type: str = JSON
    headers: tuple[Header, ...] = ()
    public: bool = False  # no admin credential needed
    description: str = ""


def operation(summary: str, tag: str, **details: Any) -> Callable[[T], T]:
    """Attach an :class:`Operation` to a handler (or to a mounted ASGI app)."""
    described = Operation(summary, tag, **details)

    def attach(target: T) -> T:
        setattr(target, ATTRIBUTE, described)
        return target

    return attach


def operation_of(target: object) -> Operation | None:
    found: Operation | None = getattr(target, ATTRIBUTE, None)
    return found
