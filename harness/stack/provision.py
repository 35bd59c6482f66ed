"""Fetch and build the stack's artifacts once, into ``$HARNESS_HOME`` (idempotent).

- Kafka: the broker's classpath (``kafka_2.13``, ``kafka-tools`` and a log4j binding) resolved
  by Maven from Maven Central into ``kafka-<version>/libs``.
- Toxiproxy: the Go server built with ``go install`` at a pinned tag into ``bin/``; where the
  Go module proxy does not serve it, the API-compatible ``noxious-server`` from crates.io.
- ElasticMQ (``--with sqs``): ``elasticmq-server_2.13`` and its runtime classpath resolved by
  Maven from Maven Central into ``elasticmq-<version>/libs``, as Kafka's is.
- RabbitMQ: Debian's ``rabbitmq-server`` package, installed by ``scripts/bootstrap``; here it
  is only located.
- Pub/Sub (``--with pubsub``): Debian's ``google-cloud-cli-pubsub-emulator``, installed by
  ``scripts/bootstrap`` and only located here; where it is absent, the Go fallback server
  (``cloud.google.com/go/pubsub/v2`` ``pstest`` behind a small ``main``) built with Go into
  ``bin/`` (``harness.stack.pubsub``).
- OAuth2 issuer (``--with oauth``): ``no.nav.security:mock-oauth2-server`` and its runtime
  dependencies resolved by Maven from Maven Central into ``mock-oauth2-server-<version>/libs``.
- PostgreSQL (``--with postgres``): Debian's ``postgresql`` package, installed by
  ``scripts/bootstrap``; here it is only located.

Each artifact is built in a scratch directory and renamed into place when complete, so an
interrupted download is never mistaken for a cached one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import StackError
from harness.stack import layout, oauth, pubsub
from harness.stack.postgres import locate_bin as locate_postgres

RABBITMQ_BIN_DIR = Path("/usr/lib/rabbitmq/bin")
LOG4J_VERSION = "2.25.3"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>harness.local</groupId>
  <artifactId>kafka-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""


_OAUTH_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>harness.local</groupId>
  <artifactId>oauth-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>no.nav.security</groupId><artifactId>mock-oauth2-server</artifactId>
      <version>{version}</version></dependency>
  </dependencies>
</project>
"""


_ELASTICMQ_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>harness.local</groupId>
  <artifactId>elasticmq-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.elasticmq</groupId><artifactId>elasticmq-server_2.13</artifactId>
      <version>{version}</version></dependency>
  </dependencies>
