"""A whole AUREN server in a network namespace, reached only through its sshd.

``ServerStack.start()`` builds, inside a fresh ``ServerNamespace``:

- PostgreSQL, Redis, Kafka and Prometheus on ``127.0.0.1`` at the catalog's
  own ports (5432, 6379, 9092, 9090): on the real server those ports only
  mean something inside the machine, so the dashboard can reach them only
  through the SSH tunnels. Kafka advertises ``auren-kafka:9092``, a name only
  the namespace resolves (its own hosts file), as on the real server, where it
  is a Docker network's name: a client that reaches only the bootstrap port
  cannot read past it;
- the bridge (``auren-bridge serve`` on 127.0.0.1:8889, ns_bridge.py: PostgreSQL
  storage, the namespace's Redis, Kafka through ``auren-kafka:9092``, publishing
  to the default topic ``biometric-events``), scraped by that Prometheus;
- a Docker Engine whose containers live in the namespace, running the test
  image as ``biometric-production`` (the catalog's container for the
  biometric service) on port 8888;
- sshd on ``ns.server_ip``, its users in the ``docker`` group so that
  ``docker system dial-stdio`` works for them.

The operator's catalog lists a container for every service. Only the
biometric service runs in Docker here, so the profile overrides the other
services' ``container`` to ``""`` (no container expected); NEUROS and
Grafana are not run and not in the catalog.

One stack serves the whole session (the ``stack`` fixture in conftest.py): a test
that stops a part of it starts it again, and waits for it, before it ends.

Also the small async helpers the pilot tests share (``wait_for``, cells).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from auren_tui.app import AurenApp
from auren_tui.core.catalog import DEFAULT_CATALOG, Catalog
from auren_tui.core.config import AuthKind, Profile
from auren_tui.core.paths import Locations
from auren_tui.widgets.service_table import ServiceTable
from auren_tui.widgets.status_bar import StatusBar
from tests.auren_tui.ns_bridge import LOOPBACK, NsBridge
from tests.bridge_service.conftest import secret_env
from tests.services.base import make_tempdir, remove_tree, wait_until
from tests.services.docker import DockerEngine, build_test_image, wait_container_health
from tests.services.kafka import Kafka
from tests.services.netns import ServerNamespace
from tests.services.postgres import Postgres
from tests.services.prometheus import Prometheus
from tests.services.redis import Redis
from tests.services.sshd import Sshd

KAFKA_NAME = "auren-kafka"  # what the broker advertises; resolves only inside the namespace
TOPIC = "biometric-events"  # the bridge's topic: its default, and the CLI's

# The services this stack runs, by catalog name; the only one in Docker is "biometric".
RUN = ("biometric", "bridge", "postgres", "redis", "kafka", "prometheus")
IN_DOCKER = "biometric"
SPECS = {s.name: s for s in DEFAULT_CATALOG}
CONTAINER = SPECS[IN_DOCKER].container  # "biometric-production"
OVERRIDES: dict[str, dict[str, object]] = {
    name: {"container": ""} for name in RUN if name != IN_DOCKER
}
CATALOG = Catalog(tuple(s for s in DEFAULT_CATALOG if s.name in RUN)).with_overrides(OVERRIDES)

# Run inside the namespace: exit 0 when the broker at sys.argv[1] serves metadata.
_METADATA = (
    "import asyncio, sys\n"
    "from aiokafka.admin import AIOKafkaAdminClient\n"
    "async def main():\n"
    "    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000)\n"
    "    await admin.start()\n"
    "    try:\n"
    "        await admin.list_topics()\n"
    "    finally:\n"
    "        await admin.close()\n"
    "asyncio.run(main())\n"
)


@dataclass
class ServerStack:
    """Everything of one server (see the module docstring); ``close()`` removes it all."""

    ns: ServerNamespace
    workdir: Path
    postgres: Postgres
    redis: Redis
    kafka: Kafka
    prometheus: Prometheus
    engine: DockerEngine
    sshd: Sshd
    bridge: NsBridge

    @classmethod
    def start(cls) -> ServerStack:
        """Start it all, or clean up what had started and raise."""
        ns = ServerNamespace().start()
        try:
            # Before anything starts in the namespace: the hosts file applies to later processes.
            ns.add_hosts({KAFKA_NAME: LOOPBACK})
            stack = cls._parts(ns)
        except BaseException:
            ns.close()
            raise
        try:
            stack._start()
        except BaseException:
            stack.close()
            raise
        return stack

    @classmethod
    def _parts(cls, ns: ServerNamespace) -> ServerStack:
        workdir = make_tempdir("stack")
        postgres = Postgres(host=LOOPBACK, port=SPECS["postgres"].port, netns=ns.name)
        redis = Redis(host=LOOPBACK, port=SPECS["redis"].port, netns=ns.name)
        port = SPECS["kafka"].port
        kafka = Kafka(
            host=LOOPBACK,
            port=port,
            advertised_host=KAFKA_NAME,
            advertised_port=port,
            netns=ns.name,
        )
        database = f"bridge_{uuid.uuid4().hex[:10]}"
        bridge_env = {
            **secret_env(),
            "DATABASE_URL": postgres.dsn.rsplit("/", 1)[0] + f"/{database}",
            "REDIS_URL": redis.url,
            "KAFKA_BOOTSTRAP_SERVERS": f"{KAFKA_NAME}:{port}",
            "KAFKA_TOPIC": TOPIC,
            "TERRA_CONSUMER_ENABLED": "false",
        }
        (workdir / "bridge").mkdir()
        return cls(
            ns=ns,
            workdir=workdir,
            postgres=postgres,
            redis=redis,
            kafka=kafka,
            prometheus=Prometheus(
                targets=[f"{LOOPBACK}:{SPECS['bridge'].port}"],
                job_name="biometric-bridge",
                host=LOOPBACK,
                port=SPECS["prometheus"].port,
                netns=ns.name,
            ),
            engine=DockerEngine(netns=ns.name),
            sshd=Sshd(host=ns.server_ip, netns=ns.name, extra_groups=("docker",)),
            bridge=NsBridge(ns, bridge_env, workdir / "bridge"),
        )

    def _start(self) -> None:
        # Independent of each other: started side by side (Kafka's JVM dominates).
        with ThreadPoolExecutor(6, thread_name_prefix="stack-start") as pool:
            futures = [
                pool.submit(s.start)
                for s in (self.postgres, self.redis, self.kafka, self.prometheus, self.sshd)
            ]
            futures.append(pool.submit(self._start_docker))
            for f in futures:
                f.result()
        database = self.bridge.env["DATABASE_URL"].rsplit("/", 1)[1]
        self.postgres.psql(f"create database {database}")
        self.bridge.start()

    def _start_docker(self) -> None:
        self.engine.start()
        # The engine's dir is 0700 root: the SSH users (group docker) must reach the socket.
        assert self.engine.workdir is not None
        self.engine.workdir.chmod(0o711)
        client = self.engine.client()
        try:
            image = build_test_image(client)
            container = client.containers.run(
                image,
                detach=True,
                network_mode="host",  # the namespace's network: 127.0.0.1 is "the server"
                environment={"PORT": str(SPECS[IN_DOCKER].port)},
                name=CONTAINER,
            )
            wait_container_health(container, "healthy", timeout=30)
        finally:
            client.close()

    def kafka_answers(self) -> bool:
        """Whether the broker serves metadata, asked inside the server by its advertised name."""
        bootstrap = self.bridge.env["KAFKA_BOOTSTRAP_SERVERS"]
        asked = self.ns.exec([sys.executable, "-c", _METADATA, bootstrap], timeout=30)
        return asked.returncode == 0

    def restart_kafka(self) -> None:
        """Start the broker a test stopped, and wait until it answers again."""
        self.kafka.start()
        wait_until(self.kafka_answers, timeout=60, what="kafka answering again", interval=0.5)

    # -- what an operator's config says ---------------------------------------------

    def known_hosts(self, path: Path) -> Path:
        """A known_hosts file that trusts this server's sshd."""
        return self.sshd.write_known_hosts(path)

    def profile(self, name: str, known_hosts: Path, auth: AuthKind = "key") -> Profile:
        """The profile an operator would write for this server (key or password login)."""
        return Profile(
            name=name,
            host=self.ns.server_ip,
            port=self.sshd.port,
            user=self.sshd.key_user if auth == "key" else self.sshd.password_user,
            auth=auth,
            key_file=self.sshd.key_path if auth == "key" else None,
            known_hosts=known_hosts,
            docker_host=self.engine.base_url,
            catalog=CATALOG,
            service_overrides=OVERRIDES,
        )

    def close(self) -> None:
        """Stop everything (the namespace last); raise the first failure after trying all."""
        errors: list[BaseException] = []
        for stop in (
            self.bridge.stop,
            self.prometheus.close,
            self.sshd.close,
            self.engine.close,
            self.kafka.close,
            self.redis.close,
            self.postgres.close,
        ):
            try:
                stop()
            except Exception as exc:
                errors.append(exc)
        try:
            self.ns.close()
        except Exception as exc:
            errors.append(exc)
        remove_tree(self.workdir)
        if errors:
            raise errors[0]


