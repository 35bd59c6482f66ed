"""The registry of observation source kinds: one module per kind, exporting ``KIND``.

Adding a kind is one new module here and one line in ``SOURCE_KINDS``.
"""

from __future__ import annotations

import importlib

from harness.errors import ConfigError
from harness.observe.source import Source

SOURCE_KINDS: dict[str, str] = {
    "output": "harness.observe.kinds.output",
    "dead_letters": "harness.observe.kinds.dead_letters",
    "downstream": "harness.observe.kinds.downstream",
    "database": "harness.observe.kinds.database",
    "webhook_receiver": "harness.observe.kinds.webhook_receiver",
    "sns_subscriber": "harness.observe.kinds.sns_subscriber",
}


def source_class(kind: str) -> type[Source]:
    """The class of source ``kind``; ``ConfigError`` if this installation lacks it."""
    module_name = SOURCE_KINDS.get(kind)
    if module_name is None:
        raise ConfigError(f"Unknown observation source {kind!r}; known: {', '.join(SOURCE_KINDS)}.")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise ConfigError(
            f"The observation source {kind!r} is not available in this installation "
            f"({module_name} is missing); remove it from the scenario's observe: section."
        ) from None
    return module.KIND  # type: ignore[no-any-return]


__all__ = ["SOURCE_KINDS", "source_class"]
