"""The two test tiers: the automatic `services` mark and the fast tier's guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.base import FAST_TIER, refuse_in_fast_tier

REPO = Path(__file__).resolve().parents[1]


def collected(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: none selected
    return {line.split("[")[0] for line in result.stdout.splitlines() if "::" in line}


def test_the_mark_follows_the_fixtures_through_other_fixtures() -> None:
    target = "tests/auren_tui/core/health/test_collector.py"
    fast = collected(target, "-m", "not services")
    slow = collected(target, "-m", "services")
    # Pure functions: no fixture of the harness.
    assert f"{target}::test_cpu_percent_as_the_docker_cli" in fast
    # Asks for `redis_server` and `postgres` (tests/services/fixtures.py) directly.
    assert f"{target}::test_checks_refuse_the_wrong_protocol" in slow
    # Asks for the module's own `stack` fixture, which asks for the harness's.
    assert f"{target}::test_all_rows_healthy_with_latency_and_container_info" in slow
    assert not fast & slow


def test_the_harness_own_tests_are_all_services() -> None:
    fast = collected("tests/services", "-m", "not services")
    assert fast == set()


def test_the_fast_tier_refuses_to_start_a_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAST_TIER, "fast")
    with pytest.raises(pytest.fail.Exception, match="redis-server: started by a test without"):
        refuse_in_fast_tier("redis-server")


def test_outside_the_fast_tier_starting_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAST_TIER, raising=False)
    refuse_in_fast_tier("redis-server")  # no exception
    assert os.environ.get(FAST_TIER) is None