def locations(root: Path) -> Locations:
    """auren-tui's directories under ``root`` (config, data, state, cache)."""
    return Locations(root / "config", root / "data", root / "state", root / "cache")


def sshd_log_since(server: Sshd, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode(errors="replace")


def host_fingerprint(server: Sshd) -> str:
    """``SHA256:...`` of the server's host key, as ``ssh-keygen -l`` prints it."""
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(server.host_key_path.with_suffix(".pub")), "-E", "sha256"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()[1]


def other_public_key(directory: Path) -> str:
    """``ssh-ed25519 AAAA...`` of a freshly generated key (a host key that is not the server's)."""
    path = directory / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


# -- pilot helpers ----------------------------------------------------------------------


async def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str | Callable[[], str] = ""
) -> None:
    """Await ``predicate`` (checked every 20 ms) for at most ``timeout`` seconds.

    ``what`` names the condition in the failure; a callable is called then (the state seen).
    """
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        said = what() if callable(what) else what
        raise AssertionError(f"not within {timeout:g} s: {said or predicate}") from None


def cell(table: ServiceTable, row: str, column: int) -> str:
    """The text of one cell (0: service, 1: health, 2: container, 5: check detail)."""
    with contextlib.suppress(Exception):
        return str(table.get_row(row)[column])
    return ""


