"""A small container for the demo, so the restore flow can be tried for real.

Only when a Docker Engine answers (``$DOCKER_HOST`` or /var/run/docker.sock)
and a static busybox is on this machine (Debian: busybox-static): the image
is built locally from it (no registry needed) — ``busybox httpd`` answering
``GET /health`` — and run as ``auren-demo-web`` with a Docker healthcheck
and restart policy unless-stopped. Its known-good spec is captured at once.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tarfile
from pathlib import Path
from typing import Any

from auren_tui.demo.kafka import free_port

NAME = "auren-demo-web"
IMAGE = "auren-demo/web:1"
BUSYBOX = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
SERVE = b"""#!/bin/sh
PORT="${PORT:-8080}"
httpd -f -p "$PORT" -h /www &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
wait "$child"
"""
CHANGES = [
    "ENV PATH=/bin",
    'CMD ["/bin/sh", "/serve.sh"]',
    "HEALTHCHECK --interval=2s --timeout=2s --retries=3 "
    "CMD wget -q -O- http://127.0.0.1:${PORT:-8080}/health || exit 1",
]


def docker_url() -> str | None:
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    sock = Path("/var/run/docker.sock")
    return f"unix://{sock}" if sock.exists() else None


def _static_busybox() -> Path | None:
    """Debian's statically linked busybox (it must run in an otherwise empty image)."""
    for path in BUSYBOX:
        if path.is_file() and is_static_elf(path):
            return path
    return None


def is_static_elf(path: Path) -> bool:
    """An ELF file without a PT_INTERP (dynamic loader) program header."""
    with path.open("rb") as f:
        hdr = f.read(64)
        if len(hdr) < 64 or hdr[:4] != b"\x7fELF":
            return False
        end = "<" if hdr[5] == 1 else ">"
        if hdr[4] == 2:  # 64-bit
            phoff = struct.unpack_from(end + "Q", hdr, 32)[0]
            phentsize, phnum = struct.unpack_from(end + "HH", hdr, 54)
        else:
            phoff = struct.unpack_from(end + "I", hdr, 28)[0]
            phentsize, phnum = struct.unpack_from(end + "HH", hdr, 42)
        f.seek(phoff)
        for _ in range(phnum):
            entry = f.read(phentsize)
            if len(entry) < 4 or struct.unpack_from(end + "I", entry, 0)[0] == 3:
                return False
    return True


def _rootfs(busybox: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes = b"", mode: int = 0o644, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
            elif name.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for folder in ("bin/", "www/", "tmp/"):
            add(folder)
        add("bin/busybox", busybox.read_bytes(), 0o755)
        for applet in ("sh", "httpd", "wget", "kill", "sleep", "cat", "ls", "ps", "env"):
            add(f"bin/{applet}", link="busybox")
        add("www/health", b'{"status":"healthy"}\n')
        add("serve.sh", SERVE, 0o755)
    return buf.getvalue()


class DemoWeb:
    def __init__(self, client: Any, url: str, port: int) -> None:
        self.client = client
        self.docker_url = url
        self.port = port
        self.name = NAME

    @classmethod
    def try_start(cls, workdir: Path, notes: list[str]) -> DemoWeb | None:
        url = docker_url()
        if url is None:
            notes.append("no Docker Engine here: the Containers screen explains how to get one")
            return None
        busybox = _static_busybox()
        if busybox is None:
            notes.append("no static busybox (apt-get install busybox-static): no demo container")
            return None
        try:
            from auren_tui.core.docker.client import docker_client

            client = docker_client(url, timeout=30, keep_alive=True)
            client.ping()
        except Exception as exc:
            notes.append(f"Docker Engine at {url} did not answer ({type(exc).__name__})")
            return None
        try:
            web = cls(client, url, free_port())
            web._run(busybox)
        except Exception as exc:
            notes.append(f"the demo container did not start: {type(exc).__name__}: {exc}")
            client.close()
            return None
        return web

    def _run(self, busybox: Path) -> None:
        name, _, tag = IMAGE.rpartition(":")
        self.client.api.import_image_from_data(
            _rootfs(busybox), repository=name, tag=tag, changes=CHANGES
        )
        with contextlib.suppress(Exception):
            self.client.containers.get(NAME).remove(force=True)
        self.client.containers.run(
            IMAGE, detach=True, name=NAME, network_mode="host",
            environment={"PORT": str(self.port), "MODE": "demo"},
            restart_policy={"Name": "unless-stopped"},
        )  # fmt: skip

    def stop(self) -> None:
        import docker.errors

        prefix = NAME + "-failed-"
        with contextlib.suppress(docker.errors.DockerException):
            for c in self.client.containers.list(all=True):
                if c.name == NAME or c.name.startswith(prefix) or c.name.startswith(NAME + "."):
                    c.remove(force=True)
        self.client.close()
