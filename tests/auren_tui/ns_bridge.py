"""The bridge as it runs on the server: ``auren-bridge serve`` inside a network
namespace, answering only there (``BridgeProcess`` binds the root namespace).

Part of the server stack (server_stack.py); ``status`` asks it from inside.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from auren_tui.core.catalog import DEFAULT_CATALOG
from tests.services.base import ManagedProcess, wait_until
from tests.services.netns import ServerNamespace

BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"  # inside the namespace
PORT = next(s.port for s in DEFAULT_CATALOG if s.name == "bridge")

# Run inside the namespace: print the HTTP status of a GET (0 when nothing answers).
_STATUS = (
    "import sys, urllib.request, urllib.error\n"
    "try:\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)\n"
    "except urllib.error.HTTPError as exc:\n"
    "    print(exc.code)\n"
    "except OSError:\n"
    "    print(0)\n"
)


@dataclass
class NsBridge:
    """The bridge on ``127.0.0.1:port`` in ``ns``; ``start`` returns once it answers /health."""

    ns: ServerNamespace
    env: dict[str, str]
    workdir: Path
    port: int = PORT
    _proc: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "bridge.log"

    def start(self) -> NsBridge:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "DATA_DIR": str(self.workdir / "data"),
            **self.env,
            "PORT": str(self.port),
            "HOST": LOOPBACK,
        }
        self._proc = ManagedProcess(
            [str(BIN / "auren-bridge"), "--env-file", os.devnull, "serve"],
            log=self.log,
            env=env,
            cwd=self.workdir,
            netns=self.ns.name,
        )
        proc = self._proc.start()
        wait_until(
            lambda: self.status("/health") == 200,
            timeout=60,
            what=f"bridge on {self.url} in {self.ns.name}",
            interval=0.2,
            proc=proc,
            log=self.log,
        )
        return self

    def status(self, path: str) -> int:
        """HTTP status of ``GET path`` as seen inside the namespace (0: no answer)."""
        out = self.ns.exec([sys.executable, "-c", _STATUS, self.url + path], timeout=15)
        return int(out.stdout.strip() or 0)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
