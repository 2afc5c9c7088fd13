"""Root of the service's exceptions.

Each package keeps its own subclasses next to the code that raises them
(``receiver.providers.errors``, ``storage.errors``); this root lets callers catch
"anything genhook refused" in one place without swallowing programming errors.
"""

from __future__ import annotations


class GenhookError(Exception):
    """Base class of every error genhook raises on purpose."""


class ConfigurationError(GenhookError):
    """The settings cannot work together (e.g. a public bind without an API token)."""


class UnknownProviderError(GenhookError):
    """A provider name that no adapter answers to."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"unknown provider {provider!r}")
        self.provider = provider


class TaskNotFoundError(GenhookError):
    """No task has this id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r}")
        self.task_id = task_id
