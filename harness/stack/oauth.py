"""A private OAuth2/OIDC issuer: NAV's ``mock-oauth2-server``, one JVM process.

``no.nav.security:mock-oauth2-server`` (Maven Central, pinned at ``layout.OAUTH_VERSION``) is a
real token server: it serves an OIDC discovery document, a JWKS and a token endpoint per
*issuer id* (the first path segment, ``default`` here) and signs RS256 JWTs with a key it makes
at start. ``harness stack provision --with oauth`` resolves its classpath with Maven into
``$HARNESS_HOME/mock-oauth2-server-<version>/libs``, the way Kafka's is.

The server binds loopback; clients reach it through the Toxiproxy proxy ``oauth``. It names
itself after the ``Host`` a request carries, so a token fetched through the proxy has the
proxy's address in its ``iss`` (``issuer_url``). Left alone, the server signs with a key
bundled in its jar (the same on every start); so the stack makes the issuer's RSA key here and
hands it over in the server's ``JSON_CONFIG_PATH`` file (``config.json`` in the node's dir, mode
0600, never shown). The same file declares short-lived issuers: ``ttl-<n>`` (n = 1 to
``MAX_SHORT_LIFETIME``) signs client_credentials tokens that expire ``n`` seconds after they are
issued (``aud`` the requested scope, ``sub`` the client id, as the default issuer does), so a
scenario gets tokens that expire during its storm from the one shared node, by path
(``issuer_url(lifetime=4)``); each has a key of its own, made by the server at start. ``rotate_key`` writes a new one: after a restart the server signs with it
under the same ``kid`` (``default``), a key rotation a verifier must follow by refetching the
JWKS. Readiness is its discovery document answering 200.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from harness.stack import layout
from harness.stack.state import NodeState, ProxyState

KIND = "oauth"
NODE = layout.OAUTH_NODE
ISSUER_ID = "default"
MAIN_CLASS = "no.nav.security.mock.oauth2.StandaloneMockOAuth2ServerKt"
PROBE_TIMEOUT = 2.0
# A small heap and the client compiler: the server starts in a few seconds on a shared box.
CONFIG_FILE = "config.json"
KEY_BITS = 2048
MAX_SHORT_LIFETIME = 60
"""The longest ``ttl-<n>`` issuer, in seconds (tokens longer than that come from ``default``)."""
JAVA_OPTS = ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


def libs_dir(version: str = layout.OAUTH_VERSION) -> Path:
    """Where ``harness stack provision`` puts the server's classpath."""
    return layout.harness_home() / f"mock-oauth2-server-{version}" / "libs"


def argv(libs: Path) -> list[str]:
    java = shutil.which("java") or "java"
    return [java, *JAVA_OPTS, "-cp", f"{libs}/*", MAIN_CLASS]


def write_config(node_dir: Path) -> Path:
    """Write the server's config with a new RSA signing key (private: mode 0600)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    jwk = RSAAlgorithm.to_jwk(private, as_dict=True)
    jwk.update(kid=ISSUER_ID, use="sig", alg="RS256")
    config = {"tokenProvider": {"keyProvider": {"initialKeys": json.dumps(jwk),
                                                "algorithm": "RS256"}},
              "tokenCallbacks": short_lived_callbacks()}  # fmt: skip
    path = node_dir / CONFIG_FILE
    scratch = node_dir / f".{CONFIG_FILE}.new"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out)
    os.replace(scratch, path)
    return path


def short_issuer_id(lifetime: int) -> str:
    """The issuer id whose tokens live ``lifetime`` seconds."""
    return f"ttl-{lifetime}"


def short_lived_callbacks() -> list[dict[str, object]]:
    """mock-oauth2-server ``tokenCallbacks``: issuer ``ttl-<n>`` signs tokens of ``n`` seconds.

    A request mapping decides a callback's claims; it matches every token request (any
    ``grant_type``) and templates ``sub`` and ``aud`` from it, so a client_credentials token
    looks like the default issuer's, only shorter-lived."""
    mapping = {"requestParam": "grant_type", "match": "*",
               "claims": {"sub": "${clientId}", "aud": ["${scope}"]}}  # fmt: skip
    return [
        {"issuerId": short_issuer_id(n), "tokenExpiry": n, "requestMappings": [mapping]}
        for n in range(1, MAX_SHORT_LIFETIME + 1)
    ]


