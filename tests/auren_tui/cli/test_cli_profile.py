"""``auren-tui profile ...``: in-process through ``main``, and as the real script."""

from __future__ import annotations

import inspect
import io
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TextIO

import pytest
from pydantic import SecretStr

from auren_tui.__main__ import main
from auren_tui.core.config import LOCAL, load_config
from auren_tui.core.paths import Locations
from auren_tui.core.secrets import SecretStore
from tests.services.keyring import RealKeyring

AUREN_TUI = str(Path(sys.executable).parent / "auren-tui")


class Terminal(io.StringIO):
    """stdin that says it is a terminal (answers typed in advance)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def null_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """keyring's own choice, in this process, is the null backend (refused)."""
    import keyring.backends.null
    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.backends.null.Keyring())


@pytest.fixture
def locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Locations:
    monkeypatch.setenv("AUREN_TUI_HOME", str(tmp_path / "home"))
    return Locations.from_env()


def cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: TextIO | None = None,
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", stdin or io.StringIO(""))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _script(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUREN_TUI, *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=60,
        check=False,
    )


ADD_PROD = ("profile", "add", "prod", "--host", "203.0.113.7", "--user", "deploy")


# --------------------------------------------------------------------------- add / list / show


def test_add_list_show_remove(
    locations: Locations,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    null_keyring: None,
) -> None:
    code, out, err = cli(capsys, monkeypatch, *ADD_PROD, "--port", "2222", "--read-only")
    assert (code, err) == (0, "")
    assert (
        out.splitlines()[0] == "added profile prod: deploy@203.0.113.7:2222, auth auto, read-only"
    )
    prod = load_config(locations).profile("prod")
    assert (prod.host, prod.port, prod.user, prod.auth, prod.read_only) == (
        "203.0.113.7",
        2222,
        "deploy",
        "auto",
        True,
    )

    code, out, _ = cli(capsys, monkeypatch, "profile", "list")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["NAME", "TARGET", "AUTH", "READ-ONLY"],
        ["local", "this", "machine", "-", "no"],
        ["prod", "deploy@203.0.113.7:2222", "auto", "yes"],
    ]

    code, out, _ = cli(capsys, monkeypatch, "profile", "show", "prod")
    assert code == 0
    shown = dict(line.split(":", 1) for line in out.splitlines() if not line.startswith(" "))
    assert shown["read-only"].strip() == "yes"
    # Each SSH value as the connection resolves it, and where it came from.
    resolved = {
        k.strip(): v.strip()
        for k, v in (line.split(":", 1) for line in out.splitlines() if line.startswith("  "))
        if "[" in v
    }
    assert resolved["hostname"] == "203.0.113.7  [profile]"
    assert resolved["port"] == "2222  [profile]"
    assert resolved["user"] == "deploy  [profile]"
    assert resolved["jump hosts"] == "-  [-]"
    assert "bridge" in out
    assert "biometric-bridge" in out

    code, out, _ = cli(capsys, monkeypatch, "profile", "remove", "prod", "--yes")
    assert code == 0
    assert "removed profile prod" in out
    assert list(load_config(locations).profiles) == [LOCAL]


def test_show_says_when_the_keyring_is_unavailable(
    locations: Locations,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    null_keyring: None,
) -> None:
    cli(capsys, monkeypatch, *ADD_PROD)
    code, out, _ = cli(capsys, monkeypatch, "profile", "show", "prod")
    assert code == 0
    assert re.search(r"^secrets: +\(keyring unavailable: no secure keyring", out, re.M), out


