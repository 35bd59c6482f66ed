"""The env file: an existing environment (a compose stack, a staging cluster) described in YAML.

``harness run --env FILE`` (or ``$HARNESS_ENV``) reaches the brokers, Toxiproxy and the
process controls an env file names instead of a stack that ``harness stack up`` started; ``stack
up`` writes its own stack's env file in the same format (``$HARNESS_HOME/run/env.yaml``).

    version: 1
    toxiproxy: {api: "http://127.0.0.1:8474"}
    nats:                                   # or kafka:, rabbitmq:, moto:, pubsub: (any of them)
      servers: ["nats://127.0.0.1:4221"]    # the client URLs (usually the proxies')
      nodes:
        nats-1:                             # nats-<n>: what faults name
          proxy: nats-1
          listen: "127.0.0.1:4221"
          address: "127.0.0.1:14221"        # the server's client port (answers INFO)
          routes: [nats-route-1-2, nats-route-2-1]   # route proxies route_cut disables
          control: {kill: docker kill nats-1, restart: docker restart nats-1}
    moto:                                   # SNS and EventBridge on moto (server mode)
      endpoint: "http://127.0.0.1:4566"     # the boto3 endpoint URL (usually its proxy's)
      node: {proxy: moto, listen: "127.0.0.1:4566", address: "127.0.0.1:14566"}
    pubsub:                                 # the Google Pub/Sub emulator
      emulator_host: "127.0.0.1:8085"       # what PUBSUB_EMULATOR_HOST holds
      project: harness-project              # where topics are made (a scenario may name its own)
      node: {proxy: pubsub, listen: "127.0.0.1:8085", address: "127.0.0.1:18085"}
    oauth:                                  # an OAuth2 issuer (not a target: it hands out tokens)
      issuer: "http://127.0.0.1:8180/default"   # its iss; <issuer>/token and <issuer>/jwks
      node: {proxy: oauth, listen: "127.0.0.1:8180", address: "127.0.0.1:18180"}
    kafka:
      bootstrap: ["127.0.0.1:9091", "127.0.0.1:9092"]
      nodes:
        kafka-1:                            # kafka-<node.id>
          proxy: kafka-1                    # the Toxiproxy proxy in front of it
          listen: "127.0.0.1:9091"          # that proxy's client address
          address: "127.0.0.1:19091"        # the node itself (the proxy's upstream)
          control:
            kill: docker kill kafka-1
            pause: docker pause kafka-1
            resume: docker unpause kafka-1
            restart: docker restart kafka-1
            timeout: 60s

Commands are split with ``shlex`` and run without a shell. Reading is bounded and every
problem is one ``ConfigError`` naming file, line and field; passwords in URLs and DSNs never
appear in a repr or a message.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.safety import redact_text, redact_url
from harness.scenario.base import (
    Problem,
    ProblemsFound,
    StrictModel,
    config_error,
    located,
    problems_from_validation,
    raw_validation_errors,
)
from harness.scenario.durations import Duration
from harness.scenario.reader import decode, read_yaml

ENV_VAR = "HARNESS_ENV"
VERSION = 1
MAX_ENV_BYTES = 65_536
MAX_NODES = 64
MAX_COMMAND_CHARS = 4096
CONTROLS: tuple[str, ...] = ("kill", "pause", "resume", "restart")
Control = Literal["kill", "pause", "resume", "restart"]
_KAFKA_NAME = re.compile(r"kafka-([1-9][0-9]{0,5})")


def _argv(value: Any) -> Any:
    """A command as written (one string, split like a shell would, or a list) -> argv."""
    if isinstance(value, str):
        if len(value) > MAX_COMMAND_CHARS:
            raise ValueError(f"a command is at most {MAX_COMMAND_CHARS} characters")
        try:
            words = shlex.split(value)
        except ValueError as error:
            raise ValueError(f"cannot split the command ({error}); close its quotes") from None
        if not words:
            raise ValueError("an empty command; give the program and its arguments")
        return words
    if isinstance(value, list):
        if not value or not all(isinstance(w, str) for w in value):
            raise ValueError("a command list must be non-empty text items: [docker, kill, kafka-1]")
        if sum(len(w) for w in value) > MAX_COMMAND_CHARS:
            raise ValueError(f"a command is at most {MAX_COMMAND_CHARS} characters")
        return value
    raise ValueError("a command is text (`docker kill kafka-1`) or a list of words")


Command = Annotated[list[str], BeforeValidator(_argv)]


def _host_port(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > 300:
        raise ValueError("give host:port, e.g. 127.0.0.1:9091")
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("give host:port with a port from 1 to 65535, e.g. 127.0.0.1:9091")
    return value.strip()


Address = Annotated[str, BeforeValidator(_host_port)]


class NodeControl(StrictModel):
    """How to kill, pause, resume and restart one node: commands run without a shell."""

    kill: Command | None = None
    pause: Command | None = None
    resume: Command | None = None
    restart: Command | None = None
    timeout: Duration = Field(default=60.0, gt=0, le=3600)
    """Longest a command may run before it is killed and counted as failed."""
    ready_timeout: Duration = Field(default=120.0, gt=0, le=3600)
    """After ``restart``: longest wait until the node's address answers its protocol."""

    def has(self, control: str) -> bool:
        return getattr(self, control, None) is not None

    def available(self) -> list[str]:
        return [c for c in CONTROLS if self.has(c)]