def health_column(table: ServiceTable) -> dict[str, str]:
    """Service name → the health shown on screen."""
    return {str(key.value): cell(table, str(key.value), 1) for key in table.rows}


def status_line(bar: StatusBar) -> str:
    return str(bar.render())


def snapshot_rows(table: ServiceTable) -> list[list[str]]:
    """Every row as shown (age-dependent columns left out: uptime, latency, trend)."""
    keep = (0, 1, 2, 4, 5)
    return [
        [str(c) for i, c in enumerate(table.get_row_at(r)) if i in keep]
        for r in range(table.row_count)
    ]


def all_healthy(app: AurenApp) -> bool:
    table = app.dashboard.query_one(ServiceTable)
    last = app.dashboard.last
    return (
        last is not None
        and not last.errors
        and set(health_column(table)) == set(RUN)
        and set(health_column(table).values()) == {"HEALTHY"}
        and not table.has_class("stale")
    )


async def assert_whole_stack_healthy(app: AurenApp) -> None:
    dash = app.dashboard
    await wait_for(lambda: all_healthy(app), 30, "every row HEALTHY")
    table = dash.query_one(ServiceTable)
    assert status_line(dash.query_one(StatusBar)).split()[1:3] == ["●", "connected"]
    # The one service in Docker shows its container, as the server's engine sees it.
    assert cell(table, "biometric", 2) == "running (healthy)"
    assert "PONG" in cell(table, "redis", 5)
    assert "ApiVersions ok" in cell(table, "kafka", 5)
    assert "accepting connections" in cell(table, "postgres", 5)
    assert cell(table, "bridge", 5) == "200 OK (healthy)"
    # The bridge panel from the Prometheus inside the server (it scrapes every second).
    await wait_for(
        lambda: (
            dash.last is not None
            and dash.last.bridge is not None
            and dash.last.bridge.source == "prometheus"
            and dash.last.bridge.circuit_state == "closed"
        ),
        30,
        "bridge figures from prometheus",
    )
