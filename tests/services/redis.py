"""Throwaway Redis: ``redis-server --port N --save ''`` in a temp dir."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.services.base import (
    ManagedProcess,
    find_binary,
    free_port,
    make_tempdir,
    remove_tree,
    tcp_open,
    wait_until,
)


@dataclass
class Redis:
    host: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    workdir: Path | None = None
    _proc: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> Redis:
        binary = find_binary("redis-server", "redis-server")
        self.port = self.port or free_port()
        if self.workdir is None:
            self.workdir = make_tempdir("redis")
        log = self.workdir / "redis.log"
        self._proc = ManagedProcess(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
            ],
            log=log,
            netns=self.netns,
        )
        proc = self._proc.start()
        wait_until(
            lambda: self.ping(),
            timeout=15,
            what=f"redis on {self.host}:{self.port}",
            proc=proc,
            log=log,
        )
        return self

    def ping(self) -> bool:
        """A real PING over RESP (the harness must not depend on redis-py)."""
        import socket

        if self.netns is None and not tcp_open(self.host, self.port):
            return False
        if self.netns is not None:
            import subprocess

            out = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.netns,
                    "redis-cli",
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "PING",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            return out.stdout.strip() == "PONG"
        with socket.create_connection((self.host, self.port), timeout=1) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")

    def stop(self) -> None:
        """Stop the server (``start()`` brings it back on the same port)."""
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def close(self) -> None:
        self.stop()
        remove_tree(self.workdir)
