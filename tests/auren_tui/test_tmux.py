"""The tests' private tmux: a new terminal right after closing the last one works."""

from __future__ import annotations

import os
from pathlib import Path

from tests.auren_tui.tmux import Tmux, running


def test_a_session_starts_right_after_the_server_was_killed(tmp_path: Path) -> None:
    # test_demo closes the terminal under the demo and starts the next one at once;
    # kill-server only asks the server to exit, and a new-session reaching the dying
    # server failed ("server exited unexpectedly", 1 CI run in 2).
    tmux = Tmux(f"helper-{os.getpid()}-{tmp_path.name}", {"PATH": "/usr/bin:/bin"})
    try:
        for n in range(20):
            tmux.start(f"s{n}", "sleep 60")
            servers = tmux.server_pids
            assert servers, "the server's pid is known"
            tmux.kill_server()
            assert not any(running(pid) for pid in servers)
    finally:
        tmux.kill_server()
