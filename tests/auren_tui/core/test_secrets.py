"""Secrets: the allow-list of keyring backends, and the real Secret Service.

The keyring tests run against gnome-keyring on a private D-Bus
(tests/services/keyring.py), not a mock. Each test uses profiles of its own,
since the keyring lives for the whole session.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.backends.SecretService
import pytest
from keyring.backend import KeyringBackend
from pydantic import SecretStr

from auren_tui.core.secrets import (
    SERVICE,
    InsecureKeyring,
    SecretError,
    SecretStore,
    check_backend,
    hint,
)
from tests.services.base import running
from tests.services.keyring import RealKeyring, SecretServiceKeyring

CANARY = "CANARY-" + uuid.uuid4().hex  # a value that must never show up anywhere
AUREN_TUI = str(Path(sys.executable).parent / "auren-tui")


def _profile() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class PlaintextStyleKeyring(KeyringBackend):
    """What keyrings.alt's PlaintextKeyring looks like: a file path, high priority."""

    priority = 5
    file_path = "/tmp/keyring_pass.cfg"

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a plaintext backend must never be written to")

    def delete_password(self, service: str, username: str) -> None:
        return None


# --------------------------------------------------------------------------- no keyring needed


@pytest.mark.parametrize(
    "backend",
    [keyring.backends.fail.Keyring(), keyring.backends.null.Keyring(), PlaintextStyleKeyring()],
    ids=["fail", "null", "plaintext-style"],
)
def test_insecure_backends_are_refused_with_one_line_saying_how_to_fix(
    backend: KeyringBackend,
) -> None:
    with pytest.raises(InsecureKeyring) as info:
        check_backend(backend)
    message = str(info.value)
    assert "\n" not in message
    assert "gnome-keyring" in message
    assert "keyrings.cryptfile" in message
    store = SecretStore(backend)
    with pytest.raises(InsecureKeyring):
        store.set("prod", "oura", SecretStr(CANARY))
    with pytest.raises(InsecureKeyring):
        store.names("prod")


def test_secret_service_backend_is_accepted() -> None:
    backend = keyring.backends.SecretService.Keyring()
    assert check_backend(backend) is backend


class _ChainerStub:
    """keyring's chainer, as check_backend sees it (class name and ``backends``)."""

    def __init__(self, backends: list[KeyringBackend]) -> None:
        self.backends = backends


_ChainerStub.__module__ = "keyring.backends.chainer"
_ChainerStub.__qualname__ = "ChainerBackend"


def test_chainer_is_judged_by_the_backend_it_would_write_to() -> None:
    secure = keyring.backends.SecretService.Keyring()
    assert check_backend(_ChainerStub([secure, PlaintextStyleKeyring()])) is secure  # type: ignore[arg-type]
    with pytest.raises(InsecureKeyring):
        check_backend(_ChainerStub([PlaintextStyleKeyring(), secure]))  # type: ignore[arg-type]
    with pytest.raises(InsecureKeyring, match="no usable backend"):
        check_backend(_ChainerStub([]))  # type: ignore[arg-type]


def test_a_keyring_that_cannot_start_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> KeyringBackend:
        raise RuntimeError("Unable to initialize SecretService: no D-Bus")

    monkeypatch.setattr("auren_tui.core.secrets.keyring.get_keyring", broken)
    with pytest.raises(InsecureKeyring, match=r"no secure keyring \(RuntimeError: Unable"):
        SecretStore().check_backend()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abcdefgh", "****"),  # 4 of 8 would be half of it
        ("abcdefghijklmno", "****"),
        ("abcdefghijklmnop", "****mnop"),  # 4 of 16: a quarter
        ("1234567", "****"),
        ("", "****"),
        pytest.param(CANARY, f"****{CANARY[-4:]}", id="canary"),  # random: a fixed id
    ],
)
def test_hint_shows_at_most_the_last_four_and_at_most_a_quarter(value: str, shown: str) -> None:
    assert hint(SecretStr(value)) == shown
    assert hint(SecretStr(value), mark="…") == shown.replace("****", "…")
    shown_chars = len(shown) - 4
    assert shown_chars <= len(value) / 4


@pytest.mark.parametrize(("profile", "name"), [("a/b", "x"), ("p", "../x"), ("p", ".names")])
def test_names_that_could_collide_are_refused(profile: str, name: str) -> None:
    store = SecretStore(keyring.backends.SecretService.Keyring())
    with pytest.raises(SecretError, match="invalid"):
        store.get(profile, name)


# --------------------------------------------------------------------------- the real keyring


@pytest.fixture
def store(real_keyring: RealKeyring) -> SecretStore:
    return SecretStore()


def test_the_session_keyring_is_the_real_secret_service(store: SecretStore) -> None:
    backend = store.check_backend()
    assert type(backend) is keyring.backends.SecretService.Keyring


