"""genhook: callback receiver, poller and webhook relay for image-generation gateways.

The public face: what an application or a deployment imports from ``receiver``
directly. Everything else is reached through its module. Names are resolved on
first use (PEP 562), so ``import receiver`` costs nothing and a command line that
needs only the settings never loads the web stack; ``__version__`` too (reading
the package metadata costs more than the client's own imports).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AsyncGenhook",
    "Genhook",
    "GenhookError",
    "Settings",
    "__version__",
    "create_app",
]

_WHERE = {
    "create_app": "receiver.app",
    "Settings": "receiver.settings",
    "GenhookError": "receiver.errors",
    "Genhook": "receiver.client",
    "AsyncGenhook": "receiver.client",
}

if TYPE_CHECKING:
    from receiver.app import create_app
    from receiver.client import AsyncGenhook, Genhook
    from receiver.errors import GenhookError
    from receiver.settings import Settings

    __version__: str


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("genhook")
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'receiver' has no attribute {name!r}")
