"""Structured JSON logs, one object per line. Secrets are never passed to a logger."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            text = self.formatException(record.exc_info)
            out["error"] = text.splitlines()[-1]
            out["traceback"] = text  # code locations only: never locals or inputs
        return json.dumps(out, default=str, separators=(",", ":"))


def configure(level: str, service: str) -> None:
    """Route every logger (ours and uvicorn's) through the JSON formatter on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # One line per webhook comes from us; uvicorn's access log would double it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    # asyncpg logs a traceback per failed pool refill during an outage; /health says it once.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


class OutageNotice:
    """Logs an outage once, then a reminder at most every ``every`` seconds, then its end.

    A loop that retries five times a second must not write five log lines a
    second: the first failure is a warning, later ones only a periodic
    reminder with how long it has lasted, and the recovery one info line.
    """

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.what = what
        self.every = every
        self.clock = clock
        self.since: float | None = None
        self._last_logged = 0.0

    def failed(self, reason: object) -> None:
        """Record one failure; log it if it starts an outage or a reminder is due."""
        now = self.clock()
        if self.since is None:
            self.since = self._last_logged = now
            self.logger.warning("%s: %s", self.what, reason)
        elif now - self._last_logged >= self.every:
            self._last_logged = now
            self.logger.warning("%s for %.0f s now: %s", self.what, now - self.since, reason)

    def recovered(self) -> None:
        """Record a success; log the end of an outage once."""
        if self.since is not None:
            self.logger.info("%s: recovered after %.0f s", self.what, self.clock() - self.since)
            self.since = None