def test_round_trip_in_the_real_keyring(store: SecretStore) -> None:
    profile = _profile()
    assert store.get(profile, "oura") is None
    store.set(profile, "oura", SecretStr(CANARY))
    value = store.get(profile, "oura")
    assert isinstance(value, SecretStr)
    assert value.get_secret_value() == CANARY
    assert CANARY not in repr(value)
    assert CANARY not in str(value)
    # It is an ordinary keyring entry: service auren-tui, user <profile>/<name>.
    assert keyring.get_password(SERVICE, f"{profile}/oura") == CANARY
    store.set(profile, "oura", SecretStr("rotated-secret"))
    assert store.get(profile, "oura") == SecretStr("rotated-secret")


def test_names_index_lives_in_the_keyring(store: SecretStore) -> None:
    profile = _profile()
    assert store.names(profile) == []
    store.set(profile, "whoop", SecretStr("w" * 12))
    store.set(profile, "ssh_password", SecretStr("p" * 12))
    store.set(profile, "whoop", SecretStr("x" * 12))  # replacing does not list it twice
    assert store.names(profile) == ["ssh_password", "whoop"]
    raw = keyring.get_password(SERVICE, f"{profile}/.names")
    assert raw is not None
    assert json.loads(raw) == ["ssh_password", "whoop"]
    assert store.delete(profile, "whoop") is True
    assert store.delete(profile, "whoop") is False
    assert store.get(profile, "whoop") is None
    assert store.names(profile) == ["ssh_password"]
    assert store.names(_profile()) == []  # other profiles are separate


def test_delete_all_removes_values_and_index(store: SecretStore) -> None:
    profile = _profile()
    store.set(profile, "a", SecretStr("a" * 10))
    store.set(profile, "b", SecretStr("b" * 10))
    assert store.delete_all(profile) == ["a", "b"]
    assert store.names(profile) == []
    assert keyring.get_password(SERVICE, f"{profile}/.names") is None
    assert store.get(profile, "a") is None


def test_damaged_index_reads_as_empty_and_is_rebuilt(store: SecretStore) -> None:
    profile = _profile()
    keyring.set_password(SERVICE, f"{profile}/.names", "{not json")
    assert store.names(profile) == []
    store.set(profile, "oura", SecretStr("o" * 10))
    assert store.names(profile) == ["oura"]