def signing_key(node: NodeState) -> rsa.RSAPrivateKey | None:
    """The issuer's current private key (its ``kid`` is ``ISSUER_ID``), read from the config the
    stack wrote; None when it cannot be read. The harness signs its token attacks with it, so
    each is refused for its one flaw, not for an unknown key."""
    try:
        config = json.loads((Path(node.cwd) / CONFIG_FILE).read_text())
        jwk = config["tokenProvider"]["keyProvider"]["initialKeys"]
        key = RSAAlgorithm.from_jwk(jwk)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def rotate_key(node: NodeState) -> None:
    """Give the issuer a new signing key; it signs with it from its next (re)start on."""
    write_config(Path(node.cwd))


def prepare(run_dir: Path, libs: Path) -> NodeState:
    """The oauth node's state: its dir holds its config (the signing key) and nothing else."""
    node_dir = run_dir / NODE
    node_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(node_dir)
    return NodeState(
        name=NODE,
        kind=KIND,
        argv=argv(libs),
        env={"SERVER_HOSTNAME": layout.HOST, "SERVER_PORT": str(layout.oauth_port()),
             "LOG_LEVEL": "WARN", "JSON_CONFIG_PATH": str(config)},  # fmt: skip
        cwd=str(node_dir),
        data_dir=str(node_dir),
        log_file=str(run_dir / "logs" / f"{NODE}.log"),
        ports={"proxy": layout.oauth_proxy_port(), "client": layout.oauth_port()},
        proxy=NODE,
        probe=KIND,
        probe_port=layout.oauth_port(),
    )


def proxy() -> ProxyState:
    return ProxyState(
        name=NODE,
        listen=f"{layout.HOST}:{layout.oauth_proxy_port()}",
        upstream=f"{layout.HOST}:{layout.oauth_port()}",
    )


def issuer_url(
    port: int | None = None, host: str = layout.HOST, *, lifetime: int | None = None
) -> str:
    """The issuer clients see: through the proxy unless ``port`` says otherwise; with
    ``lifetime``, the short-lived issuer whose tokens live that many seconds."""
    issuer = ISSUER_ID if lifetime is None else short_issuer_id(lifetime)
    return f"http://{host}:{port or layout.oauth_proxy_port()}/{issuer}"


def with_lifetime(issuer: str, lifetime: int | None) -> str:
    """The stack's issuer URL (``.../default``) turned into the one for ``lifetime`` seconds
    (unchanged for None)."""
    if lifetime is None:
        return issuer
    if not 1 <= lifetime <= MAX_SHORT_LIFETIME:
        raise ValueError(f"short-lived tokens live 1 to {MAX_SHORT_LIFETIME} s, not {lifetime}")
    return f"{issuer.rstrip('/').rpartition('/')[0]}/{short_issuer_id(lifetime)}"


def ready(port: int, host: str = layout.HOST, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when the server on ``port`` serves its discovery document with a ``jwks_uri``
    (through a proxy, too: the probe the stack uses to prove the ``oauth`` proxy routes)."""
    url = f"{issuer_url(port, host)}/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status == 200 and "jwks_uri" in json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False


__all__ = ["ISSUER_ID", "KIND", "MAX_SHORT_LIFETIME", "NODE", "argv", "issuer_url", "libs_dir",
           "prepare", "proxy", "ready", "rotate_key", "short_issuer_id", "short_lived_callbacks",
           "signing_key", "with_lifetime", "write_config"]  # fmt: skip
