"""OutageNotice: an outage is one warning, a reminder per interval, one recovery line."""

from __future__ import annotations

import logging

import pytest

from bridge_service.logs import OutageNotice


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_polled_five_times_a_second_is_a_line_per_30_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    notice = OutageNotice(logging.getLogger("t.outage"), "relay cannot read the outbox", 30, clock)
    with caplog.at_level(logging.INFO, logger="t.outage"):
        for _ in range(5 * 95):  # 95 s of failures, one every 0.2 s
            notice.failed("ConnectionRefusedError: [Errno 111]")
            clock.now += 0.2
        notice.recovered()
        notice.recovered()  # a second success says nothing more
        notice.failed("again")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "relay cannot read the outbox: ConnectionRefusedError: [Errno 111]",
        "relay cannot read the outbox for 30 s now: ConnectionRefusedError: [Errno 111]",
        "relay cannot read the outbox for 60 s now: ConnectionRefusedError: [Errno 111]",
        "relay cannot read the outbox for 90 s now: ConnectionRefusedError: [Errno 111]",
        "relay cannot read the outbox: recovered after 95 s",
        "relay cannot read the outbox: again",
    ]
    assert [r.levelname for r in caplog.records] == ["WARNING"] * 4 + ["INFO", "WARNING"]
