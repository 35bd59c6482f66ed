"""The ``observe:`` section: black-box sources that watch what the service did, from outside.

    observe:
      - output: {kafka: {topic: orders-out}, env: ORDERS_OUT_TOPIC, id: {header: ce_id}}
      - downstream: {env: PAYMENTS_URL, id: {header: Idempotency-Key}}
      - database: {postgres: {}, setup: [...], query: "SELECT id, t FROM effects", env: DATABASE_URL}
      - dead_letters: {}
      - webhook_receiver: {env: WEBHOOK_URL, secret: WEBHOOK_SECRET, scheme: standard,
                           retry_policy: {delays: [0.1s, 0.5s, 2s]}, id: {header: webhook-id}}

Each entry names exactly one kind; its settings are plain data here. What a source does at run
time is one module per kind under ``harness/observe/kinds/``. ``IdField`` finds the input
event's id in what the service wrote: a header, or a JSONPath into a JSON body (the subset
``$.a.b``, ``$.a[0]``, ``$['a b']``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from harness.errors import ConfigError
from harness.scenario.base import StrictModel
from harness.scenario.durations import Duration
from harness.scenario.schema import SchemaVersion
from harness.schemas import SchemaKind

CLOUDEVENTS_ID_HEADERS = ("ce_id", "ce-id")
"""Where a CloudEvents id travels: Kafka binary mode uses ``ce_id``, HTTP and AMQP ``ce-id``."""
MAX_JSONPATH = 200
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
KINDS = ("output", "downstream", "database", "dead_letters", "webhook_receiver")

_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d{1,6})\]|\[(['"])(.{0,100}?)\3\]""")


def parse_jsonpath(text: str) -> tuple[str | int, ...]:
    """The steps of a JSONPath of the supported subset; ``ValueError`` naming what is wrong."""
    if len(text) > MAX_JSONPATH:
        raise ValueError(f"a JSONPath has at most {MAX_JSONPATH} characters")
    if not text.startswith("$"):
        raise ValueError(f"a JSONPath starts with '$' (got {text[:40]!r})")
    steps: list[str | int] = []
    at = 1
    while at < len(text):
        match = _STEP.match(text, at)
        if match is None:
            raise ValueError(
                f"JSONPath {text!r}: cannot read {text[at : at + 20]!r} at character {at}; "
                "supported: $.field, $.a.b, $.list[0], $['any key']"
            )
        name, index, _, quoted = match.groups()
        steps.append(int(index) if index is not None else (name if name is not None else quoted))
        at = match.end()
    if not steps:
        raise ValueError("the JSONPath '$' names the whole body; name the id's field")
    return tuple(steps)


def follow(document: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at ``steps`` in a parsed JSON document, or None where the path leads nowhere."""
    for step in steps:
        if isinstance(step, int) and isinstance(document, list) and step < len(document):
            document = document[step]
        elif isinstance(step, str) and isinstance(document, dict):
            document = document.get(step)
        else:
            return None
    return document


class IdField(StrictModel):
    """Where the input event's id is in what the service wrote (one of the two, or neither:
    the CloudEvents id header, else the body's ``$.id``)."""

    header: str | None = Field(default=None, min_length=1, max_length=200)
    jsonpath: str | None = None

    @field_validator("jsonpath")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_jsonpath(value)
        return value

    @model_validator(mode="after")
    def _one(self) -> IdField:
        if self.header is not None and self.jsonpath is not None:
            raise ValueError("give either header or jsonpath, not both")
        return self

    def describe(self) -> str:
        if self.header:
            return f"header {self.header!r}"
        if self.jsonpath:
            return f"body {self.jsonpath}"
        return "header ce_id / ce-id, else body $.id"

    def extract(self, headers: Mapping[str, bytes | str | None], body: bytes | None) -> str | None:
        """The id in one message (headers matched without regard to case); None if absent."""
        if self.jsonpath is None:
            names = (self.header,) if self.header else CLOUDEVENTS_ID_HEADERS
            found = _header(headers, names)
            if found is not None or self.header:
                return found
        return _from_body(body, parse_jsonpath(self.jsonpath or "$.id"))


def _header(headers: Mapping[str, bytes | str | None], names: tuple[str | None, ...]) -> str | None:
    wanted = {name.lower() for name in names if name}
    for name, value in headers.items():
        if name.lower() in wanted and value is not None:
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            return text or None
    return None


def _from_body(body: bytes | None, steps: tuple[str | int, ...]) -> str | None:
    if not body:
        return None
    try:
        value = follow(json.loads(body), steps)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    return str(value) or None


def _env_name(value: str) -> str:
    if not ENV_NAME.fullmatch(value):
        raise ValueError(f"{value[:40]!r} is not an environment variable name (A-Z, 0-9, _)")
    if value.upper().startswith("HARNESS_"):
        raise ValueError(f"{value} starts with HARNESS_, which the harness keeps for its wiring")
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]
"""The variable through which a source hands the service its address or name."""


