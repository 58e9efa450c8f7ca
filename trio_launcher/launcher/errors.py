"""Why a launcher's loop had to back off, each saying what to fix."""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "BrokerUnavailable",
    "HandshakeFailed",
    "LauncherError",
    "RunnerStartFailed",
]


class LauncherError(Exception):
    """A phase of the launcher loop failed; the loop backs off and tries again."""


class BrokerUnavailable(LauncherError):
    """The broker cannot be reached, or closed the connection."""


class AuthenticationFailed(LauncherError):
    """The broker refused the auth token or a grant token (HTTP 401/403)."""


class HandshakeFailed(LauncherError):
    """The broker refused or broke the launcher's WebSocket handshake."""


class RunnerStartFailed(LauncherError):
    """The runner process could not be started (command or workdir unusable)."""
