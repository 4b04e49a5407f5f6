"""Throwaway Docker Engine: a private ``dockerd`` (and its own containerd) in a temp dir.

No image registry is reachable, so the test image is built locally:
``build_test_image`` imports a rootfs tar made from Debian's static busybox
(``busybox httpd`` serving ``GET /health`` → 200 ``{"status":"healthy"}``).

Everything the engine creates lives under one short temp dir (socket, data
root, exec root with containerd's state and socket, key file) plus one cgroup
parent named after that dir; ``close()`` stops the daemon and its containers,
kills any straggler (containerd, shims, container processes), unmounts what is
left under the dir and removes it.

``netns=`` runs ``dockerd`` in an existing network namespace (containers with
host networking then live "on the server") while its socket stays on the shared
filesystem. This uses ``nsenter --net`` rather than ``ip netns exec``: the
latter remounts ``/sys`` in a private mount namespace, which hides the cgroup
mounts dockerd needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import signal
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from auren_tui.demo.web import is_static_elf
from tests.services.base import (
    ManagedProcess,
    ServiceUnavailable,
    find_binary,
    make_tempdir,
    remove_tree,
    running,
    unavailable,
    wait_until,
)

if TYPE_CHECKING:
    import docker

PACKAGES = "docker.io busybox-static"
TEST_IMAGE = "auren-test/health:1"
IMAGE_DIR = Path(__file__).resolve().parent / "image"
CGROUP_ROOT = Path("/sys/fs/cgroup")
# A unix socket path must fit in sun_path (108 bytes with the NUL).
MAX_SOCKET_PATH = 100
MNT_DETACH = 2

# Changes applied on import (the subset of Dockerfile instructions `docker import` accepts).
IMAGE_CHANGES = [
    "ENV PATH=/bin",
    "WORKDIR /",
    "EXPOSE 8080",
    "LABEL org.opencontainers.image.title=auren-test-health",
    'CMD ["/bin/sh", "/serve.sh"]',
    "HEALTHCHECK --interval=1s --timeout=2s --retries=3 "
    "CMD wget -q -O- http://127.0.0.1:${PORT:-8080}/health || exit 1",
]
HEALTH_BODY = b'{"status":"healthy"}\n'
BUSYBOX_APPLETS = (
    "sh", "ash", "httpd", "wget", "cat", "echo", "printf", "ls", "sleep", "kill",
    "ps", "env", "test", "[", "true", "false", "rm", "mkdir", "mv", "cp", "touch",
    "grep", "sed", "head", "tail", "id", "hostname", "date", "uname", "nc", "pidof",
)  # fmt: skip


@dataclass
class DockerEngine:
    """One private Docker Engine. ``base_url`` answers once ``start()`` returns.

    ``storage_driver=None`` tries overlay2 and falls back to vfs if the daemon
    refuses it. ``stop()``/``start()`` keep images and containers (a daemon
    restart); ``close()`` removes everything.
    """

    netns: str | None = None
    storage_driver: str | None = None
    shutdown_timeout: int = 5
    workdir: Path | None = None
    startup_seconds: float = 0.0
    _proc: ManagedProcess | None = field(default=None, repr=False)

    # ---- paths -----------------------------------------------------------------
    def _dir(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("DockerEngine is not started")
        return self.workdir

    @property
    def socket_path(self) -> Path:
        return self._dir() / "docker.sock"

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def data_root(self) -> Path:
        return self._dir() / "data"

    @property
    def exec_root(self) -> Path:
        return self._dir() / "exec"

    @property
    def log(self) -> Path:
        return self._dir() / "dockerd.log"

    @property
    def cgroup_parent(self) -> str:
        """Containers' cgroups go under ``/<workdir name>`` in every hierarchy."""
        return f"/{self._dir().name}"

    # ---- lifecycle -------------------------------------------------------------
    def start(self) -> DockerEngine:
        dockerd = find_binary("dockerd", PACKAGES)
        find_binary("containerd", PACKAGES)
        find_binary("runc", PACKAGES)
        prefix: list[str] = []
        if self.netns:
            nsenter = find_binary("nsenter", "util-linux")
            ns_file = Path("/run/netns") / self.netns
            if not ns_file.exists():
                raise ServiceUnavailable(f"network namespace {self.netns!r} does not exist")
            prefix = [nsenter, f"--net={ns_file}", "--"]
        if self.workdir is None:
            self.workdir = _short_tempdir()
        (self.workdir / "daemon.json").write_text(
            json.dumps({"deprecated-key-path": str(self.workdir / "key.json")})
        )
        drivers = [self.storage_driver] if self.storage_driver else ["overlay2", "vfs"]
        failure: ServiceUnavailable | None = None
        for driver in drivers:
            try:
                self._launch(dockerd, prefix, driver)
            except ServiceUnavailable as exc:
                failure = exc
                self.stop()
                continue
            self.storage_driver = driver
            return self
        assert failure is not None
        raise failure

    def _launch(self, dockerd: str, prefix: list[str], driver: str) -> None:
        wd = self._dir()
        with self.log.open("ab") as out:
            out.write(f"--- starting dockerd with storage driver {driver}\n".encode())
        argv = [
            *prefix,
            dockerd,
            "--config-file", str(wd / "daemon.json"),
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(wd / "docker.pid"),
            "--host", self.base_url,
            "--storage-driver", driver,
            "--cgroup-parent", self.cgroup_parent,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--userland-proxy=false",
            "--shutdown-timeout", str(self.shutdown_timeout),
        ]  # fmt: skip
        self._proc = ManagedProcess(argv, log=self.log)
        began = time.monotonic()
        proc = self._proc.start()
        wait_until(
            self.ping,
            timeout=60,
            what=f"dockerd ({driver}) on {self.socket_path}",
            proc=proc,
            log=self.log,
        )
        self.startup_seconds = time.monotonic() - began

    def ping(self) -> bool:
        """``GET /_ping`` answers ``OK``."""
        try:
            return self._api("GET", "/_ping", timeout=2).text == "OK"
        except (httpx.HTTPError, OSError, RuntimeError):
            return False

    def _api(self, method: str, path: str, timeout: float = 10) -> httpx.Response:
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        with httpx.Client(transport=transport, timeout=timeout) as c:
            return c.request(method, f"http://docker{path}")

    def client(self, timeout: int = 60) -> docker.DockerClient:
        """A new ``docker.DockerClient`` on this engine (close it when done)."""
        import docker

        return docker.DockerClient(base_url=self.base_url, timeout=timeout)

    def running(self) -> bool:
        return self._proc is not None and self._proc.running()

    def kill_containers(self) -> None:
        """SIGKILL every running container (best effort, quick)."""
        if not self.running():
            return
        with contextlib.suppress(httpx.HTTPError, OSError, ValueError):
            for c in self._api("GET", "/containers/json").json():
                with contextlib.suppress(httpx.HTTPError, OSError):
                    self._api("POST", f"/containers/{c['Id']}/kill")

    def stop(self) -> None:
        """Stop dockerd (it stops its containers and containerd); keep the data."""
        if self._proc is not None:
            self._proc.stop(timeout=self.shutdown_timeout + 20)
            self._proc = None
        if self.workdir is not None:
            self._reap()
            self._unmount()

    def close(self) -> None:
        """Stop everything and delete the temp dir (socket, data root, exec root)."""
        self.kill_containers()
        self.stop()
        if self.workdir is not None:
            self._remove_cgroups()
            remove_tree(self.workdir)

    # ---- cleanup helpers -------------------------------------------------------
    def _cgroup_dirs(self) -> list[Path]:
        name = self.cgroup_parent.lstrip("/")
        roots = [CGROUP_ROOT]
        with contextlib.suppress(OSError):
            roots += [p for p in CGROUP_ROOT.iterdir() if p.is_dir()]
        return [r / name for r in roots if (r / name).is_dir()]

    def _stray_pids(self) -> set[int]:
        """Processes left by this engine: containerd, shims, container processes."""
        marker = str(self._dir()).encode() + b"/"
        pids: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes() and not _zombie(int(entry.name)):
                    pids.add(int(entry.name))
        for group in self._cgroup_dirs():
            for procs in group.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in procs.read_text().split() if not _zombie(int(p)))
        return pids

    def _reap(self) -> None:
        with contextlib.suppress(ServiceUnavailable):
            wait_until(lambda: not self._stray_pids(), timeout=5, what="containerd exit")
            return
        for pid in self._stray_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not self._stray_pids(), timeout=10, what="docker stragglers exit")

    def _unmount(self) -> None:
        for _ in range(5):
            mounts = _mounts_under(self._dir())
            if not mounts:
                return
            for mountpoint in sorted(mounts, key=len, reverse=True):
                _umount_lazy(mountpoint)
        left = _mounts_under(self._dir())
        if left:
            raise ServiceUnavailable(f"could not unmount {left}")

    def _remove_cgroups(self) -> None:
        for group in self._cgroup_dirs():
            for dirpath, _dirs, _files in os.walk(group, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)


