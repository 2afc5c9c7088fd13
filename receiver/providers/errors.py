"""Errors raised by provider adapters and callback parsers."""

from __future__ import annotations

from receiver.errors import GenhookError


class ProviderError(GenhookError):
    """Root of everything a provider adapter raises on purpose."""


class MalformedCallbackError(ProviderError):
    """A callback body we cannot read at all: it goes to quarantine, not to a task."""
