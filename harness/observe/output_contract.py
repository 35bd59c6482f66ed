"""The contract an output source holds a service's outputs to: a JSON Schema for each body.

An output is still an effect of its input event (it happened); when its body breaks the
schema, its ``effect`` row says so with ``status: fail`` and ``reason: invalid_output: ...``,
and ``harness.checks.contract`` counts such ids as ``invalid_output``.
"""

from __future__ import annotations

import json
from typing import Any

from harness.observe.streams import StreamMessage, where
from harness.schemas import SchemaDocument

INVALID_OUTPUT = "invalid_output"
CONTRACT_HELD = "contract_held"
"""A checked body's verdict when it held (a webhook receiver's ``request`` rows carry it)."""
MAX_REASON = 200


class OutputContract:
    """Checks bodies against one JSON Schema (formats included)."""

    def __init__(self, document: SchemaDocument) -> None:
        import jsonschema

        validator = jsonschema.validators.validator_for(document.schema)
        self._validator = validator(document.schema, format_checker=validator.FORMAT_CHECKER)
        self.name = document.source

    def problem(self, body: bytes) -> str | None:
        """Why ``body`` breaks the contract, or None when it holds."""
        try:
            value = json.loads(body)
        except ValueError as exc:
            return f"not JSON ({exc})"
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is None:
            return None
        at = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"at {at}: {error.message}"[:MAX_REASON]

    def fields(self, message: StreamMessage) -> dict[str, Any]:
        """The effect row's fields: where the message was, and the verdict on its body."""
        found = where(message)
        problem = self.problem(message.body)
        if problem is not None:
            found["status"] = "fail"
            found["reason"] = f"{INVALID_OUTPUT}: {problem}"
        return found


__all__ = ["CONTRACT_HELD", "INVALID_OUTPUT", "OutputContract"]