def test_add_with_key_file_means_key_auth_and_says_what_next(
    locations: Locations,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not really a key")
    args = (*ADD_PROD, "--key-file", str(key), "--known-hosts", str(tmp_path / "kh"))
    code, out, err = cli(capsys, monkeypatch, *args, "--docker-host", "unix:///run/docker.sock")
    assert (code, err) == (0, "")
    assert "auren-tui secret set prod key_passphrase" in out
    assert "auren-tui profile trust prod" in out
    prod = load_config(locations).profile("prod")
    assert (prod.auth, prod.key_file, prod.known_hosts) == ("key", key, tmp_path / "kh")
    assert prod.docker_host == "unix:///run/docker.sock"


def test_add_password_auth_points_at_secret_set(
    locations: Locations, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(capsys, monkeypatch, *ADD_PROD, "--auth", "password")
    assert code == 0
    assert "auren-tui secret set prod ssh_password" in out
    assert "password" not in locations.config_file.read_text().replace('auth = "password"', "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((*ADD_PROD[:2], "local", *ADD_PROD[3:]), "'local' is the built-in profile"),
        ((*ADD_PROD[:2], "bad/name", *ADD_PROD[3:]), "invalid profile name 'bad/name'"),
        ((*ADD_PROD, "--auth", "key"), "--auth key needs --key-file PATH"),
        ((*ADD_PROD, "--auth", "agent", "--key-file", "/k"), "--key-file is only used with"),
        ((*ADD_PROD, "--docker-host", "/var/run/docker.sock"), "--docker-host must start with"),
        ((*ADD_PROD[:4], "two words", "--user", "u"), "--host must be a single word"),
        ((*ADD_PROD, "--port", "70000"), "argument --port: must be between 1 and 65535"),
        ((*ADD_PROD, "--port", "ssh"), "argument --port: not a port number"),
        ((*ADD_PROD, "--auth", "kerberos"), "argument --auth: invalid choice"),
        (("profile", "add", "prod", "--user", "u"), "give --host (the server) or --ssh-host"),
        ((*ADD_PROD, "--jump", "u@"), "--jump: "),
        ((*ADD_PROD, "--docker-command", "docker; rm -rf /"), "--docker-command: must be a plain"),
        (("profile", "show", "nope"), "no profile named 'nope' (profiles: local)"),
        (("profile", "remove", "nope", "--yes"), "no profile named 'nope'"),
        (("profile",), "required: ACTION"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    locations: Locations,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    message: str,
) -> None:
    try:
        code, out, err = cli(capsys, monkeypatch, *argv)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
        out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert not locations.config_file.exists()


def test_add_twice_is_refused(
    locations: Locations, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(capsys, monkeypatch, *ADD_PROD)
    before = locations.config_file.read_bytes()
    code, _, err = cli(capsys, monkeypatch, *ADD_PROD[:4], "198.51.100.1", "--user", "x")
    assert code == 2
    assert "profile 'prod' already exists" in err
    assert locations.config_file.read_bytes() == before


# --------------------------------------------------------------------------- remove


def test_local_cannot_be_removed(
    locations: Locations, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(capsys, monkeypatch, "profile", "remove", "local", "--yes")
    assert (code, out) == (2, "")
    assert err == "auren-tui: error: the built-in profile 'local' cannot be removed\n"


def test_remove_without_yes_and_no_terminal_refuses(
    locations: Locations, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(capsys, monkeypatch, *ADD_PROD)
    code, out, err = cli(capsys, monkeypatch, "profile", "remove", "prod")
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert "stdin is not a terminal" in err
    assert "pass --yes" in err
    assert "prod" in load_config(locations).profiles


@pytest.mark.parametrize(("answer", "removed"), [("y\n", True), ("n\n", False), ("\n", False)])
def test_remove_asks_on_a_terminal(
    locations: Locations,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    null_keyring: None,
    answer: str,
    removed: bool,
) -> None:
    cli(capsys, monkeypatch, *ADD_PROD)
    code, _, err = cli(capsys, monkeypatch, "profile", "remove", "prod", stdin=Terminal(answer))
    assert "Remove profile 'prod' and its secrets from the keyring? [y/N]" in err
    assert code == (0 if removed else 1)
    assert ("prod" in load_config(locations).profiles) is not removed
    if removed:  # the keyring was refused: the profile is gone, the operator is told
        assert "warning: its secrets may still be in the keyring" in err


def test_removing_the_default_profile_clears_the_default(
    locations: Locations,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    null_keyring: None,
) -> None:
    cli(capsys, monkeypatch, *ADD_PROD)
    text = locations.config_file.read_text().replace("[ui]\n", '[ui]\ndefault_profile = "prod"\n')
    locations.config_file.write_text(text)
    _, out, _ = cli(capsys, monkeypatch, "profile", "list")
    assert out.splitlines()[2].startswith("*  prod")
    code, _, _ = cli(capsys, monkeypatch, "profile", "remove", "prod", "-y")
    assert code == 0
    assert load_config(locations).ui.default_profile is None


def test_remove_deletes_the_profiles_secrets(
    real_keyring: RealKeyring,
    locations: Locations,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SecretStore()
    store.delete_all("doomed")
    store.delete_all("kept")
    cli(capsys, monkeypatch, "profile", "add", "doomed", "--host", "h", "--user", "u")
    store.set("doomed", "ssh_password", SecretStr("doomed-password"))
    store.set("doomed", "oura", SecretStr("doomed-oura"))
    store.set("kept", "oura", SecretStr("kept-oura"))
    code, out, err = cli(capsys, monkeypatch, "profile", "show", "doomed")
    assert re.search(r"^secrets: +oura, ssh_password$", out, re.M), out
    code, out, err = cli(capsys, monkeypatch, "profile", "remove", "doomed", "--yes")
    assert (code, err) == (0, "")
    assert "deleted its secrets: oura, ssh_password" in out
    assert store.names("doomed") == []
    assert store.get("doomed", "ssh_password") is None
    assert store.get("kept", "oura") == SecretStr("kept-oura")
    for text in (out, err, locations.config_file.read_text()):
        assert "doomed-password" not in text


# --------------------------------------------------------------------------- trust


def test_real_hostkeys_module_has_the_trust_host_the_cli_calls() -> None:
    from auren_tui.core.transport import trust

    params = inspect.signature(trust.trust_host).parameters
    assert list(params)[:2] == ["profile", "locations"]
    assert {"assume_yes", "out", "inp"} <= set(params)


# --------------------------------------------------------------------------- the real script


def test_bad_config_file_is_one_line_exit_2_without_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    env = {"AUREN_TUI_HOME": str(home), "PATH": "/usr/bin:/bin"}
    for text, key in [
        ("[profiles.prod]\nhost = 'h'\nport = 99999\n", "profiles.prod.port"),
        ("[profiles.prod\n", "invalid TOML"),
        ("[profiles.prod]\nhost = 'h'\nauth = 'magic'\n", "profiles.prod.auth"),
    ]:
        config.write_text(text)
        for argv in (["profile", "list"], ["profile", "show", "prod"], [*ADD_PROD]):
            result = _script(*argv, env=env)
            assert result.returncode == 2, (argv, result.stderr)
            assert result.stdout == ""
            assert len(result.stderr.splitlines()) == 1, result.stderr
            assert "Traceback" not in result.stderr
            assert str(config) in result.stderr
            assert key in result.stderr
        debug = _script("--debug", "profile", "list", env=env)
        assert debug.returncode == 2
        assert "Traceback (most recent call last)" in debug.stderr
        assert debug.stderr.splitlines()[-1].startswith("auren-tui: error: ")
        late = _script("profile", "list", "--debug", env=env)
        assert "Traceback (most recent call last)" in late.stderr


def test_usage_error_from_argparse_is_one_line(tmp_path: Path) -> None:
    result = _script("profile", "add", "x", env={"AUREN_TUI_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "auren-tui: error: give --host (the server) or --ssh-host (a Host of your SSH config)"
    ]


def test_headless_commands_never_import_textual(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from auren_tui.__main__ import main\n"
        "assert main(['profile', 'list']) == 0\n"
        "assert main(['profile', 'show', 'local']) == 0\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            "AUREN_TUI_HOME": str(tmp_path),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_profile_add_writes_no_secret_and_a_private_file(
    locations: Locations, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(capsys, monkeypatch, *ADD_PROD, "--auth", "password")
    data = tomllib.loads(locations.config_file.read_text())
    assert set(data["profiles"]["prod"]) == {"host", "user", "auth", "read_only"}
    assert oct(locations.config_file.stat().st_mode & 0o777) == "0o600"
