"""The one place auren-tui builds a Docker SDK client, and says why it cannot.

Restore, the Containers screen and the dashboard's collector all get their
client from ``docker_client`` (the restore layer and the Containers screen
through ``engine_client``); ``NoDocker`` is the one-line error an operator
sees when a profile has no Docker Engine to reach, with what to do about it.

Blocking (docker SDK): call from a worker thread or the CLI.
"""

from __future__ import annotations

from typing import Any

from auren_tui.core.format import one_line
from auren_tui.core.transport.connection import Connection, DockerAccessDenied


class NoDocker(Exception):
    """No Docker Engine to reach (one line: what is missing and how to get it)."""


def no_docker_help(profile: str, target: str, local: bool) -> str:
    """What an operator can do when a profile has no Docker Engine to reach."""
    if local:
        return (
            f"profile {profile!r} has no Docker Engine: none at /var/run/docker.sock and no "
            "DOCKER_HOST. Install Docker (docs.docker.com/engine/install), or point the "
            f"profile at one: auren-tui profile add {profile} --docker-host unix:///PATH"
        )
    return (
        f"profile {profile!r} reaches no Docker Engine on {target}: set its socket with "
        f"`auren-tui profile add {profile} --docker-host unix:///var/run/docker.sock`, and "
        "make the SSH user a member of the server's docker group (sudo usermod -aG docker USER)"
    )


def not_answering(
    url: str | None, exc: BaseException, profile: str, target: str, local: bool
) -> NoDocker:
    """The error for an engine whose URL is known but where nothing answers."""
    return NoDocker(
        f"the Docker Engine at {url} does not answer ({one_line(exc)}). "
        + no_docker_help(profile, target, local)
    )


def docker_client(url: str, timeout: int = 60, *, keep_alive: bool = False) -> Any:
    """The one Docker SDK client of auren-tui, for ``url`` (local, or through SSH).

    Over SSH each connection is a ``docker system dial-stdio`` channel, which may
    end between requests: no connection is reused unless ``keep_alive`` (the
    dashboard's frequent polls, where a reused connection found closed is simply
    retried). A connection reset while a
    read-only request (GET, HEAD) is in flight is an expected event there, so
    those are retried (up to 3 times, 0.2 s backoff); requests that change
    something are not — the restore engine checks the server before repeating
    one of its steps.
    """
    import docker
    from urllib3.util.retry import Retry

    client = docker.DockerClient(base_url=url, timeout=timeout)
    if not keep_alive:
        client.api.headers["Connection"] = "close"
    retry = Retry(
        total=3, connect=3, read=3, other=0, status=0, redirect=0,
        allowed_methods=frozenset({"GET", "HEAD"}), backoff_factor=0.2,
        raise_on_status=False,
    )  # fmt: skip
    for adapter in client.api.adapters.values():
        adapter.max_retries = retry
    return client


def engine_client(connection: Connection, profile: str, target: str, local: bool) -> Any:
    """A client for the profile's Docker Engine behind ``connection``.

    ``NoDocker`` when there is none to reach, or when the server's user may not
    use it (``DockerAccessDenied``'s own one line, which names the fixes).
    """
    try:
        url = connection.docker_url()
    except DockerAccessDenied as exc:
        raise NoDocker(str(exc)) from None
    if url is None:
        raise NoDocker(no_docker_help(profile, target, local))
    return docker_client(url)
