"""Fixtures shared by the modules that drive a whole server (tests/auren_tui/server_stack.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auren_tui.server_stack import ServerStack
from tests.services.base import ServiceUnavailable, unavailable


@pytest.fixture(scope="session")
def stack() -> Iterator[ServerStack]:
    """One whole server for the session: every test on the SSH path shares it (the
    direct and jump-host tests, the tail's and the webhooks'); a second one would be a
    second Kafka JVM. Tests that break a part of it put it back before they end."""
    try:
        server = ServerStack.start()
    except (ServiceUnavailable, OSError) as exc:
        unavailable(exc)
        raise  # unreachable: unavailable() skips or fails
    yield server
    server.close()
