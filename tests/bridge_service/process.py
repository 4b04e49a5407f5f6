"""Run the bridge as operators do: ``auren-bridge serve`` in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.services.base import ManagedProcess, free_port, wait_until

BIN = Path(sys.executable).parent


@dataclass
class BridgeProcess:
    env: dict[str, str]
    workdir: Path
    port: int = 0
    env_file: str = os.devnull
    """The ``--env-file`` given to the bridge (none by default)."""
    args: tuple[str, ...] = ()
    """Extra arguments after ``serve`` (``--workers 2``...)."""
    _proc: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "bridge.log"

    def start(self, wait_healthy: bool = True) -> BridgeProcess:
        self.port = self.port or free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "DATA_DIR": str(self.workdir / "data"),
            **self.env,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
        }
        self._proc = ManagedProcess(
            [str(BIN / "auren-bridge"), "--env-file", self.env_file, "serve", *self.args],
            log=self.log,
            env=env,
            cwd=self.workdir,
        )
        proc = self._proc.start()
        want = {200} if wait_healthy else {200, 503}
        wait_until(
            lambda: httpx.get(f"{self.url}/health", timeout=2).status_code in want,
            timeout=60,
            what=f"bridge on {self.url}",
            interval=0.1,
            proc=proc,
            log=self.log,
        )
        return self

    def health(self) -> dict[str, object]:
        body: dict[str, object] = httpx.get(f"{self.url}/health", timeout=5).json()
        return body

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self._proc is not None:
            self._proc.signal(signal.SIGKILL)
            assert self._proc.proc is not None
            self._proc.proc.wait(10)
            self._proc = None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def running(self) -> bool:
        return self._proc is not None and self._proc.running()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def returncode(self) -> int | None:
        assert self._proc is not None
        assert self._proc.proc is not None
        try:
            return self._proc.proc.wait(30)
        except subprocess.TimeoutExpired:
            return None