</project>
"""


@dataclass(frozen=True)
class Artifacts:
    """Where the provisioned pieces are."""

    kafka_libs: Path
    toxiproxy_server: Path
    rabbitmq_bin: Path
    toxiproxy_flavour: str
    postgres_bin: Path | None = None
    pubsub_server: Path | None = None
    pubsub_flavour: str = ""
    elasticmq_libs: Path | None = None
    oauth_libs: Path | None = None


def kafka_libs_dir(version: str = layout.KAFKA_VERSION) -> Path:
    return layout.harness_home() / f"kafka-{version}" / "libs"


def elasticmq_libs_dir(version: str = layout.ELASTICMQ_VERSION) -> Path:
    return layout.harness_home() / f"elasticmq-{version}" / "libs"


def toxiproxy_path(version: str = layout.TOXIPROXY_VERSION) -> Path:
    return layout.harness_home() / "bin" / f"toxiproxy-server-{version}"


def noxious_path() -> Path:
    return layout.harness_home() / "noxious" / "bin" / "noxious-server"


def _say(message: str) -> None:
    print(f"[provision] {message}", file=sys.stderr, flush=True)


def _require_tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if not path:
        raise StackError(f"`{name}` is not on PATH; it is needed to {why}. Install it first.")
    return path


def _progress_item(line: str) -> str | None:
    """The artifact a Maven or Go download line names, or ``None`` for other output."""
    words = line.split()
    if "Downloaded from" in line:
        url = next((w for w in words if "://" in w), "")
        return url.rsplit("/", 1)[-1] or None
    if line.startswith("go: downloading") and len(words) >= 4:
        return f"{words[2]} {words[3]}"
    return None


def _stream(argv: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    """Run ``argv`` showing its download lines as progress; raise with its tail on failure."""
    proc = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    tail: list[str] = []
    count = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = [*tail[-30:], line.rstrip()]
        item = _progress_item(line)
        if item:
            count += 1
            _say(f"  {what} [{count}] {item}")
    if proc.wait() != 0:
        raise StackError(
            f"Provisioning {what} failed; fix the cause shown below (network, disk space?) "
            "and run `harness stack provision` again:\n" + "\n".join(tail)
        )


def _maven_classpath(libs: Path, pom: str, what: str) -> list[str]:
    """Resolve ``pom``'s runtime classpath into ``libs`` (scratch dir, renamed when whole)."""
    mvn = _require_tool("mvn", f"resolve {what}'s jars from Maven Central")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent) as scratch:
        work = Path(scratch)
        (work / "pom.xml").write_text(pom)
        argv = [mvn, "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
                f"-DoutputDirectory={work / 'libs'}"]  # fmt: skip
        _stream(argv, work, {}, what)
        jars = sorted(p.name for p in (work / "libs").glob("*.jar"))
        (work / "libs" / ".complete").write_text("\n".join(jars) + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        os.replace(work / "libs", libs)
    return jars


def provision_kafka(version: str = layout.KAFKA_VERSION) -> Path:
    """The Kafka classpath directory, resolving it with Maven on first use."""
    libs = kafka_libs_dir(version)
    if (libs / ".complete").exists():
        return libs
    _require_tool("java", "run Kafka")
    _say(f"fetching Apache Kafka {version} (kafka_2.13, kafka-tools) with Maven, ~55 MB")
    jars = _maven_classpath(libs, _POM.format(kafka=version, log4j=LOG4J_VERSION), "kafka")
    _say(f"kafka: {len(jars)} jars in {libs}")
    return libs


def provision_elasticmq(version: str = layout.ELASTICMQ_VERSION) -> Path:
    """ElasticMQ's classpath directory, resolving it with Maven on first use."""
    libs = elasticmq_libs_dir(version)
    if (libs / ".complete").exists():
        return libs
    _require_tool("java", "run ElasticMQ")
    _say(f"fetching ElasticMQ {version} (elasticmq-server_2.13) with Maven, ~37 MB")
    jars = _maven_classpath(libs, _ELASTICMQ_POM.format(version=version), "elasticmq")
    _say(f"elasticmq: {len(jars)} jars in {libs}")
    return libs


def provision_oauth(version: str = layout.OAUTH_VERSION) -> Path:
    """mock-oauth2-server's classpath directory, resolving it with Maven on first use."""
    libs = oauth.libs_dir(version)
    if (libs / ".complete").exists():
        return libs
    _require_tool("java", "run mock-oauth2-server")
    _say(f"fetching mock-oauth2-server {version} with Maven, ~30 MB")
    jars = _maven_classpath(libs, _OAUTH_POM.format(version=version), "oauth")
    _say(f"oauth: {len(jars)} jars in {libs}")
    return libs


def _go_install(target: Path, version: str) -> None:
    go = _require_tool("go", f"build the Toxiproxy server ({layout.TOXIPROXY_MODULE})")
    _say(f"building Toxiproxy {version} from its Go module (about a minute when cold)")
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        argv = [go, "install", f"{layout.TOXIPROXY_MODULE}@{version}"]
        _stream(argv, Path(scratch), {"GOBIN": scratch, "CGO_ENABLED": "0"}, "toxiproxy")
        os.replace(Path(scratch) / "server", target)


def _cargo_install_noxious() -> Path:
    cargo = _require_tool("cargo", "build the noxious-server fallback for Toxiproxy")
    _say("building noxious-server (Toxiproxy-compatible) from crates.io")
    root = noxious_path().parent.parent
    _stream([cargo, "install", "--locked", "--root", str(root), "noxious-server"], root.parent,
            {}, "noxious")  # fmt: skip
    return noxious_path()


def provision_toxiproxy(version: str = layout.TOXIPROXY_VERSION) -> tuple[Path, str]:
    """The Toxiproxy server binary and its flavour (``go`` or ``noxious``)."""
    target = toxiproxy_path(version)
    if target.exists():
        return target, "go"
    if noxious_path().exists():
        return noxious_path(), "noxious"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _go_install(target, version)
        return target, "go"
    except StackError as error:
        _say(f"Go build of Toxiproxy failed, falling back to noxious-server: {error}")
        noxious_path().parent.mkdir(parents=True, exist_ok=True)
        return _cargo_install_noxious(), "noxious"


def build_pubsub_fallback(version: str = layout.PUBSUB_FALLBACK_VERSION) -> Path:
    """Build the Go fallback Pub/Sub server (``pstest``) once; the cached binary after that."""
    target = pubsub.fallback_path(version)
    if target.exists():
        return target
    module = layout.PUBSUB_FALLBACK_MODULE
    go = _require_tool("go", f"build the fallback Pub/Sub server ({module} pstest)")
    _say(f"building the Pub/Sub fallback ({module}@{version} pstest) with Go, a minute or two")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        work = Path(scratch)
        (work / "go.mod").write_text("module harness.local/pubsub-pstest\n\ngo 1.22\n")
        (work / "main.go").write_text(pubsub.FALLBACK_MAIN)
        env = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        # The package path, not the module: go.sum then holds exactly what pstest imports.
        _stream([go, "get", f"{module}/pstest@{version}"], work, env, "pubsub")
        _stream([go, "build", "-trimpath", "-o", str(work / "server"), "."], work, env, "pubsub")
        os.replace(work / "server", target)
    _say(f"pubsub: built {target}")
    return target


def provision_pubsub() -> tuple[Path, str]:
    """The Pub/Sub server and its flavour: the installed emulator, else the Go fallback."""
    emulator = pubsub.installed_emulator()
    if emulator is not None:
        return emulator, "emulator"
    return build_pubsub_fallback(), "pstest"


def locate_rabbitmq() -> Path:
    """The directory holding RabbitMQ's own (non-wrapper) scripts."""
    if (RABBITMQ_BIN_DIR / "rabbitmq-server").exists():
        return RABBITMQ_BIN_DIR
    raise StackError(
        f"RabbitMQ is not installed ({RABBITMQ_BIN_DIR}/rabbitmq-server is missing). "
        "Run ./scripts/bootstrap, which installs Debian's rabbitmq-server package, "
        "or use --no-rabbitmq."
    )


def provision(
    rabbitmq: bool = True,
    postgres: bool = False,
    kafka: bool = True,
    pubsub: bool = False,
    sqs: bool = False,
    oauth: bool = False,
) -> Artifacts:
    """Make every artifact available; fast when all are cached. ``kafka=False`` (a stack
    without Kafka brokers, NATS only) skips resolving Kafka's classpath; ``sqs`` resolves
    ElasticMQ's."""
    libs = provision_kafka() if kafka else kafka_libs_dir(layout.KAFKA_VERSION)
    toxiproxy, flavour = provision_toxiproxy()
    rabbit = locate_rabbitmq() if rabbitmq else RABBITMQ_BIN_DIR
    postgres_bin = locate_postgres() if postgres else None
    server, server_flavour = provision_pubsub() if pubsub else (None, "")
    elasticmq = provision_elasticmq() if sqs else None
    oauth_libs = provision_oauth() if oauth else None
    return Artifacts(
        libs, toxiproxy, rabbit, flavour, postgres_bin, server, server_flavour, elasticmq,
        oauth_libs,
    )  # fmt: skip


__all__ = [
    "Artifacts",
    "build_pubsub_fallback",
    "elasticmq_libs_dir",
    "kafka_libs_dir",
    "locate_postgres",
    "locate_rabbitmq",
    "provision",
    "provision_elasticmq",
    "provision_oauth",
    "provision_pubsub",
    "toxiproxy_path",
]
