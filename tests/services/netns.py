"""A "server" network namespace joined to the root namespace by a veth pair.

The root side gets ``host_ip`` (10.203.X.1/30), the namespace side
``server_ip`` (10.203.X.2/30) with a random X. Services start inside it with
e.g. ``Redis(host=ns.server_ip, netns=ns.name)`` and are reached from the root
namespace at ``ns.server_ip``.

``link_namespaces(a, b)`` joins two such namespaces directly (a 10.204.X.0/30
veth pair, no root-side address). IP forwarding stays off everywhere, so a
namespace reached only through another one (a server behind a bastion) is not
reachable from the root namespace at its link address.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services.base import (
    ServiceUnavailable,
    find_binary,
    netns_prefix,
    refuse_in_fast_tier,
    running,
    wait_until,
)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if check and out.returncode != 0:
        raise ServiceUnavailable(f"ip {' '.join(args)} failed: {out.stderr.strip()}")
    return out


def _used_third_octets(prefix: str = "10.203.", netns: str | None = None) -> set[int]:
    """X of every ``prefix`` X.* address configured in the root namespace (or ``netns``)."""
    inside = ["-n", netns] if netns else []
    used = set()
    for line in _ip(*inside, "-o", "-4", "addr", "show").stdout.splitlines():
        for word in line.split():
            if word.startswith(prefix):
                with contextlib.suppress(ValueError, IndexError):
                    used.add(int(word.split(".")[2]))
    return used


def namespaces() -> list[str]:
    """Names listed by ``ip netns list``."""
    return [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()]


@dataclass
class ServerNamespace:
    """One network namespace with a veth link to the root namespace."""

    name: str = ""
    host_ip: str = ""
    server_ip: str = ""
    host_if: str = ""
    server_if: str = ""
    prefix_len: int = 30
    _created: bool = field(default=False, repr=False)

    def start(self) -> ServerNamespace:
        refuse_in_fast_tier("a network namespace")
        find_binary("ip", "iproute2")
        if os.geteuid() != 0:
            raise ServiceUnavailable("netns: creating network namespaces needs root")
        suffix = secrets.token_hex(3)
        self.name = self.name or f"auren-srv-{suffix}"
        # Interface names are limited to 15 characters.
        self.host_if = f"aurh-{suffix}"
        self.server_if = f"aurs-{suffix}"
        free = sorted(set(range(256)) - _used_third_octets())
        if not free:
            raise ServiceUnavailable("netns: no free 10.203.X.0/30 subnet")
        x = random.choice(free)
        self.host_ip = f"10.203.{x}.1"
        self.server_ip = f"10.203.{x}.2"
        try:
            _ip("netns", "add", self.name)
            self._created = True
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.server_if)
            _ip("link", "set", self.server_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/{self.prefix_len}", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            inside = ["-n", self.name]
            _ip(*inside, "link", "set", "lo", "up")
            _ip(
                *inside, "addr", "add", f"{self.server_ip}/{self.prefix_len}", "dev", self.server_if
            )
            _ip(*inside, "link", "set", self.server_if, "up")
            # Carrier comes up asynchronously; wait until the link is usable.
            wait_until(
                lambda: (
                    "LOWER_UP" in _ip("-n", self.name, "link", "show", self.server_if).stdout
                    and "LOWER_UP" in _ip("link", "show", self.host_if).stdout
                ),
                timeout=10,
                what=f"veth {self.host_if}<->{self.server_if}",
            )
        except BaseException:
            self.close()
            raise
        return self

    def exec(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace (captured text output, no check by default)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("check", False)
        kwargs.setdefault("timeout", 60)
        return subprocess.run([*netns_prefix(self.name), *argv], **kwargs)

    @property
    def etc_dir(self) -> Path:
        """``ip netns exec`` bind-mounts the files here over ``/etc`` for what it runs."""
        return Path("/etc/netns") / self.name

    def add_hosts(self, names: dict[str, str]) -> None:
        """Names only the namespace resolves (its own ``/etc/hosts``), as a docker
        network's names exist only on the server. Applies to processes started
        afterwards."""
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", *(f"{ip} {name}" for name, ip in names.items())]
        (self.etc_dir / "hosts").write_text("\n".join(lines) + "\n")

    def exists(self) -> bool:
        return bool(self.name) and self.name in namespaces()

    def close(self) -> None:
        """Remove the namespace (which deletes the veth pair) and the root-side link."""
        if not self._created:
            return
        if self.name and self.etc_dir.exists():
            shutil.rmtree(self.etc_dir, ignore_errors=True)
        if self.host_if:
            _ip("link", "del", self.host_if, check=False)
        if self.exists():
            _ip("netns", "del", self.name, check=False)
        self._created = False
        if self.exists():
            raise RuntimeError(f"netns: could not remove namespace {self.name}")


@dataclass
class NamespaceLink:
    """A veth pair between two namespaces: ``a_ip`` in namespace ``a``, ``b_ip`` in ``b``.

    Made by ``link_namespaces()``. Deleting either namespace deletes it too.
    """

    a: str
    b: str
    a_if: str
    b_if: str
    a_ip: str
    b_ip: str
    prefix_len: int = 30

    @property
    def network(self) -> str:
        """The link's subnet, e.g. ``10.204.7.0/30``."""
        return f"{self.a_ip.rsplit('.', 1)[0]}.0/{self.prefix_len}"

    def exists(self) -> bool:
        listed = namespaces()
        return any(
            ns in listed and _ip("-n", ns, "link", "show", dev, check=False).returncode == 0
            for ns, dev in ((self.a, self.a_if), (self.b, self.b_if))
        )

    def close(self) -> None:
        """Delete the pair (either end takes the other with it). Idempotent."""
        listed = namespaces()
        for ns, dev in ((self.a, self.a_if), (self.b, self.b_if)):
            if ns in listed:
                _ip("-n", ns, "link", "del", dev, check=False)
        if self.exists():
            raise RuntimeError(f"netns: could not remove link {self.a_if}<->{self.b_if}")


