"""Webhooks: signature schemes and provider retry policies (both directions use them).

headers = SCHEMES["stripe"].sign(msg_id=..., timestamp=..., body=body, secrets=[secret])
policy = PRESETS["shopify"].scaled(0.01)
"""

from harness.webhooks.retry_policy import PRESETS, RetryPolicy, parse_retry_after
from harness.webhooks.signing import REASONS, SCHEMES, Scheme, Verification, fresh_secret, header

__all__ = [
    "PRESETS",
    "REASONS",
    "SCHEMES",
    "RetryPolicy",
    "Scheme",
    "Verification",
    "fresh_secret",
    "header",
    "parse_retry_after",
]