class EnvNode(StrictModel):
    """One node of the environment: its proxy, its addresses, and how to control it."""

    proxy: str | None = None
    """The Toxiproxy proxy in front of it (toxics and proxy faults act there)."""
    listen: Address | None = None
    """The proxy's client-facing address (lets fault targeting skip a paused broker)."""
    address: Address | None = None
    """The node itself, the proxy's upstream: where readiness is probed after a restart."""
    control: NodeControl | None = None

    @model_validator(mode="after")
    def _probe_for_restart(self) -> EnvNode:
        if self.control is not None and self.control.restart is not None and not self.address:
            raise ValueError(
                "a node with a restart command needs its address (host:port), where the harness "
                "waits for it to answer after the restart"
            )
        return self


def _kafka_name(name: str) -> str:
    if not _KAFKA_NAME.fullmatch(name):
        raise ValueError(
            f"the Kafka node {name[:60]!r} must be named kafka-<node.id> (kafka-1, kafka-2...), "
            "so that partition leaders found in metadata map to it"
        )
    return name


KafkaName = Annotated[str, AfterValidator(_kafka_name)]


class KafkaEnv(StrictModel):
    bootstrap: list[Address] = Field(min_length=1, max_length=MAX_NODES)
    """The addresses clients bootstrap from (usually the proxies' listen addresses)."""
    nodes: dict[KafkaName, EnvNode] = Field(default_factory=dict, max_length=MAX_NODES)


class RabbitEnv(StrictModel):
    url: str = Field(repr=False, max_length=2000)
    node: EnvNode | None = None

    @field_validator("url")
    @classmethod
    def _amqp(cls, url: str) -> str:
        if not url.startswith(("amqp://", "amqps://")):
            raise ValueError(
                f"give an AMQP URL (amqp://user:pass@host:port/vhost), not {redact_url(url)[:80]!r}"
            )
        return url


class PostgresEnv(StrictModel):
    dsn: str = Field(repr=False, max_length=2000)
    node: EnvNode | None = None

    @field_validator("dsn")
    @classmethod
    def _url(cls, dsn: str) -> str:
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError("give a libpq URL (postgresql://user:pass@host:port/db)")
        return dsn


class SqsEnv(StrictModel):
    """An SQS endpoint (ElasticMQ, or any SQS-compatible server) and its node's controls."""

    endpoint: str = Field(max_length=300)
    """The SQS endpoint URL clients use (usually the ``sqs`` proxy's listen address)."""
    node: EnvNode | None = None

    @field_validator("endpoint")
    @classmethod
    def _http(cls, endpoint: str) -> str:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError("give the endpoint's URL, e.g. http://127.0.0.1:9324")
        return endpoint.rstrip("/")


