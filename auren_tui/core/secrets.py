"""Secrets in the OS keyring, and only there.

Every secret is a keyring entry of service ``auren-tui`` and user
``<profile>/<name>`` (e.g. ``prod/ssh_password``). The keyring cannot list
its entries, so each profile keeps an index of its secret names in one more
entry, ``<profile>/.names`` (a JSON list): names, never values.

A backend that would keep secrets in clear (keyrings.alt's files, ``null``,
``fail``, nothing at all) is refused: the allow-list below names the backends
that encrypt or hand the secret to the operating system.

Values are ``pydantic.SecretStr`` from end to end; nothing here puts a value
into a message, a log line or an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import keyring
import keyring.errors
from pydantic import SecretStr

from auren_tui.core.config import ConfigError, check_name
from auren_tui.core.format import secret_hint

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE = "auren-tui"

# Conventional secret names (the SSH connection asks for these).
SSH_PASSWORD = "ssh_password"  # noqa: S105 - a name, not a password
KEY_PASSPHRASE = "key_passphrase"  # noqa: S105 - a name, not a passphrase

_INDEX = ".names"

# Backends that keep secrets encrypted or in the OS's own store, by exact class.
SECURE_BACKENDS = frozenset(
    {
        "keyring.backends.SecretService.Keyring",  # GNOME Keyring, KeePassXC, ... over D-Bus
        "keyring.backends.libsecret.Keyring",  # the same store, through libsecret
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
        "keyring.backends.kwallet.DBusKeyring",
        "keyring.backends.kwallet.DBusKeyringKWallet4",
        "keyrings.cryptfile.cryptfile.CryptFileKeyring",
        "keyrings.cryptfile.chachafile.ChaChaFileKeyring",
    }
)

HOW_TO_FIX = (
    "install gnome-keyring and run inside a D-Bus session, "
    "or `pip install keyrings.cryptfile` and set "
    "PYTHON_KEYRING_BACKEND=keyrings.cryptfile.cryptfile.CryptFileKeyring"
)


class SecretError(Exception):
    """A keyring operation failed (locked, D-Bus gone, ...): one line, never a value."""


class InsecureKeyring(SecretError):
    """No keyring, or one that would keep secrets in plain text."""


def backend_name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_backend(backend: KeyringBackend) -> KeyringBackend:
    """The backend to use, or InsecureKeyring saying how to get a real one.

    keyring's chainer (several viable backends) is reduced to its first
    backend, and that one must be on the allow-list too: the chainer reads
    from every backend in turn, plaintext ones included.
    """
    name = backend_name(backend)
    if name == "keyring.backends.chainer.ChainerBackend":
        chained = list(getattr(backend, "backends", []))
        if not chained:
            raise InsecureKeyring(f"no secure keyring (no usable backend): {HOW_TO_FIX}")
        return check_backend(chained[0])
    if name not in SECURE_BACKENDS:
        why = {
            "keyring.backends.fail.Keyring": "none found",
            "keyring.backends.null.Keyring": "keyring disabled by the null backend",
        }.get(name, f"{name} is not a known encrypted store")
        raise InsecureKeyring(f"no secure keyring ({why}): {HOW_TO_FIX}")
    return backend


def hint(secret: SecretStr | None, mark: str = "****") -> str:
    """The one policy for what may be shown of a secret (``core.format.secret_hint``):
    ``mark`` and at most its last four characters; ``(none)`` without one. The CLI
    writes ``****``, the TUI ``…``."""
    if secret is None:
        return "(none)"
    return secret_hint(secret.get_secret_value(), mark=mark)


def _one_line(exc: BaseException, scrub: str | None = None) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if scrub and scrub in first:
        first = first.replace(scrub, "****")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


T = TypeVar("T")


class SecretStore:
    """The keyring, refused unless secure, with ``<profile>/<name>`` entries."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._given = backend
        self._backend: KeyringBackend | None = None

    def check_backend(self) -> KeyringBackend:
        """The secure backend in use; InsecureKeyring otherwise (cached once it passes)."""
        if self._backend is None:
            if self._given is not None:
                candidate = self._given
            else:
                try:
                    candidate = keyring.get_keyring()
                except Exception as exc:
                    # e.g. PYTHON_KEYRING_BACKEND names a backend that cannot start.
                    raise InsecureKeyring(
                        f"no secure keyring ({_one_line(exc)}): {HOW_TO_FIX}"
                    ) from exc
            self._backend = check_backend(candidate)
        return self._backend

    def _call(self, what: str, fn: Callable[[KeyringBackend], T], scrub: str | None = None) -> T:
        backend = self.check_backend()
        try:
            return fn(backend)
        except Exception as exc:
            message = f"keyring: cannot {what}: {_one_line(exc, scrub)}"
            if isinstance(exc, keyring.errors.KeyringLocked):
                message += " (unlock your keyring, e.g. log in to the desktop session, and retry)"
            if scrub is not None:
                # The cause could carry what was sent; do not chain it.
                raise SecretError(message) from None
            raise SecretError(message) from exc

    @staticmethod
    def _user(profile: str, name: str | None = None) -> str:
        """The keyring user name ``profile/name``, or of the profile's names index."""
        try:
            check_name(profile, "profile")
            if name is not None:
                check_name(name, "secret")  # never starts with '.': cannot hit the index
        except ConfigError as exc:
            raise SecretError(str(exc)) from None
        return f"{profile}/{_INDEX if name is None else name}"

    def get(self, profile: str, name: str) -> SecretStr | None:
        """The secret ``profile/name``, or None if there is none."""
        user = self._user(profile, name)
        value = self._call(f"read {user}", lambda b: b.get_password(SERVICE, user))
        return None if value is None else SecretStr(value)

    def set(self, profile: str, name: str, value: SecretStr) -> None:
        """Store (or replace) ``profile/name`` and list it in the profile's names index."""
        user = self._user(profile, name)
        plain = value.get_secret_value()
        if not plain:
            raise SecretError(f"refusing to store an empty secret for {user}")
        self._call(f"store {user}", lambda b: b.set_password(SERVICE, user, plain), scrub=plain)
        names = self.names(profile)
        if name not in names:
            self._write_index(profile, [*names, name])

    def delete(self, profile: str, name: str) -> bool:
        """Delete ``profile/name``; False if it did not exist."""
        user = self._user(profile, name)

        def delete(b: KeyringBackend) -> bool:
            try:
                b.delete_password(SERVICE, user)
            except keyring.errors.PasswordDeleteError:
                return False
            return True

        existed = self._call(f"delete {user}", delete)
        names = self.names(profile)
        if name in names:
            self._write_index(profile, [n for n in names if n != name])
        return existed

    def names(self, profile: str) -> list[str]:
        """The names of the profile's secrets (from the index entry), sorted."""
        user = self._user(profile)
        raw = self._call(f"read {user}", lambda b: b.get_password(SERVICE, user))
        if not raw:
            return []
        try:
            data = json.loads(raw)
        except ValueError:
            return []  # a damaged index is rebuilt by the next set()
        if not isinstance(data, list):
            return []
        return sorted({n for n in data if isinstance(n, str)})

    def delete_all(self, profile: str) -> list[str]:
        """Delete every secret of ``profile`` and its index; the names that were deleted."""
        names = self.names(profile)
        for name in names:
            self.delete(profile, name)
        user = self._user(profile)
        self._call(f"delete {user}", lambda b: _delete_quietly(b, user))
        return names

    def _write_index(self, profile: str, names: list[str]) -> None:
        user = self._user(profile)
        if not names:
            self._call(f"delete {user}", lambda b: _delete_quietly(b, user))
            return
        payload = json.dumps(sorted(set(names)))
        self._call(f"store {user}", lambda b: b.set_password(SERVICE, user, payload))


def _delete_quietly(backend: KeyringBackend, user: str) -> None:
    try:
        backend.delete_password(SERVICE, user)
    except keyring.errors.PasswordDeleteError:
        return