class KafkaStream(StrictModel):
    topic: str = Field(min_length=1, max_length=200)
    partitions: int = Field(default=1, ge=1, le=1000)


class RabbitStream(StrictModel):
    queue: str = Field(min_length=1, max_length=200)


def check_body_schema(schema: SchemaVersion | None, what: str) -> None:
    """``ValueError`` unless ``schema`` (when given) loads as a JSON Schema for ``what``."""
    if schema is None:
        return
    try:
        document = schema.document(what)
    except ConfigError as error:
        raise ValueError(f"schema: {error}") from None
    if document.kind is not SchemaKind.JSON_SCHEMA:
        raise ValueError(f"schema: {what}s are checked against a JSON Schema (JSON bodies)")


class OutputSource(StrictModel):
    """A Kafka topic or RabbitMQ queue the service writes one message to per effect."""

    kafka: KafkaStream | None = None
    rabbitmq: RabbitStream | None = None
    env: EnvName = "OUTPUT_TOPIC"
    id: IdField = Field(default_factory=IdField)
    schema_: SchemaVersion | None = Field(default=None, alias="schema")
    """The JSON Schema every output body must satisfy (contract testing of what the service
    emits); an output that breaks it is ``invalid_output``."""

    @model_validator(mode="after")
    def _one_stream(self) -> OutputSource:
        if (self.kafka is None) == (self.rabbitmq is None):
            raise ValueError(
                "name exactly one stream: kafka: {topic: ...} or rabbitmq: {queue: ...}"
            )
        check_body_schema(self.schema_, "output")
        return self


MAX_TOKEN_LIFETIME_S = 60
"""The longest ``token_lifetime`` (the stack's issuer has short-lived issuers up to it;
``harness.stack.oauth.MAX_SHORT_LIFETIME``)."""
AUDIENCE = re.compile(r"[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{1,200}")


class DownstreamOAuth(StrictModel):
    """Bearer tokens of the stack's OAuth2 issuer (``harness stack up --with oauth``).

    Every call must carry ``Authorization: Bearer <JWT>`` from that issuer for ``audience``
    (the service asks for it as the token's scope); the downstream verifies it against the
    issuer's JWKS and answers 401, applying nothing, to a call without a valid one.
    ``token_lifetime`` (whole seconds, 1 to 60) makes the service's tokens that short-lived
    (omitted: the issuer's hour); ``leeway`` is the clock skew allowed on ``exp``/``nbf``.
    """

    audience: str
    token_lifetime: Duration | None = None
    leeway: Duration = 0.0

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        if not AUDIENCE.fullmatch(value):
            raise ValueError(
                f"{value[:40]!r} is not an audience: 1 to 200 characters of a URI, no spaces "
                "(e.g. api://payments)"
            )
        return value

    @field_validator("token_lifetime")
    @classmethod
    def _lifetime(cls, value: float | None) -> float | None:
        if value is None:
            return None
        if value != int(value) or not 1 <= value <= MAX_TOKEN_LIFETIME_S:
            raise ValueError(
                f"token_lifetime is whole seconds from 1s to {MAX_TOKEN_LIFETIME_S}s (got "
                f"{value:g}s); omit it for the issuer's one-hour tokens"
            )
        return value

    @model_validator(mode="after")
    def _leeway_below_lifetime(self) -> DownstreamOAuth:
        if self.token_lifetime is not None and self.leeway >= self.token_lifetime:
            raise ValueError(
                f"leeway ({self.leeway:g}s) must be shorter than token_lifetime "
                f"({self.token_lifetime:g}s), or an expired token would still be accepted"
            )
        return self

    @property
    def lifetime_s(self) -> int | None:
        return None if self.token_lifetime is None else int(self.token_lifetime)


class DownstreamAuth(StrictModel):
    """How the downstream authenticates calls: ``oauth`` (bearer JWTs, the only scheme)."""

    oauth: DownstreamOAuth