class ToxiproxyEnv(StrictModel):
    api: str = Field(max_length=300)

    @field_validator("api")
    @classmethod
    def _http(cls, api: str) -> str:
        if not api.startswith(("http://", "https://")):
            raise ValueError("give the API's URL, e.g. http://127.0.0.1:8474")
        return api.rstrip("/")


# --- NATS: the ``nats:`` section ----------------------------------------------------------
# Kept apart from the other brokers' models so each broker's section reads (and merges) alone.

_NATS_NAME = re.compile(r"nats-([1-9][0-9]{0,5})")
_PROXY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
NATS_SCHEMES = ("nats://", "tls://")


def _nats_name(name: str) -> str:
    if not _NATS_NAME.fullmatch(name):
        raise ValueError(
            f"the NATS node {name[:60]!r} must be named nats-<n> (nats-1, nats-2...), the "
            "names faults target"
        )
    return name


NatsName = Annotated[str, AfterValidator(_nats_name)]


def _nats_url(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError("give a NATS URL, e.g. nats://127.0.0.1:4221")
    url = value.strip()
    if not url.startswith(NATS_SCHEMES):
        raise ValueError(
            f"give a NATS URL (nats://host:port or tls://host:port), not {redact_url(url)[:80]!r}"
        )
    _host_port(url.partition("://")[2].rpartition("@")[2].rstrip("/"))
    return url


NatsUrl = Annotated[str, BeforeValidator(_nats_url)]


def _proxy_name(value: Any) -> Any:
    if not isinstance(value, str) or not _PROXY_NAME.fullmatch(value):
        raise ValueError("a route is the name of a Toxiproxy proxy, e.g. nats-route-1-2")
    return value


class NatsNode(EnvNode):
    """A NATS server: an env node, plus the route proxies that carry its cluster routes."""

    routes: list[Annotated[str, BeforeValidator(_proxy_name)]] = Field(
        default_factory=list, max_length=2 * MAX_NODES
    )
    """Every Toxiproxy proxy carrying a route to or from this node (both directions):
    ``route_cut`` disables them all. Leave empty when routes do not cross Toxiproxy."""


class NatsEnv(StrictModel):
    servers: list[NatsUrl] = Field(min_length=1, max_length=MAX_NODES, repr=False)
    """The client URLs (usually the proxies' listen addresses); may hold credentials."""
    nodes: dict[NatsName, NatsNode] = Field(default_factory=dict, max_length=MAX_NODES)


# --- Emulators: the ``moto:`` (SNS, EventBridge) and ``pubsub:`` sections -----------------
# One node each, named as the local stack names it (``moto``, ``pubsub``): what faults target.

_PUBSUB_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
DEFAULT_PUBSUB_PROJECT = "harness-project"


def _endpoint_url(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError("give the endpoint URL, e.g. http://127.0.0.1:4566")
    url = value.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if scheme not in ("http", "https") or not sep:
        raise ValueError(
            f"give an http:// or https:// endpoint URL (http://host:port), not "
            f"{redact_url(url)[:80]!r}"
        )
    authority = rest.partition("/")[0].rpartition("@")[2]
    if authority != rest or "@" in rest:
        raise ValueError("give the endpoint as scheme://host:port, with no path or user")
    _host_port(authority)
    return url


class MotoEnv(StrictModel):
    """moto in server mode, the SNS and EventBridge emulator (``harness stack up --with sns``)."""

    endpoint: Annotated[str, BeforeValidator(_endpoint_url)]
    """The endpoint URL boto3 clients use (usually its proxy's): http://host:port."""
    node: EnvNode | None = None


class PubsubEnv(StrictModel):
    """The Google Pub/Sub emulator (``harness stack up --with pubsub``)."""

    emulator_host: Address
    """What ``PUBSUB_EMULATOR_HOST`` holds: host:port (usually its proxy's)."""
    project: str = DEFAULT_PUBSUB_PROJECT
    """The project the scenarios' topics are made in, unless a scenario names its own."""
    node: EnvNode | None = None

    @field_validator("project")
    @classmethod
    def _project(cls, project: str) -> str:
        if not _PUBSUB_PROJECT.fullmatch(project):
            raise ValueError(
                "a Pub/Sub project id is 6-30 lowercase letters, digits and '-', starting "
                "with a letter and not ending with '-'"
            )
        return project


def _issuer_url(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError("give the issuer URL, e.g. http://127.0.0.1:8180/default")
    url = value.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    authority = rest.partition("/")[0]
    if scheme not in ("http", "https") or not sep or "@" in authority:
        raise ValueError(
            "give the issuer as an http:// or https:// URL with no user, "
            "e.g. http://127.0.0.1:8180/default"
        )
    _host_port(authority)
    return url


class OAuthEnv(StrictModel):
    """An OAuth2 issuer that serves ``<issuer>/token`` (client_credentials) and
    ``<issuer>/jwks``, as mock-oauth2-server does (``harness stack up --with oauth``)."""

    issuer: Annotated[str, BeforeValidator(_issuer_url)]
    """The issuer URL, as tokens carry it in ``iss`` (usually through its proxy)."""
    node: EnvNode | None = None


SECTIONS = ("kafka", "rabbitmq", "nats", "moto", "pubsub", "sqs")
"""The sections that name something to send to (``postgres`` only holds a service's state)."""


class EnvFile(StrictModel):
    """A whole env file."""

    version: Literal[1]
    kafka: KafkaEnv | None = None
    rabbitmq: RabbitEnv | None = None
    postgres: PostgresEnv | None = None
    nats: NatsEnv | None = None
    sqs: SqsEnv | None = None
    moto: MotoEnv | None = None
    pubsub: PubsubEnv | None = None
    oauth: OAuthEnv | None = None
    toxiproxy: ToxiproxyEnv

    @model_validator(mode="after")
    def _something(self) -> EnvFile:
        if all(getattr(self, section) is None for section in SECTIONS):
            raise ValueError(
                "name a broker or an emulator: a kafka:, rabbitmq:, nats:, moto:, pubsub: or sqs: "
                "section"
            )
        return self

    def nodes(self) -> dict[str, tuple[str, EnvNode]]:
        """Every node by name, with its kind (kafka, rabbitmq, postgres, nats, moto, pubsub,
        sqs, oauth)."""
        found: dict[str, tuple[str, EnvNode]] = {}
        if self.kafka is not None:
            found.update({name: ("kafka", node) for name, node in self.kafka.nodes.items()})
        if self.rabbitmq is not None and self.rabbitmq.node is not None:
            found["rabbitmq"] = ("rabbitmq", self.rabbitmq.node)
        if self.postgres is not None and self.postgres.node is not None:
            found["postgres"] = ("postgres", self.postgres.node)
        if self.nats is not None:
            found.update({name: ("nats", node) for name, node in self.nats.nodes.items()})
        for kind in ("moto", "pubsub", "sqs", "oauth"):
            section = getattr(self, kind)
            if section is not None and section.node is not None:
                found[kind] = (kind, section.node)
        return found


def env_path(given: str | os.PathLike[str] | None) -> Path | None:
    """The env file to use: the one given, else ``$HARNESS_ENV``, else none."""
    if given:
        return Path(given)
    from_env = os.environ.get(ENV_VAR, "").strip()
    return Path(from_env) if from_env else None


def load_env(path: str | os.PathLike[str]) -> EnvFile:
    """Read and validate an env file; one ``ConfigError`` names file, line and field."""
    file = Path(path)
    source = str(file)
    try:
        with file.open("rb") as stream:
            data = stream.read(MAX_ENV_BYTES + 1)
    except OSError as error:
        reason = f"cannot read the env file: {error.strerror or error}; check the path"
        raise located(source, None, reason) from None
    if len(data) > MAX_ENV_BYTES:
        raise located(
            source, None, f"the env file is larger than {MAX_ENV_BYTES:,} bytes; an env file "
            "names a few addresses and commands"
        )  # fmt: skip
    return parse_env(decode(data, source), source)


def parse_env(text: str, source: str = "<string>") -> EnvFile:
    """Validate an env file given as YAML text."""
    if len(text) > MAX_ENV_BYTES:
        raise located(source, None, f"the env file is longer than {MAX_ENV_BYTES:,} characters")
    document, lines = read_yaml(text, source)
    if not isinstance(document, dict):
        raise located(
            source, 1, "an env file is a YAML mapping (version:, kafka:, toxiproxy:, ...); "
            "see docs/environments.md"
        )  # fmt: skip
    try:
        with raw_validation_errors():
            return EnvFile.model_validate(document)
    except ValidationError as error:
        problems = problems_from_validation(error, root=EnvFile)
    except ProblemsFound as found:
        problems = found.problems
    problems = [
        Problem(path, _env_reason(path, p.reason))
        for p in problems
        for path in [tuple(part for part in p.path if part != "[key]")]
    ]
    found_lines = {}
    for problem in problems:
        for end in range(len(problem.path), -1, -1):
            if problem.path[:end] in lines:
                found_lines[problem.path] = lines[problem.path[:end]]
                break
    raise config_error(problems, source, found_lines)


def _env_reason(path: tuple[str | int, ...], reason: str) -> str:
    if reason.startswith("unknown field"):
        known = _known_fields(path[:-1])
        reason = f"unknown field (known: {', '.join(known)})" if known else reason
    reason = reason.replace("docs/scenario-format.md", "docs/environments.md")
    return redact_text(reason)


def _known_fields(parent: tuple[str | int, ...]) -> list[str]:
    """The field names of the model at ``parent`` (through the node maps, by key)."""
    model: Any = EnvFile
    for part in parent:
        if isinstance(part, int) or model is None:
            return []
        if model in (EnvNode, NatsNode) and part != "control":
            return []
        if model in _NODE_MAPS and part == "nodes":
            model = _NODE_MAPS[model]
            continue
        if isinstance(model, _NodeMap):
            model = model.node
            continue
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field is not None else None
    if model is None or isinstance(model, _NodeMap):
        return []
    return list(model.model_fields)


class _NodeMap:
    """A ``nodes:`` mapping (keys are node names) whose values are ``node`` models."""

    def __init__(self, node: type[StrictModel]) -> None:
        self.node = node


_NODE_MAPS: dict[Any, _NodeMap] = {KafkaEnv: _NodeMap(EnvNode), NatsEnv: _NodeMap(NatsNode)}


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, StrictModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def write_env(env: EnvFile, path: Path, header: str = "") -> None:
    """Write ``env`` as YAML, owner-only (it may hold passwords), atomically."""
    from ruamel.yaml import YAML

    data = env.model_dump(mode="json", exclude_none=True)
    for node in _all_nodes(data):
        if node.get("routes") == []:
            del node["routes"]  # a NATS node whose routes do not cross Toxiproxy
        control = node.get("control")
        if control:
            for name in CONTROLS:
                if name in control:
                    control[name] = shlex.join(control[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"# {header}\n" if header else "")
        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        yaml.width = 4096
        yaml.representer.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
        yaml.dump(data, out)
    os.replace(tmp, path)


def _all_nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = list((data.get("kafka") or {}).get("nodes", {}).values())
    nodes += list((data.get("nats") or {}).get("nodes", {}).values())
    for section in ("rabbitmq", "postgres", "moto", "pubsub", "sqs", "oauth"):
        node = (data.get(section) or {}).get("node")
        if node:
            nodes.append(node)
    return nodes


__all__ = [
    "CONTROLS",
    "ENV_VAR",
    "MAX_ENV_BYTES",
    "EnvFile",
    "EnvNode",
    "DEFAULT_PUBSUB_PROJECT",
    "KafkaEnv",
    "MotoEnv",
    "NatsEnv",
    "NatsNode",
    "NodeControl",
    "OAuthEnv",
    "PostgresEnv",
    "PubsubEnv",
    "RabbitEnv",
    "SECTIONS",
    "SqsEnv",
    "ToxiproxyEnv",
    "env_path",
    "load_env",
    "parse_env",
    "write_env",
]
