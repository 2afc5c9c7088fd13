"""``receiver``'s public face: what ``__all__`` promises is there, and nothing else is."""

from __future__ import annotations

import importlib.metadata

import pytest

import receiver


def test_every_exported_name_resolves_to_its_home() -> None:
    assert sorted(receiver.__all__) == [
        "AsyncGenhook",
        "Genhook",
        "GenhookError",
        "Settings",
        "__version__",
        "create_app",
    ]
    from receiver.app import create_app
    from receiver.client import AsyncGenhook, Genhook
    from receiver.errors import GenhookError
    from receiver.settings import Settings

    assert receiver.create_app is create_app
    assert receiver.Settings is Settings
    assert receiver.GenhookError is GenhookError
    assert receiver.Genhook is Genhook and receiver.AsyncGenhook is AsyncGenhook
    assert receiver.__version__ == importlib.metadata.version("genhook")


def test_nothing_else_is_reachable_as_an_attribute() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Services'"):
        receiver.Services  # noqa: B018