class DownstreamSource(StrictModel):
    """An HTTP API the service calls, played by the harness (a recording server on loopback).

    ``id`` finds the input event's id in each call; ``idempotency_key`` names the header by
    which the downstream recognises a retry it already applied (null: it applies every call it
    accepts, as an API without idempotency keys does); ``path`` is the path of the URL handed
    to the service (any path and method are answered alike).
    """

    env: EnvName = "DOWNSTREAM_URL"
    id: IdField = Field(default_factory=lambda: IdField(header="Idempotency-Key"))
    idempotency_key: str | None = Field(
        default="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
    )
    path: str = Field(default="/", pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,199}$")
    auth: DownstreamAuth | None = None
    """Calls must carry a valid bearer token (``auth: {oauth: {audience: ...}}``)."""


class PostgresDatabase(StrictModel):
    pass


class SqliteDatabase(StrictModel):
    """A SQLite file at ``path`` inside the run's state dir (relative; never ``..``)."""

    path: str = Field(default="effects.db", min_length=1, max_length=500)

    @field_validator("path")
    @classmethod
    def _inside_state_dir(cls, value: str) -> str:
        parts = value.replace("\\", "/").split("/")
        if not value.strip() or value.startswith("/") or "\\" in value or ".." in parts:
            raise ValueError(
                f"{value[:60]!r} must be a relative path inside the run's state dir (no "
                "leading '/', no '..'), such as 'effects.db'"
            )
        return value


class DatabaseSource(StrictModel):
    """Rows a SQL query returns, one (id, t) per effect, in PostgreSQL or a SQLite file."""

    postgres: PostgresDatabase | None = None
    sqlite: SqliteDatabase | None = None
    setup: list[str] = Field(default_factory=list, max_length=100)
    query: str = Field(min_length=1, max_length=10_000)
    env: EnvName = "DATABASE_URL"
    poll_interval: Duration = 0.2
    keep: bool = False
    """PostgreSQL: keep the run's database ``run_<run id>`` after the run (to inspect it, or to
    cross-check the effects against it); dropped at the end otherwise."""

    @model_validator(mode="after")
    def _one_database(self) -> DatabaseSource:
        if (self.postgres is None) == (self.sqlite is None):
            raise ValueError("name exactly one database: postgres: {} or sqlite: {path: ...}")
        return self


class DeadLetterSource(StrictModel):
    """The run's dead-letter topic or queue, read by the harness itself."""

    id: IdField = Field(default_factory=IdField)


WEBHOOK_SCHEMES = ("standard", "stripe", "github")
"""The signature schemes a webhook receiver verifies (``harness.webhooks.signing.SCHEMES``)."""
RETRY_PRESETS = ("standard-webhooks", "stripe", "shopify", "github")
"""Published retry schedules a sender may declare (``harness.webhooks.retry_policy.PRESETS``)."""


class RetryTolerance(StrictModel):
    """How far a sender's retries may stray from its declared schedule and still follow it.

    A retry is too early when it arrives sooner than ``wait * (1 - early) - early_s`` after the
    previous attempt failed (its answer left, or the connection ended); a failed attempt was
    never retried when no retry came within ``wait * (1 + late) + late_s`` and the history
    goes on past that time.
    """

    early: float = Field(default=0.1, ge=0.0, lt=1.0)
    early_s: Duration = 0.05
    late: float = Field(default=1.0, ge=0.0, le=100.0)
    late_s: Duration = 2.0


class SenderRetryPolicy(StrictModel):
    """The retry policy the scenario declares for the service's webhook sender.

    ``preset`` names a published schedule, or ``delays`` gives the waits before each retry
    (retry ``n`` waits ``delays[n-1]`` after attempt ``n`` failed; attempts are at most
    ``len(delays) + 1``). ``time_scale`` compresses the schedule as the sender was told to.
    """

    preset: str | None = None
    delays: list[Duration] | None = Field(default=None, max_length=100)
    time_scale: float = Field(default=1.0, gt=0.0, le=1.0)
    honour_retry_after: bool | None = None
    """A ``Retry-After`` longer than the scheduled wait pushes the retry back to it (default:
    the preset's; true with ``delays``)."""
    disable_on_410: bool | None = None
    """A 410 answer ends the deliveries: no retry of that webhook follows (default: the
    preset's; true with ``delays``)."""
    tolerance: RetryTolerance = Field(default_factory=RetryTolerance)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in RETRY_PRESETS:
            raise ValueError(f"unknown preset {value!r}; use one of {', '.join(RETRY_PRESETS)}")
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> SenderRetryPolicy:
        if (self.preset is None) == (self.delays is None):
            raise ValueError("give either preset (e.g. stripe) or delays (e.g. [1s, 5s, 30s])")
        return self


