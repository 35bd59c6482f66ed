"""The harness's error hierarchy.

Every error the harness raises on purpose derives from ``HarnessError`` and carries a
message that says what went wrong, why, and what to do. The CLI prints such errors as one
line (no traceback) and exits with code 2.

    HarnessError
    ├── ConfigError (ValueError)        malformed scenario, option or input file
    │   └── UnsafeTargetError           a non-loopback address that is not allow-listed
    ├── StackError (RuntimeError)       a service could not be provisioned, started or reached
    ├── FaultError (RuntimeError)       a fault could not be applied or healed
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


class HistoryError(HarnessError, ValueError):
    """A history file cannot be read or violates the history format."""


__all__ = [
    "ConfigError",
    "FaultError",
    "HarnessError",
    "HistoryError",
    "StackError",
    "UnsafeTargetError",
]
