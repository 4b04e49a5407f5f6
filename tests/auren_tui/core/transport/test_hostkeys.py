"""known_hosts handling: fingerprints, matching as OpenSSH does, trusting, the CLI flow."""

from __future__ import annotations

import base64
import io
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from auren_tui.core.config import Profile
from auren_tui.core.paths import Locations
from auren_tui.core.transport.hostkeys import (
    HostKeyChanged,
    KnownHostsUnreadable,
    UnknownHostKey,
    check_host_key,
    fetch_host_key,
    fingerprint_sha256,
    known_key_types,
    preferred_algorithms,
    trust,
)
from auren_tui.core.transport.trust import trust_host
from tests.services.base import free_port, wait_until
from tests.services.sshd import Sshd

HOST = "203.0.113.7"  # never contacted: these tests only read and write files


def keygen(path: Path, kind: str = "ed25519") -> paramiko.PKey:
    """A fresh key pair at ``path``; returns its public key."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "test", "-f", str(path)], check=True
    )
    return public_key(path.with_suffix(".pub"))


def public_key(pub: Path) -> paramiko.PKey:
    kind, blob = pub.read_text().split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


def openssh_fingerprint(pub: Path) -> str:
    """What ``ssh-keygen -lf FILE -E sha256`` prints as the fingerprint."""
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub), "-E", "sha256"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()[1]


def entry(name: str, key: paramiko.PKey) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, paramiko.PKey]:
    d = tmp_path_factory.mktemp("keys")
    return {
        "a": keygen(d / "a"),
        "b": keygen(d / "b"),
        "ecdsa": keygen(d / "ec", "ecdsa"),
    }


# -- fingerprints ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_fingerprint_matches_ssh_keygen(tmp_path: Path, kind: str) -> None:
    key = keygen(tmp_path / "k", kind)
    expected = openssh_fingerprint(tmp_path / "k.pub")
    assert fingerprint_sha256(key) == expected
    assert expected.startswith("SHA256:")
    assert not expected.endswith("=")


# -- checking -------------------------------------------------------------------------


def test_missing_file_is_unknown(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "nope" / "known_hosts"
    with pytest.raises(UnknownHostKey) as info:
        check_host_key(path, HOST, 2222, keys["a"])
    err = info.value
    assert (err.host, err.port, err.key_type) == (HOST, 2222, "ssh-ed25519")
    assert err.fingerprint == fingerprint_sha256(keys["a"])
    assert err.key is keys["a"]
    assert err.known_hosts == path
    assert "\n" not in str(err)
    assert f"[{HOST}]:2222" in str(err)
    assert err.fingerprint in str(err)


def test_unreadable_file_is_an_error_not_unknown(
    tmp_path: Path, keys: dict[str, paramiko.PKey], locations: Locations
) -> None:
    path = tmp_path / "known_hosts"
    path.mkdir()  # root reads any file: a directory is what cannot be read here
    with pytest.raises(KnownHostsUnreadable, match="Is a directory") as info:
        check_host_key(path, HOST, 22, keys["a"])
    assert "\n" not in str(info.value)
    out = io.StringIO()
    profile = Profile(name="x", host="127.0.0.1", port=free_port(), known_hosts=path)
    assert trust_host(profile, locations, True, out) == 1
    assert f"cannot read {path}: Is a directory" in out.getvalue()


def test_match_plain_bracketed_and_port_22(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(
        "# a comment\n\n"
        "garbage line\n"
        f"{HOST} ssh-ed25519 !!!notbase64\n"
        f"{entry(HOST, keys['a'])}\n"
        f"{entry(f'[{HOST}]:2222', keys['b'])} comment words\n"
    )
    check_host_key(path, HOST, 22, keys["a"])
    check_host_key(path, HOST, 2222, keys["b"])
    # Port 22's entry does not cover another port, nor the reverse.
    with pytest.raises(HostKeyChanged):
        check_host_key(path, HOST, 2222, keys["a"])
    with pytest.raises(UnknownHostKey):
        check_host_key(path, HOST, 2200, keys["a"])


def test_changed_key_names_file_and_line(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(
        f"{entry('other.example', keys['a'])}\n# comment\n{entry(f'[{HOST}]:2222', keys['a'])}\n"
    )
    with pytest.raises(HostKeyChanged) as info:
        check_host_key(path, HOST, 2222, keys["b"])
    err = info.value
    assert (err.known_hosts_path, err.line_number) == (path, 3)
    assert err.fingerprint == fingerprint_sha256(keys["b"])
    text = str(err)
    assert "\n" not in text
    assert f"host key for [{HOST}]:2222 has CHANGED ({err.fingerprint}); refusing to connect." in (
        text
    )
    assert f"{path} line 3" in text
    assert "remove that line and trust the new key" in text


def test_changed_message_shows_home_as_tilde(
    tmp_path: Path, keys: dict[str, paramiko.PKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / ".ssh" / "known_hosts"
    trust(path, HOST, 22, keys["a"])
    with pytest.raises(HostKeyChanged, match=r"The known key is ~/\.ssh/known_hosts line 1\."):
        check_host_key(path, HOST, 22, keys["b"])


def test_known_key_of_another_type_counts_as_changed(
    tmp_path: Path, keys: dict[str, paramiko.PKey]
) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"{entry(HOST, keys['ecdsa'])}\n")
    with pytest.raises(HostKeyChanged) as info:
        check_host_key(path, HOST, 22, keys["a"])
    assert info.value.line_number == 1


def test_same_type_entry_is_named_first(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"{entry(HOST, keys['ecdsa'])}\n{entry(HOST, keys['b'])}\n")
    with pytest.raises(HostKeyChanged) as info:
        check_host_key(path, HOST, 22, keys["a"])
    assert info.value.line_number == 2


def test_any_matching_line_is_enough(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"{entry(HOST, keys['b'])}\n{entry(HOST, keys['a'])}\n")
    check_host_key(path, HOST, 22, keys["a"])
    check_host_key(path, HOST, 22, keys["b"])


def test_patterns_lists_and_negation(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(
        f"{entry('alpha.example,203.0.113.*,!203.0.113.9', keys['a'])}\n"
        f"{entry('[*.example]:2222', keys['b'])}\n"
    )
    check_host_key(path, "alpha.example", 22, keys["a"])
    check_host_key(path, "ALPHA.example", 22, keys["a"])
    check_host_key(path, HOST, 22, keys["a"])
    check_host_key(path, "beta.example", 2222, keys["b"])
    with pytest.raises(UnknownHostKey):
        check_host_key(path, "203.0.113.9", 22, keys["a"])


def test_hashed_entries_made_by_ssh_keygen(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"{entry(f'[{HOST}]:2222', keys['a'])}\n{entry('plain.example', keys['b'])}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
    assert HOST not in path.read_text()
    assert path.read_text().startswith("|1|")
    check_host_key(path, HOST, 2222, keys["a"])
    check_host_key(path, "plain.example", 22, keys["b"])
    with pytest.raises(HostKeyChanged) as info:
        check_host_key(path, HOST, 2222, keys["b"])
    assert info.value.line_number == 1


def test_revoked_key_is_refused(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"{entry(HOST, keys['a'])}\n@revoked {entry('*', keys['a'])}\n")
    with pytest.raises(HostKeyChanged, match="REVOKED") as info:
        check_host_key(path, HOST, 22, keys["a"])
    assert info.value.revoked
    assert info.value.line_number == 2


def test_cert_authority_lines_are_ignored(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"@cert-authority {entry('*', keys['a'])}\n")
    with pytest.raises(UnknownHostKey):
        check_host_key(path, HOST, 22, keys["a"])


def test_known_key_types_and_preference(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(
        f"{entry(HOST, keys['ecdsa'])}\n{entry(HOST, keys['a'])}\n{HOST} ssh-rsa AAAA\n"
    )
    assert known_key_types(path, HOST, 22) == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    assert known_key_types(path, HOST, 2222) == []
    available = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]
    assert preferred_algorithms(["ssh-rsa"], available) == [
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
    ]
    assert preferred_algorithms(["ecdsa-sha2-nistp256"], available)[0] == "ecdsa-sha2-nistp256"
    assert preferred_algorithms([], available) == available


# -- trusting -------------------------------------------------------------------------


def test_trust_creates_private_file_openssh_can_read(
    tmp_path: Path, keys: dict[str, paramiko.PKey]
) -> None:
    path = tmp_path / "new" / ".ssh" / "known_hosts"
    assert trust(path, HOST, 2222, keys["a"]) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == f"{entry(f'[{HOST}]:2222', keys['a'])}\n"
    check_host_key(path, HOST, 2222, keys["a"])
    # OpenSSH finds the entry too.
    found = subprocess.run(
        ["ssh-keygen", "-F", f"[{HOST}]:2222", "-f", str(path)], capture_output=True, text=True
    )
    assert found.returncode == 0
    assert keys["a"].get_base64() in found.stdout


def test_trust_appends_after_a_line_without_newline(
    tmp_path: Path, keys: dict[str, paramiko.PKey]
) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"# mine\n{entry('other.example', keys['b'])}")  # no final newline
    path.chmod(0o644)
    assert trust(path, HOST, 22, keys["a"]) == 3
    lines = path.read_text().splitlines()
    assert lines[1] == entry("other.example", keys["b"])
    assert lines[2] == entry(HOST, keys["a"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # an existing file keeps its mode
    check_host_key(path, HOST, 22, keys["a"])


def test_trust_hashed(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "known_hosts"
    trust(path, HOST, 2222, keys["a"], hashed=True)
    assert HOST not in path.read_text()
    check_host_key(path, HOST, 2222, keys["a"])
    found = subprocess.run(
        ["ssh-keygen", "-F", f"[{HOST}]:2222", "-f", str(path)], capture_output=True, text=True
    )
    assert found.returncode == 0


# -- against the real sshd ------------------------------------------------------------


def sshd_log_since(server: Sshd, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode(errors="replace")


def test_fetch_host_key_does_not_authenticate(sshd: Sshd) -> None:
    offset = sshd.log_path.stat().st_size
    key = fetch_host_key(sshd.host, sshd.port, timeout=10)
    assert fingerprint_sha256(key) == openssh_fingerprint(sshd.host_key_path.with_suffix(".pub"))
    assert f"{key.get_name()} {key.get_base64()}" == sshd.host_public_key
    wait_until(lambda: "[preauth]" in sshd_log_since(sshd, offset), 10, "sshd logs the close")
    log = sshd_log_since(sshd, offset)
    assert "Accepted" not in log
    assert "Failed" not in log


def test_fetch_host_key_unreachable_is_refused() -> None:
    with pytest.raises(ConnectionRefusedError):
        fetch_host_key("127.0.0.1", free_port(), timeout=2)


def profile_for(server: Sshd, known_hosts: Path) -> Profile:
    return Profile(
        name="trustme",
        host=server.host,
        port=server.port,
        user=server.key_user,
        auth="key",
        key_file=server.key_path,
        known_hosts=known_hosts,
    )


@pytest.fixture
def locations(tmp_path: Path) -> Locations:
    root = tmp_path / "auren"
    return Locations(root / "config", root / "data", root / "state", root / "cache")


def test_trust_host_asks_then_writes(sshd: Sshd, tmp_path: Path, locations: Locations) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    profile = profile_for(sshd, known)
    fp = openssh_fingerprint(sshd.host_key_path.with_suffix(".pub"))

    out = io.StringIO()
    assert trust_host(profile, locations, False, out, io.StringIO("n\n")) == 1
    assert not known.exists()
    assert "Trust this host key? [y/N]" in out.getvalue()
    assert fp in out.getvalue()

    out = io.StringIO()
    assert trust_host(profile, locations, False, out, io.StringIO("y\n")) == 0
    text = out.getvalue()
    assert f"Host:        [{sshd.host}]:{sshd.port}" in text
    assert "Key type:    ssh-ed25519" in text
    assert f"Fingerprint: {fp}" in text
    assert known.read_text() == sshd.known_hosts_line() + "\n"

    out = io.StringIO()
    assert trust_host(profile, locations, False, out, io.StringIO("")) == 0
    assert "already trusted" in out.getvalue()
    assert "[y/N]" not in out.getvalue()
    assert known.read_text() == sshd.known_hosts_line() + "\n"


def test_trust_host_assume_yes(sshd: Sshd, tmp_path: Path, locations: Locations) -> None:
    known = tmp_path / "known_hosts"
    out = io.StringIO()
    assert trust_host(profile_for(sshd, known), locations, True, out) == 0
    assert "[y/N]" not in out.getvalue()
    check_host_key(known, sshd.host, sshd.port, public_key(sshd.host_key_path.with_suffix(".pub")))


def test_trust_host_refuses_a_changed_key(
    sshd: Sshd, tmp_path: Path, locations: Locations, keys: dict[str, paramiko.PKey]
) -> None:
    known = tmp_path / "known_hosts"
    before = f"# first\n{entry(f'[{sshd.host}]:{sshd.port}', keys['a'])}\n"
    known.write_text(before)
    out = io.StringIO()
    assert trust_host(profile_for(sshd, known), locations, True, out) == 1
    assert "has CHANGED" in out.getvalue()
    assert f"{known} line 2" in out.getvalue()
    assert known.read_text() == before


def test_trust_host_unreachable(tmp_path: Path, locations: Locations) -> None:
    profile = Profile(name="gone", host="127.0.0.1", port=free_port(), known_hosts=tmp_path / "kh")
    out = io.StringIO()
    assert trust_host(profile, locations, True, out, timeout=2) == 1
    assert out.getvalue().startswith(f"cannot fetch the host key of [127.0.0.1]:{profile.port}: ")
    assert not (tmp_path / "kh").exists()
