"""Payload sizes and bodies, made cheaply.

A valid body is a JSON object ``{"id": ..., "key": ..., "seq": ..., "pad": "..."}`` padded to
its drawn size with a slice of one pre-generated random ASCII buffer (no per-event random
draws). A poison body starts with ``POISON`` and is not JSON, so a consumer that parses its
input must reject it and dead-letter it. A body is never shorter than its JSON skeleton.
"""

from __future__ import annotations

import numpy as np

from harness.scenario import Payload

_ALPHABET = np.frombuffer(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", np.uint8
)
POISON_MARK = b"POISON"


def payload_sizes(payload: Payload, n: int, rng: np.random.Generator) -> np.ndarray:
    """The intended body size of each of ``n`` events (int32), uniform in ``[min, max]``."""
    if payload.fixed is not None:
        return np.full(n, payload.fixed, dtype=np.int32)
    assert payload.bytes_ is not None
    return rng.integers(payload.bytes_.min, payload.bytes_.max + 1, size=n, dtype=np.int32)


class PayloadFactory:
    """Builds bodies from one random buffer; the same seed gives the same bytes."""

    def __init__(self, seed: int, max_size: int) -> None:
        rng = np.random.default_rng([seed, 0xB0D1])
        self._span = max(max_size, 1) + 4096
        self._buffer = _ALPHABET[rng.integers(0, len(_ALPHABET), size=2 * self._span)].tobytes()

    def body(self, event_id: str, key: str, seq: int, size: int, poison: bool = False) -> bytes:
        """The body of one event; ``seq`` also picks where in the buffer the padding starts."""
        if poison:
            head = POISON_MARK + b'{"id":"' + event_id.encode() + b'",'
            return head + self._pad(seq, size - len(head))
        head = b'{"id":"%s","key":"%s","seq":%d,"pad":"' % (event_id.encode(), key.encode(), seq)
        return head + self._pad(seq, size - len(head) - 2) + b'"}'

    def _pad(self, seq: int, length: int) -> bytes:
        if length <= 0:
            return b""
        start = (seq * 7919) % self._span
        return self._buffer[start : start + length]


def is_poison(body: bytes) -> bool:
    """True for a body made as poison by ``PayloadFactory``."""
    return body.startswith(POISON_MARK)


__all__ = ["POISON_MARK", "PayloadFactory", "is_poison", "payload_sizes"]
