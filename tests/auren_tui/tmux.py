"""A private tmux server for tests that run the real ``auren-tui`` in a terminal.

``-L`` (a socket of its own) and ``-f /dev/null`` (no user config): the program
runs in exactly the environment given, whatever tmux the machine's user runs.
``kill_server`` returns only once the server is gone: ``kill-server`` only
asks it to exit, and a ``new-session`` sent while it is still exiting reaches
the dying server and fails ("server exited unexpectedly").
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.services.base import wait_until


class Tmux:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        tmux = shutil.which("tmux")
        assert tmux is not None, "tmux is installed by scripts/system-deps.sh"
        self.base = [tmux, "-L", name, "-f", os.devnull]
        self.env = env
        self._servers: set[int] = set()

    def start(self, session: str, command: str) -> str:
        """A detached 140 x 40 terminal running ``command``."""
        subprocess.run([*self.base, "new-session", "-d", "-s", session, "-x", "140", "-y", "40",
                        command], env=self.env, check=True)  # fmt: skip
        listed = subprocess.run([*self.base, "list-sessions", "-F", "#{pid}"],
                                capture_output=True, text=True, check=False).stdout  # fmt: skip
        self._servers.update(int(pid) for pid in listed.split())
        return session

    @property
    def server_pids(self) -> set[int]:
        """The servers started since the last ``kill_server`` (one, normally)."""
        return set(self._servers)

    def screen(self, session: str) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p", "-t", session],
                              capture_output=True, text=True, check=False).stdout  # fmt: skip

    def keys(self, session: str, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", session, *keys], check=True)

    def kill_server(self) -> None:
        """Close every terminal (the programs in them get SIGHUP) and wait for the
        server to be gone."""
        subprocess.run([*self.base, "kill-server"], check=False, capture_output=True)
        servers, self._servers = self._servers, set()
        wait_until(lambda: not any(running(pid) for pid in servers), 10,
                   lambda: f"tmux server {sorted(servers)} to exit")  # fmt: skip


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
