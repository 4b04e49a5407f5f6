"""The local demo stack: everything ``make run`` / ``auren-tui demo`` starts.

- the bridge (``auren-bridge serve``) on its embedded defaults (SQLite),
  with webhook secrets generated for this run;
- Apache Kafka (demo/kafka.py) with ``biometric-events`` and
  ``terra-biometric-events``; the bridge publishes to the first and consumes
  Terra records from the second;
- a generator sending signed Oura, WHOOP and HealthKit webhooks and Terra
  records, so every screen has live data;
- when a Docker Engine answers and the image can be built, a small
  container (``auren-demo-web``) so the restore flow can be tried for real.

Everything lives under one directory (``root``) and stops with ``stop()``:
no process or port is left behind.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from auren_tui.core.catalog import Catalog, ServiceSpec
from auren_tui.core.config import Profile
from auren_tui.core.process import alive
from auren_tui.demo.generator import Generator
from auren_tui.demo.kafka import DemoError, LocalKafka, find_libs, free_port, stop_process
from auren_tui.demo.web import DemoWeb

TOPICS = ("biometric-events", "terra-biometric-events")
PROVIDERS = ("oura", "whoop", "healthkit")


class DemoStack:
    def __init__(
        self,
        root: Path,
        kafka_libs: Path | None = None,
        docker: bool = True,
        rate: float = 4.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root
        self.kafka_libs = kafka_libs
        self.docker = docker
        self.rate = rate
        self.say = say or (lambda line: print(line, file=sys.stderr))
        self.notes: list[str] = []
        self.kafka: LocalKafka | None = None
        self.bridge: subprocess.Popen[bytes] | None = None
        self.bridge_port = 0
        self.generator: Generator | None = None
        self.web: DemoWeb | None = None
        self.secrets = {
            "oura": secrets.token_hex(16),
            "whoop": secrets.token_hex(16),
            "healthkit": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        }

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> DemoStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        reaped = reap_leftovers(self.root)
        if reaped:
            self.notes.append(
                f"stopped {reaped} process(es) left by an earlier demo run that did not end"
            )
        for provider, value in self.secrets.items():
            os.environ[f"AUREN_TUI_{provider.upper()}_SECRET"] = value  # the forms sign with these
        libs = find_libs(self.kafka_libs)
        if libs is None:
            self.notes.append(
                "Kafka not started: no Kafka jars (run `make run`, or pass --kafka-libs DIR)"
            )
        elif shutil.which("java") is None:
            self.notes.append(
                "Kafka not started: no Java (apt-get install openjdk-17-jre-headless)"
            )
        else:
            self.say("starting Kafka …")
            self.kafka = LocalKafka(self.root / "kafka", libs)
            self.kafka.start()
            _create_topics(self.kafka.bootstrap)
        self.say("starting the bridge …")
        self._start_bridge()
        if self.docker:
            self.web = DemoWeb.try_start(self.root / "web", self.notes)
        self.generator = Generator(
            f"127.0.0.1:{self.bridge_port}",
            self.kafka.bootstrap if self.kafka else None,
            self.secrets,
            rate=self.rate,
        )
        self.generator.start()

    def _start_bridge(self) -> None:
        exe = Path(sys.executable).parent / "auren-bridge"
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "bridge_service"]
        self.bridge_port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "DATA_DIR": str(self.root / "bridge"),
            "HOST": "127.0.0.1",
            "PORT": str(self.bridge_port),
            "LOG_LEVEL": "WARNING",
            **{f"{p.upper()}_WEBHOOK_SECRET": v for p, v in self.secrets.items()},
        }
        if self.kafka is not None:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.kafka.bootstrap
        log = (self.root / "bridge.log").open("wb")  # this start's lines only
        self.bridge = subprocess.Popen(
            [*command, "--env-file", os.devnull, "serve"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.root, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{self.bridge_port}/health"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.bridge.poll() is not None:
                raise DemoError(
                    f"the bridge exited at start (see {self.root / 'bridge.log'}); "
                    "is the bridge extra installed? pip install 'auren-tui[bridge]'"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1).status_code in (200, 503):
                    return
            time.sleep(0.2)
        raise DemoError("the bridge did not answer within 60 s")

    def stop(self) -> None:
        if self.generator is not None:
            self.generator.stop()
            self.generator = None
        stop_process(self.bridge)
        self.bridge = None
        if self.web is not None:
            self.web.stop()
            self.web = None
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what the workstation sees ----------------------------------------------------------

    def catalog(self) -> Catalog:
        services = [
            ServiceSpec("bridge", "Biometric bridge", "", self.bridge_port, role="bridge"),
        ]
        if self.kafka is not None:
            services.append(
                ServiceSpec(
                    "kafka", "Kafka", "", self.kafka.port, check="kafka", path="", role="kafka"
                )
            )
        if self.web is not None:
            services.append(ServiceSpec("web", "Demo web", self.web.name, self.web.port))
        return Catalog(tuple(services))

    def profile(self) -> Profile:
        return Profile(
            name="demo",
            direct=True,
            docker_host=self.web.docker_url if self.web else None,
            catalog=self.catalog(),
        )

    def status(self) -> dict[str, Any]:
        return {
            "bridge": f"127.0.0.1:{self.bridge_port}",
            "kafka": self.kafka.bootstrap if self.kafka else None,
            "web": self.web.name if self.web else None,
            "sent": self.generator.sent if self.generator else 0,
            "notes": self.notes,
        }


def reap_leftovers(root: Path, timeout: float = 10) -> int:
    """Stop the processes an earlier demo run left behind (the app SIGKILLed, a crash):
    its Kafka (whose command line names files under ``root``) and its bridge (an
    ``auren-bridge`` whose working dir is ``root``). Returns how many there were.
    Only this user's processes are looked at; a shell someone opened in the
    demo's folder is not one of them."""
    mine = os.getuid()
    here = str(root.resolve())
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != mine:
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        bridge = cwd == here and ("auren-bridge" in cmdline or "bridge_service" in cmdline)
        if here + "/" in cmdline or bridge:
            found.append(int(entry.name))
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in found):
        time.sleep(0.1)
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(found)


def _create_topics(bootstrap: str) -> None:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(t, 3, 1) for t in TOPICS])
        finally:
            await admin.close()

    asyncio.run(go())
