"""Opening a profile's connection: direct for ``local``, else one SSH connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from auren_tui.core.config import Profile
from auren_tui.core.paths import Locations
from auren_tui.core.transport.connection import Connection

if TYPE_CHECKING:
    from pydantic import SecretStr

    from auren_tui.core.secrets import SecretStore

SecretStoreFactory = Callable[[], "SecretStore"]


def os_keyring() -> SecretStore:
    """The OS keyring (imported here: keyring loads only when a secret is needed)."""
    from auren_tui.core.secrets import SecretStore

    return SecretStore()


def open_connection(
    profile: Profile, locations: Locations, secrets: SecretStoreFactory = os_keyring
) -> Connection:
    """The connection a profile asks for: direct for ``local``, else one SSH connection
    (connected before it is returned; the keyring is asked only for a password)."""
    from auren_tui.core.transport.connection import LocalConnection

    if profile.is_local:
        return LocalConnection(docker_host=profile.docker_host)
    from auren_tui.core.transport.ssh import SshConnection

    store: list[SecretStore] = []

    def secret(name: str) -> SecretStr | None:
        if not store:
            store.append(secrets())
        return store[0].get(profile.name, name)

    conn = SshConnection(profile, secret, ssh_config=locations.ssh_config)
    conn.start()
    return conn