def test_dbus_gone_is_one_line_without_the_value(
    store: SecretStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store.check_backend()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    with pytest.raises(SecretError) as info:
        store.set("prod", "oura", SecretStr(CANARY))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("keyring: cannot store prod/oura: ")
    assert CANARY not in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    with pytest.raises(SecretError, match="cannot read prod/oura"):
        store.get("prod", "oura")


@pytest.fixture
def second_keyring(real_keyring: RealKeyring) -> Iterator[SecretServiceKeyring]:
    yield from running(SecretServiceKeyring())


def test_locked_keyring_is_one_line_saying_unlock(
    second_keyring: SecretServiceKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A keyring of its own: locking the session's would need a prompt to undo.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", second_keyring.address)
    store = SecretStore()
    store.set("prod", "oura", SecretStr("before-lock"))
    second_keyring.lock()
    started = time.monotonic()
    with pytest.raises(SecretError) as info:
        store.set("prod", "oura", SecretStr(CANARY))
    assert time.monotonic() - started < 10  # no prompt to wait for
    message = str(info.value)
    assert "\n" not in message
    assert CANARY not in message
    assert "KeyringLocked" in message
    assert "unlock your keyring" in message
    with pytest.raises(SecretError, match="KeyringLocked"):
        store.get("prod", "oura")


def test_harness_keyring_leaves_nothing_behind(real_keyring: RealKeyring) -> None:
    service = SecretServiceKeyring().start()
    workdir = service.workdir
    assert workdir is not None
    assert (workdir / "data" / "keyrings").is_dir()
    assert service.running()
    service.close()
    assert not service.running()
    assert not workdir.exists()


# --------------------------------------------------------------------------- the CLI, for real


def _config(tmp_path: Path) -> dict[str, str]:
    """AUREN_TUI_HOME for a subprocess, with profile ``prod`` in its config."""
    home = tmp_path / "home"
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[profiles.prod]\nhost = "203.0.113.7"\nuser = "deploy"\n')
    return {"AUREN_TUI_HOME": str(home)}


def _cli(env: dict[str, str], *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUREN_TUI, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _everything_written(home: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())


def test_secret_set_from_stdin_then_list_and_delete(
    real_keyring: RealKeyring, store: SecretStore, tmp_path: Path
) -> None:
    env = real_keyring.env | _config(tmp_path)
    seen = []
    profile = "prod"
    store.delete_all(profile)

    put = _cli(env, "secret", "set", profile, "oura", stdin=CANARY + "\n")
    seen.append(put)
    assert put.returncode == 0, put.stderr
    assert put.stdout.strip() == f"stored prod/oura (****{CANARY[-4:]})"
    assert store.get(profile, "oura") == SecretStr(CANARY)  # trailing newline stripped

    listed = _cli(env, "secret", "list", profile)
    seen.append(listed)
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == ["oura"]
    every = _cli(env, "secret", "list")
    seen.append(every)
    assert "prod/oura" in every.stdout.splitlines()

    for argv in (["profile", "show", "prod"], ["profile", "list"]):
        result = _cli(env, *argv)
        seen.append(result)
        assert result.returncode == 0, result.stderr
    assert re.search(r"^secrets: +oura", seen[-2].stdout, re.M)

    gone = _cli(env, "secret", "delete", profile, "oura")
    seen.append(gone)
    assert gone.returncode == 0
    assert store.get(profile, "oura") is None
    again = _cli(env, "secret", "delete", profile, "oura")
    seen.append(again)
    assert again.returncode == 1
    assert again.stderr.strip() == "auren-tui: error: no secret prod/oura in the keyring"

    for result in seen:
        assert CANARY not in result.stdout
        assert CANARY not in result.stderr
    assert CANARY not in _everything_written(tmp_path / "home")


def test_secret_set_prompts_without_echo_on_a_terminal(
    real_keyring: RealKeyring, store: SecretStore, tmp_path: Path
) -> None:
    env = real_keyring.env | _config(tmp_path)
    store.delete_all("prod")
    master, slave = pty.openpty()
    # A new session has no controlling terminal, so getpass turns echo off on
    # stdin (the pty) itself; what the pty echoes back is what a screen shows.
    proc = subprocess.Popen(
        [AUREN_TUI, "secret", "set", "prod", "ssh_password"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    assert proc.stderr is not None
    assert proc.stdout is not None
    screen = b""
    prompts = b""
    try:
        for prompt in (b"prod/ssh_password: ", b"prod/ssh_password (again): "):
            while prompt not in prompts:
                ready, _, _ = select.select([proc.stderr, master], [], [], 20)
                assert ready, f"no prompt; stderr so far: {prompts!r}"
                if proc.stderr in ready:
                    prompts += os.read(proc.stderr.fileno(), 1024)
                if master in ready:
                    screen += os.read(master, 1024)
            os.write(master, CANARY.encode() + b"\n")
        out, err = proc.communicate(timeout=30)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.decode().strip() == f"stored prod/ssh_password (****{CANARY[-4:]})"
    assert CANARY.encode() not in screen + prompts + err + out
    assert store.get("prod", "ssh_password") == SecretStr(CANARY)


@pytest.mark.parametrize(
    ("argv", "stdin", "code", "message"),
    [
        (["secret", "set", "nope", "oura"], "x" * 10, 2, "no profile named 'nope'"),
        (["secret", "set", "prod", "oura"], "\n", 2, "empty secret for prod/oura"),
        (["secret", "set", "prod", "bad/name"], "x" * 10, 2, "invalid secret name"),
        (["secret", "delete", "prod", "never-set"], "", 1, "no secret prod/never-set"),
    ],
)
def test_secret_cli_errors_are_one_line(
    real_keyring: RealKeyring,
    tmp_path: Path,
    argv: list[str],
    stdin: str,
    code: int,
    message: str,
) -> None:
    result = _cli(real_keyring.env | _config(tmp_path), *argv, stdin=stdin)
    assert result.returncode == code
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr


@pytest.mark.parametrize(
    "backend", ["keyring.backends.null.Keyring", "keyring.backends.fail.Keyring"]
)
def test_secret_set_refuses_an_insecure_keyring(tmp_path: Path, backend: str) -> None:
    env = {**os.environ, **_config(tmp_path), "PYTHON_KEYRING_BACKEND": backend}
    result = _cli(env, "secret", "set", "prod", "oura", stdin=CANARY)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("auren-tui: error: no secure keyring (")
    assert "install gnome-keyring" in result.stderr
    assert CANARY not in result.stderr


@pytest.mark.services
def test_a_keyring_daemon_that_went_away_is_noticed_and_restarted() -> None:
    """The harness's own repair (see tests/services/keyring.py: real_keyring)."""
    from tests.services.keyring import revive

    service = SecretServiceKeyring().start()
    try:
        assert revive(service) is None  # running: left alone
        assert service._daemon is not None
        os.killpg(service._daemon.pid, signal.SIGKILL)
        service._daemon.wait(10)
        assert not service.running()
        why = revive(service)
        assert why is not None
        assert "gnome-keyring-daemon exited with -9" in why
        assert service.running()
        assert service.round_trip()
    finally:
        service.close()
