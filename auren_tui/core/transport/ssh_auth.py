"""Logging in to one hop, once its host key is checked: password, agent or key files.

Keys are offered as ``ssh`` offers them: the agent's (unless IdentitiesOnly),
then each identity file, a certificate before its plain key. Secrets (the
password, a key's passphrase) are asked of the profile's store only when
needed and never appear in an error. Called by ``login``
(core/transport/ssh_login.py) for every hop on the way.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import paramiko
from pydantic import SecretStr

from auren_tui.core.format import display_path
from auren_tui.core.transport.ssh_errors import AuthFailed, ConnectFailed, reason
from auren_tui.core.transport.sshroute import Hop

log = logging.getLogger(__name__)

# Returns a secret of this profile by name: "ssh_password", "key_passphrase".
SecretLookup = Callable[[str], SecretStr | None]


def authenticate(
    transport: paramiko.Transport, hop: Hop, secrets: SecretLookup, profile_name: str
) -> None:
    """Log in to ``hop`` over ``transport`` as its ``auth`` says.

    Raises ``AuthFailed`` (refused, or nothing to offer) or ``ConnectFailed``
    (the connection went away meanwhile); each says what was offered to whom.
    """
    who = hop.named(hop.who)
    tried: list[str] = []
    try:
        if hop.auth == "password":
            _auth_password(transport, hop.user, who, secrets, profile_name)
        else:
            _auth_keys(transport, hop, who, tried, secrets, profile_name)
    except paramiko.BadAuthenticationType as exc:
        allowed = ", ".join(exc.allowed_types) or "nothing"
        raise AuthFailed(f"{who} does not accept {hop.auth} login (it allows: {allowed})") from None
    except paramiko.AuthenticationException:
        raise AuthFailed(_refused(hop, who, tried)) from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise ConnectFailed(
            f"connection to {hop.named(hop.label)} lost while logging in: {reason(exc)}"
        ) from exc
    if not transport.is_authenticated():
        raise AuthFailed(f"{who} asks for more login steps than auren-tui supports")


def _refused(hop: Hop, who: str, tried: list[str]) -> str:
    if hop.auth == "password":
        return f"password login as {who} was refused (wrong password?)"
    if hop.auth == "key":
        return f"key login as {who} was refused (is {hop.identity_files[0]} authorized?)"
    if hop.auth == "agent":
        return f"none of the SSH agent's keys is accepted for {who}"
    offered = ", ".join(tried) if tried else "nothing (no agent keys, no identity file found)"
    return f"login as {who} was refused; offered: {offered}"


def _auth_password(
    transport: paramiko.Transport, user: str, who: str, secrets: SecretLookup, profile_name: str
) -> None:
    secret = secrets("ssh_password")
    if secret is None:
        raise AuthFailed(
            f"cannot log in as {who}: no SSH password is stored for profile {profile_name!r}"
        )
    transport.auth_password(user, secret.get_secret_value())


def _auth_keys(
    transport: paramiko.Transport,
    hop: Hop,
    who: str,
    tried: list[str],
    secrets: SecretLookup,
    profile_name: str,
) -> None:
    """Offer keys as ``ssh`` does: the agent's (unless IdentitiesOnly), then each
    identity file, a certificate (CertificateFile, or ``KEY-cert.pub``) before its
    plain key. Raises AuthenticationException when none is accepted."""
    if hop.auth == "agent" or (hop.auth == "auto" and not hop.identities_only):
        agent = _agent()
        try:
            keys = list(agent.get_keys()) if agent is not None else []
            if not keys and hop.auth == "agent":
                raise AuthFailed(
                    f"cannot log in as {who}: the SSH agent has no keys "
                    "(is SSH_AUTH_SOCK set? run ssh-add)"
                )
            if keys:
                tried.append(f"{len(keys)} agent key(s)")
            if _offer(transport, hop.user, keys):
                return
        finally:
            if agent is not None:
                agent.close()
        if hop.auth == "agent":
            raise paramiko.AuthenticationException(f"no agent key accepted for {who}")
    for path in hop.identity_files:
        loaded = _load_key(path, hop, secrets, profile_name)
        if loaded is None:
            continue
        candidates, what = loaded
        tried.append(what)
        if _offer(transport, hop.user, candidates):
            return
    raise paramiko.AuthenticationException(f"no key accepted for {who}")


def _offer(transport: paramiko.Transport, user: str, keys: Sequence[paramiko.PKey]) -> bool:
    for key in keys:
        try:
            transport.auth_publickey(user, key)
        except paramiko.AuthenticationException:
            if not transport.is_active():
                raise
            continue
        if transport.is_authenticated():
            return True
    return False


def _load_key(
    path: Path, hop: Hop, secrets: SecretLookup, profile_name: str
) -> tuple[list[paramiko.PKey], str] | None:
    """The key at ``path`` (its certified copy first), and how it is named in errors.

    None when there is nothing to offer: a file that does not exist, or (for
    ``auto``) one that cannot be used, as ``ssh`` goes on to the next.
    """
    strict = hop.auth == "key"
    path = path.expanduser()
    if not strict and not path.exists():
        return None
    try:
        key = _read_key(path, secrets, profile_name)
    except AuthFailed as exc:
        if strict:
            raise
        log.info("%s: %s", hop.label, exc)
        return None
    keys = [key]
    certificates = [*hop.certificate_files, path.with_name(path.name + "-cert.pub")]
    for cert in dict.fromkeys(certificates):
        certified = _certified(key, cert)
        if certified is not None:
            keys.insert(0, certified)
            return keys, f"{display_path(path)} (with certificate {display_path(cert)})"
    return keys, display_path(path)


def _read_key(path: Path, secrets: SecretLookup, profile_name: str) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except OSError as exc:
        raise AuthFailed(f"cannot read key file {path}: {reason(exc)}") from None
    except TypeError:
        pass  # encrypted: cryptography wants the passphrase
    except (ValueError, paramiko.SSHException):
        raise AuthFailed(f"cannot load key file {path}: not a supported private key") from None
    passphrase = secrets("key_passphrase")
    if passphrase is None:
        raise AuthFailed(
            f"key file {path} is encrypted and no passphrase is stored for profile {profile_name!r}"
        )
    try:
        # paramiko 5.1 hands the password to cryptography as is, which wants bytes.
        password = passphrase.get_secret_value().encode()
        return paramiko.PKey.from_path(path, password)  # type: ignore[arg-type]
    except (TypeError, ValueError, paramiko.SSHException):
        raise AuthFailed(f"cannot decrypt key file {path} (wrong passphrase?)") from None


def _agent() -> paramiko.Agent | None:
    """The SSH agent of ``SSH_AUTH_SOCK`` (None when it cannot be reached)."""
    try:
        return paramiko.Agent()
    except (paramiko.SSHException, OSError) as exc:
        log.info("SSH agent unavailable: %s", reason(exc))
        return None


def _certified(key: paramiko.PKey, cert: Path) -> paramiko.PKey | None:
    """A copy of ``key`` carrying the certificate at ``cert`` (None if absent or not its own)."""
    if not cert.is_file():
        return None
    try:
        certified = _copy_key(key)
        certified.load_certificate(str(cert))
    except (OSError, ValueError, paramiko.SSHException) as exc:
        log.info("certificate %s not used: %s", cert, reason(exc))
        return None
    return certified


def _copy_key(key: paramiko.PKey) -> paramiko.PKey:
    """Another object for the same private key: a certificate is loaded onto the copy,
    so the plain key can still be offered after it."""
    return copy.copy(key)
