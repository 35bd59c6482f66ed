"""The harness's error hierarchy.

Every error the harness raises on purpose derives from ``HarnessError`` and carries a
message that says what went wrong, why, and what to do. The CLI prints such errors as one
line (no traceback) and exits with code 2.

    HarnessError
    ├── ConfigError (ValueError)        malformed scenario, option or input file
    │   └── UnsafeTargetError           a non-loopback address that is not allow-listed
    ├── StackError (RuntimeError)       a service could not be provisioned, started or reached
    ├── FaultError (RuntimeError)       a fault could not be applied or healed
    ├── AuthError (RuntimeError)        an OAuth2 token could not be fetched
    │   └── TokenRejectedError          a bearer token failed verification (``reason`` says why)
    └── HistoryError (ValueError)       a history file is unreadable or malformed
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises deliberately."""


class ConfigError(HarnessError, ValueError):
    """A scenario, option or input is malformed."""


class UnsafeTargetError(ConfigError):
    """A target address is outside loopback and not explicitly allow-listed."""


class StackError(HarnessError, RuntimeError):
    """A service of the stack could not be provisioned, started, stopped or reached."""


class FaultError(HarnessError, RuntimeError):
    """A fault could not be applied or healed."""


class AuthError(HarnessError, RuntimeError):
    """An OAuth2 token could not be fetched (issuer down, bad credentials, bad answer)."""


class TokenRejectedError(AuthError):
    """A bearer token failed verification; ``reason`` is one word a check or a report can count
    (``expired``, ``audience``, ``issuer``, ``algorithm``, ``unknown_key``, ``signature``,
    ``malformed``, ``jwks_unavailable``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class HistoryError(HarnessError, ValueError):
    """A history file cannot be read or violates the history format."""


__all__ = [
    "AuthError",
    "ConfigError",
    "FaultError",
    "HarnessError",
    "HistoryError",
    "StackError",
    "TokenRejectedError",
    "UnsafeTargetError",
]
