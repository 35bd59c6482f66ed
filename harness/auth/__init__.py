"""OAuth2 and JWT for the harness: fetching bearer tokens, verifying them, and forging bad ones.

- ``harness.auth.tokens``: ``ClientCredentialsSource``, a client_credentials token source that
  refreshes before expiry, retries a 401 once with a fresh token and keeps serving its cached
  token while the issuer is down (for as long as the token lives).
- ``harness.auth.verify``: ``Verifier``, a JWT check against the issuer's JWKS (PyJWT's
  ``PyJWKClient``): signature, ``iss``, ``aud``, ``exp`` with leeway; ``alg: none`` and
  unknown ``kid`` refused.
- ``harness.auth.faults``: security fault tokens (expired, wrong audience, wrong issuer,
  ``alg: none``, unknown key) signed with keys made locally, for sending at a service.

It sits beside ``harness.stack`` (layer 2): it imports only the leaf modules.
"""

from harness.auth.faults import FaultTokens, SigningKey
from harness.auth.tokens import ClientCredentialsSource, Token
from harness.auth.verify import Verifier

__all__ = ["ClientCredentialsSource", "FaultTokens", "SigningKey", "Token", "Verifier"]
