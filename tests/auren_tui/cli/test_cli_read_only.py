"""Every server-changing command against every way to ask for read-only.

The ways: ``--read-only`` before the command, after it, the profile's
``read_only = true``, and ``[ui] read_only = true`` in config.toml. Each
combination must be refused with one line saying why, exit 1 — before
anything reaches the server. "The server" here is a listener that records
every connection: the profile's SSH port, the ``--bridge`` address and the
Docker socket all point at it, so a single byte sent anywhere is seen.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auren_tui.kafka_util import BIN


class Listener:
    """A TCP port and a unix socket that count the connections made to them."""

    def __init__(self, tmp: Path) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.unix_path = tmp / "docker.sock"
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(str(self.unix_path))
        self.unix.listen()
        self.connections = 0
        self._stop = threading.Event()
        for sock in (self.tcp, self.unix):
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.tcp.close()
        self.unix.close()


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    out = Listener(tmp_path_factory.mktemp("server"))
    yield out
    out.close()


@pytest.fixture
def listener(_server: Listener) -> Listener:
    """The module's listener, its count back to 0 for each test."""
    _server.connections = 0
    return _server


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "auren-tui"), *args], env=env, capture_output=True, text=True, timeout=60,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _env(home: Path, listener: Listener) -> dict[str, str]:
    return {
        "AUREN_TUI_HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "DOCKER_HOST": f"unix://{listener.unix_path}",
        "AUREN_TUI_OURA_SECRET": "oura-test-secret-0123456789",
        "AUREN_TUI_WHOOP_SECRET": "whoop-test-secret-0123456789",
        "AUREN_TUI_HEALTHKIT_SECRET": "whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==",
    }


@pytest.fixture(scope="module")
def _configured(tmp_path_factory: pytest.TempPathFactory, _server: Listener) -> Path:
    """A home with the profiles ``srv`` and ``ro`` (read-only), added by the real CLI
    once per module; each test works on a copy."""
    root = tmp_path_factory.mktemp("configured")
    env = _env(root / "home", _server)
    key = root / "id_test"
    key.write_text("not a real key")
    for name, extra in (("srv", ()), ("ro", ("--read-only",))):
        done = cli(env, "profile", "add", name, "--host", "127.0.0.1", "--port",
                   str(_server.port), "--user", "ops", "--key-file", str(key),
                   "--known-hosts", str(root / "known_hosts"), *extra)  # fmt: skip
        assert done.returncode == 0, done.stderr
    return root / "home"


@pytest.fixture
def home(tmp_path: Path, _configured: Path, listener: Listener) -> dict[str, str]:
    shutil.copytree(_configured, tmp_path / "home")
    return _env(tmp_path / "home", listener)


BRIDGE = "--bridge"

COMMANDS: dict[str, list[str]] = {
    "webhook send": ["webhook", "send", "oura"],
    "webhook check": ["webhook", "check"],
    "webhook load": ["webhook", "load", "whoop", "--requests", "1", "--yes"],
    "restore": ["restore", "biometric", "--yes"],
    "break-lock": ["restore", "biometric", "--break-lock", "--yes"],
    "prune": ["restore", "biometric", "--prune", "--yes"],
}
WAYS = ["global flag", "command flag", "profile setting", "ui.read_only"]


def command_line(command: str, way: str, listener: Listener) -> list[str]:
    args = list(COMMANDS[command])
    if command.startswith("webhook"):
        args += [BRIDGE, f"127.0.0.1:{listener.port}"]
    profile = "ro" if way == "profile setting" else "srv"
    if way == "global flag":
        return ["--read-only", "--profile", profile, *args]
    if way == "command flag":
        return [*args, "--profile", profile, "--read-only"]
    return [*args, "--profile", profile]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_refused_before_anything_reaches_the_server(
    home: dict[str, str], listener: Listener, command: str, way: str
) -> None:
    if way == "ui.read_only":
        config = Path(home["AUREN_TUI_HOME"]) / "config" / "config.toml"
        text = config.read_text()
        assert "read_only = false\n\n[profiles" in text
        config.write_text(
            text.replace("read_only = false\n\n[profiles", "read_only = true\n\n[profiles", 1)
        )
    done = cli(home, *command_line(command, way, listener))
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "refused" in lines[0]
    expected = {
        "global flag": "--read-only was given",
        "command flag": "--read-only was given",
        "profile setting": "profile 'ro' is read-only",
        "ui.read_only": "[ui] read_only = true",
    }[way]
    assert expected in lines[0]
    assert listener.connections == 0, "something reached the server"


@pytest.mark.parametrize(
    "line",
    [
        ["--debug", "restore", "biometric", "--profile", "nope"],
        ["restore", "biometric", "--profile", "nope", "--debug"],
        ["--profile", "nope", "restore", "biometric"],
    ],
)
def test_profile_and_debug_hold_wherever_they_are_written(
    home: dict[str, str], line: list[str]
) -> None:
    done = cli(home, *line)
    assert done.returncode == 2
    assert "no profile named 'nope'" in done.stderr
    assert ("Traceback" in done.stderr) == ("--debug" in line)
