"""Exceptions of the simulator.

Handlers raise :class:`ApiError` for every documented error answer; the request guard
(:mod:`receiver.simulator.guard`) turns it into the gateway's own error body, so each
handler states *what* went wrong once and never formats an error envelope itself.
"""

from __future__ import annotations

from receiver.errors import GenhookError


class SimulatorError(GenhookError):
    """Root of everything the simulator raises on purpose."""


class ApiError(SimulatorError):
    """An error answer a gateway documents: HTTP status, machine code, human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str, code: str = "invalid_request") -> ApiError:
    """The 400 every gateway answers to a request it cannot accept."""
    return ApiError(400, code, message)
