"""Test-wide configuration: the real-service fixtures live in tests/services.

Two tiers. ``make test`` runs everything; ``make test-fast`` runs only the tests
without the ``services`` mark, which is applied here, automatically, to every test
that uses a fixture of the harness (directly or through another fixture), and to
the harness's own tests. A test that starts a service without such a fixture
carries the mark itself; in the fast tier the harness refuses to start one
(``tests/services/base.py: refuse_in_fast_tier``), so a missing mark fails loudly.
"""

from __future__ import annotations

import signal

import pytest

pytest_plugins = [
    "tests.services.fixtures",
    "tests.services.sshd",
    "tests.services.netns",
    "tests.services.docker",
    "tests.services.prometheus",
    "tests.services.keyring",
]

# Fixtures defined here start real services (or real server processes on them).
SERVICE_FIXTURE_MODULES = (
    "tests.services.",
    "tests.auren_tui.conftest",
    "tests.bridge_service.conftest",
)


def uses_services(item: pytest.Item) -> bool:
    """Whether ``item`` needs a real service: the rule behind the automatic mark."""
    if item.nodeid.startswith("tests/services/"):
        return True
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in getattr(item, "fixturenames", ()):
        for definition in info.name2fixturedefs.get(name, ()):
            module = getattr(definition.func, "__module__", "") or ""
            if module.startswith(SERVICE_FIXTURE_MODULES):
                return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background (`make test &` in a script, nohup, a CI runner
    # without job control) inherits SIGINT ignored, and so would every process it
    # starts: a test of Ctrl-C (`auren-tui tail`, test_tail_writer.py) would then see
    # it ignored, as the shell meant for a background job. The tests' processes are
    # foreground programs: they get Ctrl-C as an operator's terminal would deliver it.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if uses_services(item):
            item.add_marker(pytest.mark.services)
