"""Session-scoped pytest fixtures for the throwaway services.

Registered from ``tests/conftest.py``. Each fixture starts its service once
per test session, yields the running instance and removes everything at the
end. In CI (``CI=true``) a service that cannot start fails the test; locally
it is skipped with one line saying what to install.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.base import running
from tests.services.kafka import Kafka
from tests.services.postgres import Postgres
from tests.services.redis import Redis


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    yield from running(Postgres())


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    yield from running(Redis())


@pytest.fixture(scope="session")
def kafka() -> Iterator[Kafka]:
    yield from running(Kafka())
