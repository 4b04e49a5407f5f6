"""What one jump host costs: connect time, and a 10,000-record tail.

    .venv/bin/python bench/ssh_hop.py [--runs 5] [--records 10000]

Starts, with the test harness (tests/services), a "server" network namespace
running Kafka (127.0.0.1:9092 inside it) and two sshd: one on the address the
root namespace reaches directly (the baseline path), one on the server's end
of a link to a "bastion" namespace, reachable only through the bastion's
sshd (the ProxyJump path). Both paths log in with ed25519 keys from an SSH
config file, as an operator's ~/.ssh/config would.

Measured, side by side in the same run:

- connect: ``SshConnection.connect()`` (TCP, key exchange, host key check,
  login; through the bastion: all of it twice, the second inside a
  direct-tcpip channel of the first), median and max of ``--runs``;
- tail: ``auren-tui tail TOPIC --from beginning --exit-at-end --json`` of
  ``--records`` JSON records (~325 bytes, 3 partitions) over each path, end
  to end (process start to exit, output to a pipe that counts lines), best
  of ``--runs``; every record must arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from auren_tui.core.config import AppConfig, Profile, save_config  # noqa: E402
from auren_tui.core.paths import Locations  # noqa: E402
from auren_tui.core.transport.loop import TunnelLoop  # noqa: E402
from auren_tui.core.transport.ssh import SshConnection  # noqa: E402
from tests.auren_tui.kafka_util import create_topic, produce  # noqa: E402
from tests.services.kafka import Kafka  # noqa: E402
from tests.services.netns import ServerNamespace, link_namespaces  # noqa: E402
from tests.services.sshd import Sshd  # noqa: E402

BIN = Path(sys.executable).parent
INSIDE = "127.0.0.1:9092"
TOPIC = "bench-hop"


def ssh_config(path: Path, known: Path, direct: Sshd, bastion: Sshd, inner: Sshd) -> Path:
    path.write_text(
        f"Host direct\n    HostName {direct.host}\n    Port {direct.port}\n"
        f"    User {direct.key_user}\n    IdentityFile {direct.key_path}\n"
        f"Host bastion\n    HostName {bastion.host}\n    Port {bastion.port}\n"
        f"    User {bastion.key_user}\n    IdentityFile {bastion.key_path}\n"
        f"Host behind\n    HostName {inner.host}\n    Port {inner.port}\n"
        f"    User {inner.key_user}\n    IdentityFile {inner.key_path}\n"
        "    ProxyJump bastion\n"
        f"Host *\n    IdentitiesOnly yes\n    UserKnownHostsFile {known}\n"
    )
    return path


def profile(name: str, alias: str, config: Path) -> Profile:
    return Profile(name=name, ssh_host=alias, ssh_config=config)


def seed(conn: SshConnection, records: int) -> None:
    value = b'{"source":"oura","event_type":"daily_readiness.update","user_id":"u-%06d",' + (
        b'"data":{"score":%d,"pad":"' + b"x" * 200 + b'"}}'
    )

    async def go() -> None:
        await create_topic(INSIDE, TOPIC, 3)
        batch = 2000
        for start in range(0, records, batch):
            await produce(
                INSIDE,
                TOPIC,
                [
                    {"value": value % (i, i % 100), "partition": i % 3}
                    for i in range(start, min(records, start + batch))
                ],
            )

    with asyncio.Runner(loop_factory=lambda: TunnelLoop(conn)) as runner:
        runner.run(go())


def time_connect(make: Callable[[], SshConnection], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        conn = make()
        began = time.perf_counter()
        conn.connect()
        out.append(time.perf_counter() - began)
        conn.close()
    return out


def time_tail(env: dict[str, str], name: str, records: int, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        proc = subprocess.run(
            [str(BIN / "auren-tui"), "tail", TOPIC, "--profile", name, "--from", "beginning",
             "--exit-at-end", "--json"],
            env=env, capture_output=True, timeout=600, check=False,
        )  # fmt: skip
        took = time.perf_counter() - began
        lines = proc.stdout.count(b"\n")
        if proc.returncode != 0 or lines != records:
            raise SystemExit(
                f"tail over {name}: exit {proc.returncode}, {lines} of {records} records: "
                f"{proc.stderr.decode(errors='replace')[-300:]}"
            )
        out.append(took)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()

    server_ns, bastion_ns = ServerNamespace(), ServerNamespace()
    kafka = Kafka(host="127.0.0.1", port=9092)
    direct, bastion, inner = Sshd(), Sshd(), Sshd()
    work = Path(tempfile.mkdtemp(prefix="auren-bench-hop-"))
    link = None
    try:
        server_ns.start()
        bastion_ns.start()
        link = link_namespaces(bastion_ns, server_ns)
        kafka.netns = server_ns.name
        kafka.start()
        direct.host, direct.netns = server_ns.server_ip, server_ns.name
        bastion.host, bastion.netns = bastion_ns.server_ip, bastion_ns.name
        inner.host, inner.netns = link.b_ip, server_ns.name
        for s in (direct, bastion, inner):
            s.start()
        known = work / "known_hosts"
        known.write_text("".join(s.known_hosts_line() + "\n" for s in (direct, bastion, inner)))
        config = ssh_config(work / "ssh_config", known, direct, bastion, inner)
        paths = {"direct": "direct", "through bastion": "behind"}

        def make(alias: str) -> Callable[[], SshConnection]:
            return lambda: SshConnection(profile(alias, alias, config), lambda _n: None)

        seeder = make("direct")()
        seeder.connect()
        try:
            seed(seeder, args.records)
        finally:
            seeder.close()

        home = work / "home"
        locations = Locations(home / "config", home / "data", home / "state", home / "cache")
        cfg = AppConfig()
        for alias in paths.values():
            cfg = cfg.with_profile(profile(alias, alias, config))
        save_config(locations, cfg)
        env = {**os.environ, "AUREN_TUI_HOME": str(home)}

        connect = {label: time_connect(make(alias), args.runs) for label, alias in paths.items()}
        tail = {
            label: time_tail(env, alias, args.records, min(args.runs, 3))
            for label, alias in paths.items()
        }
    finally:
        for part in (inner, bastion, direct, kafka, link, bastion_ns, server_ns):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.close()
        with contextlib.suppress(Exception):
            subprocess.run(["rm", "-rf", str(work)], check=False)

    print(f"\nOne jump host: {args.runs} connects per path, {args.records} records tailed\n")
    print(
        f"{'path':<18}{'connect median':>16}{'connect max':>13}{'tail best':>11}{'records/s':>11}"
    )
    for label in paths:
        c, t = connect[label], min(tail[label])
        print(
            f"{label:<18}{statistics.median(c) * 1000:>13.0f} ms{max(c) * 1000:>10.0f} ms"
            f"{t:>9.2f} s{args.records / t:>11,.0f}"
        )
    extra_connect = statistics.median(connect["through bastion"]) - statistics.median(
        connect["direct"]
    )
    extra_tail = min(tail["through bastion"]) - min(tail["direct"])
    print(
        f"\nthe hop costs {extra_connect * 1000:+.0f} ms per connect and "
        f"{extra_tail:+.2f} s on the tail ({extra_tail / min(tail['direct']):+.0%})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