def link_namespaces(a: ServerNamespace, b: ServerNamespace) -> NamespaceLink:
    """Join two started namespaces with a veth pair on a fresh 10.204.X.0/30.

    ``a`` gets 10.204.X.1 and ``b`` 10.204.X.2, with X used by no address in
    the root namespace or any named namespace. Nothing forwards between links:
    this adds a path between ``a`` and ``b`` only. ``close()`` removes it.
    """
    if a.name == b.name:
        raise ValueError("netns: link_namespaces needs two different namespaces")
    listed = namespaces()
    for side in (a, b):
        if side.name not in listed:
            raise ServiceUnavailable(f"netns: namespace {side.name or '(unnamed)'} is not started")
    used = _used_third_octets("10.204.") | _used_third_octets("10.204.", a.name)
    used |= _used_third_octets("10.204.", b.name)
    for name in set(listed) - {a.name, b.name}:
        # Other runs' namespaces may be gone by now.
        with contextlib.suppress(ServiceUnavailable):
            used |= _used_third_octets("10.204.", name)
    free = sorted(set(range(256)) - used)
    if not free:
        raise ServiceUnavailable("netns: no free 10.204.X.0/30 subnet")
    x = random.choice(free)
    suffix = secrets.token_hex(3)
    link = NamespaceLink(
        a=a.name,
        b=b.name,
        a_if=f"aurla-{suffix}",
        b_if=f"aurlb-{suffix}",
        a_ip=f"10.204.{x}.1",
        b_ip=f"10.204.{x}.2",
    )
    try:
        # Created inside a with its peer directly in b: it never appears in the root namespace.
        peer = ["peer", "name", link.b_if, "netns", b.name]
        _ip("-n", a.name, "link", "add", link.a_if, "type", "veth", *peer)
        for ns, dev, ip in ((a.name, link.a_if, link.a_ip), (b.name, link.b_if, link.b_ip)):
            _ip("-n", ns, "addr", "add", f"{ip}/{link.prefix_len}", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
        wait_until(
            lambda: (
                "LOWER_UP" in _ip("-n", a.name, "link", "show", link.a_if).stdout
                and "LOWER_UP" in _ip("-n", b.name, "link", "show", link.b_if).stdout
            ),
            timeout=10,
            what=f"veth {link.a_if}<->{link.b_if}",
        )
    except BaseException:
        link.close()
        raise
    return link


@pytest.fixture(scope="session")
def server_ns() -> Iterator[ServerNamespace]:
    yield from running(ServerNamespace())