class WebhookReceiverSource(StrictModel):
    """The endpoint the service sends its webhooks to, played by the harness.

    ``secret`` names the environment variable holding the signing secret (never the secret
    itself): read from the harness's environment if set there, else made for the run and handed
    to the service in that variable. ``id`` finds the input event's id in each webhook.
    ``listen`` is where the recording server listens (loopback; port 0: a free one); the service
    is handed the URL of its Toxiproxy proxy in ``env``.
    """

    env: EnvName = "WEBHOOK_URL"
    secret: EnvName = "WEBHOOK_SECRET"
    scheme: str = "standard"
    retry_policy: SenderRetryPolicy
    id: IdField = Field(default_factory=IdField)
    listen: str = Field(default="127.0.0.1:0", pattern=r"^[0-9.]{7,15}:\d{1,5}$")
    path: str = Field(default="/webhooks", pattern=r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,199}$")
    tolerance: Duration | None = None
    """How old a signed timestamp may be (default: the scheme's own, e.g. 300 s)."""
    schema_: SchemaVersion | None = Field(default=None, alias="schema")
    """The JSON Schema every webhook body must satisfy (contract testing of what the service
    sends); a signed webhook whose body breaks it is taken, and counted ``invalid_output``."""

    @model_validator(mode="after")
    def _body_schema(self) -> WebhookReceiverSource:
        check_body_schema(self.schema_, "webhook")
        return self

    @field_validator("scheme")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value not in WEBHOOK_SCHEMES:
            raise ValueError(f"unknown scheme {value!r}; use one of {', '.join(WEBHOOK_SCHEMES)}")
        return value

    @field_validator("retry_policy", mode="before")
    @classmethod
    def _preset_name(cls, value: Any) -> Any:
        return {"preset": value} if isinstance(value, str) else value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class ObserveEntry(StrictModel):
    """One source: exactly one of the kind keys, and an optional name (default: the kind)."""

    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    output: OutputSource | None = None
    downstream: DownstreamSource | None = None
    database: DatabaseSource | None = None
    dead_letters: DeadLetterSource | None = None
    webhook_receiver: WebhookReceiverSource | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ObserveEntry:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an observe entry names exactly one kind of {', '.join(KINDS)}"
                + (f"; got {', '.join(given)}" if given else "")
            )
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    @property
    def settings(self) -> StrictModel:
        return getattr(self, self.kind)  # type: ignore[no-any-return]

    @property
    def source_name(self) -> str:
        return self.name or self.kind.replace("_", "-")


def observe_problems(entries: list[ObserveEntry]) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems only the whole list shows: a name or an environment variable used twice."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    names: dict[str, int] = {}
    envs: dict[str, int] = {}
    for index, entry in enumerate(entries):
        name = entry.source_name
        if name in names:
            problems.append(((index, "name"), f"the name {name!r} is taken by entry {names[name]}"))
        names.setdefault(name, index)
        env = getattr(entry.settings, "env", None)
        if env is not None and env in envs:
            problems.append(((index, entry.kind, "env"), f"{env} is used by entry {envs[env]}"))
        if env is not None:
            envs.setdefault(env, index)
    authed = [i for i, entry in enumerate(entries)
              if entry.downstream is not None and entry.downstream.auth is not None]  # fmt: skip
    for index in authed[1:]:
        problems.append(((index, "downstream", "auth"),
                         f"only one downstream may set auth (entry {authed[0]} does): the "
                         "service gets one set of HARNESS_OAUTH_* variables"))  # fmt: skip
    return problems


def needs_oauth(entries: list[ObserveEntry]) -> bool:
    """True when a source verifies tokens of the stack's OAuth2 issuer."""
    return any(e.downstream is not None and e.downstream.auth is not None for e in entries)


__all__ = [
    "CLOUDEVENTS_ID_HEADERS",
    "DatabaseSource",
    "DeadLetterSource",
    "DownstreamAuth",
    "DownstreamOAuth",
    "DownstreamSource",
    "EnvName",
    "IdField",
    "KafkaStream",
    "ObserveEntry",
    "OutputSource",
    "PostgresDatabase",
    "RETRY_PRESETS",
    "RabbitStream",
    "RetryTolerance",
    "SenderRetryPolicy",
    "SqliteDatabase",
    "WEBHOOK_SCHEMES",
    "WebhookReceiverSource",
    "follow",
    "needs_oauth",
    "observe_problems",
    "parse_jsonpath",
]
