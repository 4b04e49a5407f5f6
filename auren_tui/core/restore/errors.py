"""What a restore can raise: one line an operator can act on, never a secret."""

from __future__ import annotations


class RestoreError(Exception):
    """A restore that cannot start or go on (one line, never a secret)."""


class LockHeld(RestoreError):
    """Another attempt holds the restore lock of the container (its holder named)."""


class RecoveryNeeded(RestoreError):
    """An interrupted attempt must be recovered (shown, confirmed) before a restore."""


class ConnectionLost(RestoreError):
    """The Docker API stayed unreachable for the whole reconnect budget."""
