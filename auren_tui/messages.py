"""Messages the workers post back to the UI (small dataclasses; Message supports them)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from auren_tui.core.backend.live import ConnInfo
from auren_tui.core.model import Snapshot


@dataclass(eq=False)
class Polled(Message):
    """A refresh finished."""

    snapshot: Snapshot
    conn: ConnInfo


@dataclass(eq=False)
class Connected(Message):
    pass


@dataclass(eq=False)
class ConnectFailed(Message):
    error: str


@dataclass(eq=False)
class HostKeyUnknown(Message):
    """The server's host key is not in known_hosts: ask the operator."""

    error: Exception
