"""Lenient decoding of JSON-in-JSON fields (apimodels' ``param`` and ``resultJson``).

Providers document these as JSON strings to ``JSON.parse`` once, but in the wild they
also arrive as objects, ``null``, ``""`` or text that is not JSON at all. We accept
all of them and keep the raw text when it cannot be decoded, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from receiver.fitting import describe


@dataclass(frozen=True, slots=True)
class DecodedField:
    """A JSON-string field after the second parse.

    ``value`` is the decoded object (or ``None`` when absent/empty); ``raw`` keeps
    the original text when it was not valid JSON, and ``error`` says why.
    """

    value: Any = None
    raw: str | None = None
    error: str | None = None


def decode_json_field(name: str, value: Any) -> DecodedField:
    """Second-parse one field: string → JSON, object passes, null/"" → empty."""
    if value is None:
        return DecodedField()
    if isinstance(value, dict | list):
        return DecodedField(value=value)
    if isinstance(value, str):
        if not value.strip():
            return DecodedField()
        try:
            return DecodedField(value=orjson.loads(value))
        except orjson.JSONDecodeError as exc:
            return DecodedField(raw=value, error=f"{name}: not valid JSON ({exc})")
    return DecodedField(raw=describe(value), error=f"{name}: expected a JSON string or object")
