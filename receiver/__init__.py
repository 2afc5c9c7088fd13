"""genhook: callback receiver, poller and webhook relay for image-generation gateways.

The public face: what an application or a deployment imports from ``receiver``
directly. Everything else is reached through its module. Names are resolved on
first use (PEP 562), so ``import receiver`` costs nothing and a command line that
needs only the settings never loads the web stack.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

__version__ = version("genhook")

__all__ = [
    "GenhookError",
    "Settings",
    "__version__",
    "create_app",
]

_WHERE = {
    "create_app": "receiver.app",
    "Settings": "receiver.settings",
    "GenhookError": "receiver.errors",
}

if TYPE_CHECKING:
    from receiver.app import create_app
    from receiver.errors import GenhookError
    from receiver.settings import Settings


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'receiver' has no attribute {name!r}")
