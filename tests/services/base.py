"""Shared machinery for the throwaway services: ports, waiting, processes.

Every service in this package is a small class with ``start()`` and ``stop()``
that owns one process and one temporary directory. The pytest fixtures in
``tests/services/fixtures.py`` wrap them; benchmarks and the demo use the
classes directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"


class ServiceUnavailable(RuntimeError):
    """A service could not be started (missing package, failed start)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


FAST_TIER = "AUREN_TEST_TIER"


def refuse_in_fast_tier(what: str) -> None:
    """Fail a test of the fast tier (``make test-fast``) that starts a real service.

    The ``services`` mark is applied automatically (tests/conftest.py) to every test
    whose fixtures come from the harness; a test that starts one by other means
    must say so with ``pytestmark = pytest.mark.services``, or this stops it.
    """
    if os.environ.get(FAST_TIER) == "fast":
        pytest.fail(
            f"{what}: started by a test without the `services` mark (make test-fast runs "
            "none); mark it `pytest.mark.services`",
            pytrace=False,
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``predicate`` until it is true; raise with a useful message otherwise.

    If ``proc`` exits while waiting, fail at once and include the tail of ``log``.
    ``what`` may be a function: called only on failure, to describe the state then.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # noqa: S110 - not ready yet
            pass
        if not isinstance(what, str) and (
            time.monotonic() > deadline or (proc is not None and proc.poll() is not None)
        ):
            what = what()
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"{what}: process exited with {proc.returncode}{_tail(log)}")
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"{what}: not ready after {timeout:.0f} s{_tail(log)}")
        time.sleep(interval)


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- log tail ---\n" + "\n".join(text)


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def find_binary(name: str, package: str, extra_dirs: Sequence[str] = ()) -> str:
    """Path to ``name``, or ServiceUnavailable naming the Debian package to install."""
    found = shutil.which(name)
    if found:
        return found
    for d in (*extra_dirs, "/usr/sbin", "/sbin", "/usr/local/sbin"):
        cand = Path(d) / name
        if cand.exists():
            return str(cand)
    raise ServiceUnavailable(
        f"{name} not found: install it with `apt-get install {package}` (or run `make test`)"
    )


def unavailable(exc: Exception) -> None:
    """Turn a start failure into a failure in CI, a one-line skip locally."""
    if in_ci():
        pytest.fail(str(exc), pytrace=False)
    pytest.skip(str(exc).splitlines()[0])


class Service(Protocol):
    def start(self) -> object: ...

    def close(self) -> None: ...


S = TypeVar("S", bound=Service)


def running(service: S) -> Iterator[S]:
    """A fixture's body: start ``service``, yield it, close it; a service that cannot
    start is closed again (whatever it had made) and reported by ``unavailable``."""
    try:
        service.start()
    except (ServiceUnavailable, OSError) as exc:
        service.close()
        unavailable(exc)
    yield service
    service.close()


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


def netns_prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


class ManagedProcess:
    """One long-running child process with its log file, stopped for sure."""

    def __init__(
        self,
        argv: Sequence[str],
        log: Path,
        env: dict[str, str] | None = None,
        netns: str | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        if netns and user:
            # `ip netns exec` needs root: enter the namespace first, then drop privileges.
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv]
            user = None
        self.argv = [*netns_prefix(netns), *argv]
        self.log = log
        self.env = env
        self.cwd = cwd
        self.user = user
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        refuse_in_fast_tier(Path(self.argv[0]).name)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            user=self.user,
            start_new_session=True,  # its own process group, so stop() gets children too
        )
        out.close()
        return self.proc

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        # Make sure no straggler of the group survives (e.g. forked workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def make_tempdir(prefix: str) -> Path:
    """A fresh directory under the system temp dir (tests remove it on stop)."""
    return Path(tempfile.mkdtemp(prefix=f"auren-{prefix}-"))


def remove_tree(path: Path | None) -> None:
    if path is not None and path.exists():
        shutil.rmtree(path, ignore_errors=True)
