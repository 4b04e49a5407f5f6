"""Throwaway Prometheus: Debian's ``prometheus`` scraping given targets every second.

The config is generated (JSON is valid YAML), the TSDB lives in a temp dir and
the web UI/API listens on a free port. ``set_targets()`` rewrites the config
and reloads it (``POST /-/reload``) for targets only known later.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.base import (
    ManagedProcess,
    ServiceUnavailable,
    find_binary,
    free_port,
    make_tempdir,
    netns_prefix,
    remove_tree,
    unavailable,
    wait_until,
)

# Used inside a network namespace, where the test process cannot connect.
_FETCH = (
    "import sys, urllib.request\n"
    "with urllib.request.urlopen(sys.argv[1], data=sys.argv[2].encode() or None, timeout=5) as r:\n"
    "    sys.stdout.write(r.read().decode())\n"
)


@dataclass
class Prometheus:
    """One Prometheus server. ``url`` answers ``/-/ready`` once ``start()`` returns."""

    targets: list[str] = field(default_factory=list)  # "host:port"
    metrics_path: str = "/metrics"
    scrape_interval: str = "1s"
    job_name: str = "auren-test"
    host: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    workdir: Path | None = None
    _proc: ManagedProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": [
                {
                    "job_name": self.job_name,
                    "metrics_path": self.metrics_path,
                    "static_configs": [{"targets": list(self.targets)}],
                }
            ],
        }

    def _write_config(self) -> Path:
        assert self.workdir is not None
        path = self.workdir / "prometheus.yml"
        path.write_text(json.dumps(self.config(), indent=2))
        return path

    def start(self) -> Prometheus:
        binary = find_binary("prometheus", "prometheus")
        if self.netns:
            find_binary("ip", "iproute2")
        self.port = self.port or free_port()
        if self.workdir is None:
            self.workdir = make_tempdir("prometheus")
        config = self._write_config()
        log = self.workdir / "prometheus.log"
        self._proc = ManagedProcess(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address={self.host}:{self.port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d",
            ],
            log=log,
            netns=self.netns,
        )
        proc = self._proc.start()
        wait_until(
            self.ready,
            timeout=60,
            what=f"prometheus on {self.host}:{self.port}",
            proc=proc,
            log=log,
        )
        return self

    def _request(self, path: str, params: dict[str, str] | None = None, post: bool = False) -> str:
        url = httpx.URL(self.url + path, params=params)
        if self.netns:
            out = subprocess.run(
                [*netns_prefix(self.netns), sys.executable, "-c", _FETCH, str(url),
                 "x" if post else ""],
                capture_output=True, text=True, check=False, timeout=15,
            )  # fmt: skip
            if out.returncode != 0:
                raise httpx.HTTPError(f"{url}: {out.stderr.strip().splitlines()[-1:]}")
            return out.stdout
        method = "POST" if post else "GET"
        response = httpx.request(method, url, timeout=5)
        response.raise_for_status()
        return response.text

    def ready(self) -> bool:
        """``GET /-/ready`` answers 200."""
        try:
            self._request("/-/ready")
        except (httpx.HTTPError, OSError, subprocess.SubprocessError):
            return False
        return True

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query: the ``data.result`` list (``[{"metric": {...}, "value": [t, "v"]}]``)."""
        body = json.loads(self._request("/api/v1/query", {"query": promql}))
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus query {promql!r} failed: {body}")
        return list(body["data"]["result"])

    def query_range(
        self, promql: str, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        """Range query: the ``data.result`` matrix (``[{"metric": {...}, "values": [[t,
        "v"], ...]}]``)."""
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
        }
        body = json.loads(self._request("/api/v1/query_range", params))
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus range query {promql!r} failed: {body}")
        return list(body["data"]["result"])

    def query_value(self, promql: str) -> float | None:
        """The value of the first sample of an instant query, or None if there is none."""
        result = self.query(promql)
        if not result:
            return None
        return float(result[0]["value"][1])

    def wait_for_value(
        self, promql: str, predicate: Callable[[float], bool], timeout: float = 30
    ) -> float:
        """Wait until the query has a value satisfying ``predicate``; return it."""
        seen: list[float | None] = [None]

        def check() -> bool:
            seen[0] = self.query_value(promql)
            return seen[0] is not None and predicate(seen[0])

        try:
            wait_until(check, timeout=timeout, what=f"prometheus query {promql!r}")
        except ServiceUnavailable as exc:
            raise ServiceUnavailable(f"{exc} (last value: {seen[0]})") from None
        assert seen[0] is not None
        return seen[0]

    def active_targets(self) -> list[dict[str, Any]]:
        """``/api/v1/targets`` active targets (``scrapeUrl``, ``health``, ``lastError``...)."""
        body = json.loads(self._request("/api/v1/targets", {"state": "active"}))
        return list(body["data"]["activeTargets"])

    def set_targets(self, targets: Sequence[str], metrics_path: str | None = None) -> None:
        """Replace the scrape targets and reload the running server."""
        self.targets = list(targets)
        if metrics_path is not None:
            self.metrics_path = metrics_path
        self._write_config()
        if self._proc is not None:
            self._request("/-/reload", post=True)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def close(self) -> None:
        self.stop()
        remove_tree(self.workdir)


def _start(prom: Prometheus) -> Prometheus:
    try:
        prom.start()
    except (ServiceUnavailable, OSError) as exc:
        prom.close()
        unavailable(exc)
    return prom


@pytest.fixture
def prometheus_factory() -> Iterator[Callable[..., Prometheus]]:
    """``prometheus_factory(["127.0.0.1:9100"], metrics_path="/metrics", **kw)``.

    ``targets`` may be one "host:port" string or a list; other keyword arguments
    go to ``Prometheus``. Every server started is closed after the test.
    """
    started: list[Prometheus] = []

    def make(
        targets: str | Sequence[str] = (), metrics_path: str = "/metrics", **kwargs: Any
    ) -> Prometheus:
        listed = [targets] if isinstance(targets, str) else list(targets)
        prom = Prometheus(targets=listed, metrics_path=metrics_path, **kwargs)
        started.append(prom)
        return _start(prom)

    yield make
    for prom in started:
        prom.close()