def _short_tempdir() -> Path:
    path = make_tempdir("docker")
    if len(str(path / "docker.sock")) <= MAX_SOCKET_PATH:
        return path
    remove_tree(path)
    return Path(tempfile.mkdtemp(prefix="auren-dk-", dir="/tmp"))


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # gone
    return stat.rsplit(")", 1)[-1].split()[0] in {"Z", "X"}


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root)
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mountpoint = _unescape_mount(line.split()[4])
        if mountpoint == prefix or mountpoint.startswith(prefix + "/"):
            found.append(mountpoint)
    return found


def _unescape_mount(text: str) -> str:
    return text.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


def _umount_lazy(mountpoint: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(mountpoint.encode(), MNT_DETACH)  # errors: already gone / not ours


# ---- the test image -----------------------------------------------------------


def static_busybox() -> Path:
    """Debian's statically linked busybox (it must run in an empty rootfs)."""
    for cand in (Path("/bin/busybox"), Path("/usr/bin/busybox")):
        if cand.is_file() and is_static_elf(cand):
            return cand
    raise ServiceUnavailable(
        f"a static busybox was not found: install it with `apt-get install {PACKAGES}`"
    )


def rootfs_tar(busybox: Path | None = None) -> bytes:
    """The test image's root filesystem as an uncompressed tar."""
    busybox = busybox or static_busybox()
    now = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, now, link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        for d in ("bin", "etc", "www", "root", "proc", "sys", "dev"):
            add(d, tarfile.DIRTYPE, 0o755)
        add("tmp", tarfile.DIRTYPE, 0o1777)
        add("bin/busybox", tarfile.REGTYPE, 0o755, busybox.read_bytes())
        for applet in BUSYBOX_APPLETS:
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add(
            "etc/passwd",
            tarfile.REGTYPE,
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        add("etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\nnogroup:x:65534:\n")
        add("www/health", tarfile.REGTYPE, 0o644, HEALTH_BODY)
        add("serve.sh", tarfile.REGTYPE, 0o755, (IMAGE_DIR / "serve.sh").read_bytes())
    return buf.getvalue()


def build_test_image(client: docker.DockerClient, tag: str = TEST_IMAGE) -> str:
    """Import the busybox health-server image as ``tag`` and return the tag.

    The image runs ``busybox httpd`` on ``$PORT`` (default 8080); ``GET /health``
    returns 200 with ``{"status":"healthy"}``; the Docker HEALTHCHECK polls it
    every second. Run it with ``network_mode="host"`` (dockerd has no bridge).
    """
    name, _, version = tag.rpartition(":")
    if not name or "/" in version:
        name, version = tag, "latest"
    result = client.api.import_image_from_data(
        rootfs_tar(), repository=name, tag=version, changes=IMAGE_CHANGES
    )
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound as exc:
        raise ServiceUnavailable(f"importing the test image failed: {result!r}") from exc
    return tag


def wait_container_health(container: Any, status: str = "healthy", timeout: float = 30) -> None:
    """Wait until a container's Docker health status is ``status``."""

    def reached() -> bool:
        container.reload()
        return bool(container.attrs["State"].get("Health", {}).get("Status") == status)

    wait_until(reached, timeout=timeout, what=f"container {container.name} {status}")


# ---- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    yield from running(DockerEngine())


@pytest.fixture(scope="session")
def test_image(docker_engine: DockerEngine) -> str:
    """Tag of the locally built health-server image on ``docker_engine``."""
    import docker.errors

    client = docker_engine.client()
    try:
        return build_test_image(client)
    except (ServiceUnavailable, OSError, docker.errors.DockerException) as exc:
        unavailable(exc)
        raise  # unreachable: unavailable() skips or fails
    finally:
        client.close()
