"""SSH config resolution (core/transport/sshconfig.py), checked against the real OpenSSH client.

OpenSSH is the reference: most tests write a config into a temp dir, resolve an
alias with ``resolve()`` and compare every field with what ``ssh -G -F FILE
ALIAS`` prints. ``ssh`` is a test dependency (openssh-client, pulled in by the
openssh-server that scripts/system-deps.sh installs): without it these tests
fail, they do not skip.

How ssh's output is compared with HostConfig:

- Home directory. The tests set ``$HOME`` to a temp dir. OpenSSH takes ``~``
  and ``%d`` from the passwd entry, not from ``$HOME`` (``ssh -G`` prints
  ``/root/...`` whatever ``$HOME`` says), so a path ssh prints under the passwd
  home is compared with the same path under the fake home. Include globs are
  the exception: glob(3) expands ``~`` from ``$HOME``, so ssh reads relative
  Includes from the temp dir too (which is what lets this test compare them).
- identityfile / certificatefile. ``ssh -G`` prints them as written: no ``~``,
  no tokens (ssh expands them only when it loads the keys). The expanded paths
  are taken from ``ssh -v -o ProxyCommand=true``, which logs ``identity file
  PATH type N`` for each file as it loads them; the proxy command exits at once
  and ssh stops at the key exchange, so nothing is contacted.
  HostConfig lists a path once where ssh may load it twice (two spellings of
  one file), so ssh's list is compared with its repeats dropped.
- proxyjump. ``ssh -G`` rewrites the last hop (``user@[host]:port``); the hops
  before it are printed as written. The last hop is compared through parse_jump.
- connecttimeout. ``none`` and ``0`` (no timeout, to ssh) are both None.
- user. ssh's default is the passwd name, getpass's is ``$LOGNAME`` first:
  the fixture sets ``$LOGNAME`` to the passwd name.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from auren_tui.core.transport import sshconfig
from auren_tui.core.transport.sshconfig import OPENSSH_DEFAULT, HostConfig, resolve
from auren_tui.core.transport.sshconfig_syntax import SshConfigError, parse_jump

SSH = Path("/usr/bin/ssh")
PASSWD = pwd.getpwuid(os.getuid())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home with an empty ~/.ssh; fails (not skips) without OpenSSH's client."""
    if not SSH.is_file():
        pytest.fail(f"{SSH} is missing: install openssh-client (make system-deps)")
    assert PASSWD.pw_dir not in ("", "/"), "the passwd home is needed to map ssh's paths"
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LOGNAME", PASSWD.pw_name)
    return home


def write(path: Path, text: str) -> Path:
    """A config file, private as ssh wants included files to be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    path.chmod(0o600)
    return path


def run_ssh(
    args: list[str], home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LOGNAME": PASSWD.pw_name}
    return subprocess.run(
        [str(SSH), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )


def openssh(
    config: Path, alias: str, home: Path, env: dict[str, str] | None = None
) -> dict[str, list[str]]:
    """``ssh -G -F config alias``: each lowercase keyword with its values, in order."""
    out = run_ssh(["-G", "-F", str(config), alias], home, env)
    assert out.returncode == 0, out.stderr
    options: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        options.setdefault(key, []).append(value)
    return options


def openssh_refuses(config: Path, alias: str, home: Path) -> str:
    """ssh's error output for a config it will not use."""
    out = run_ssh(["-G", "-F", str(config), alias], home)
    assert out.returncode != 0, f"ssh accepted {config}:\n{out.stdout}"
    return out.stderr


def from_ssh(text: str, home: Path) -> Path:
    """A path ssh printed, with its passwd home replaced by the test's home."""
    if text == PASSWD.pw_dir or text.startswith(PASSWD.pw_dir + "/"):
        return Path(str(home) + text[len(PASSWD.pw_dir) :])
    return Path(text)


def unvis(text: str) -> str:
    """ssh's log lines are strnvis()-encoded: a backslash is ``\\\\``, odd bytes ``\\ooo``."""
    return re.sub(r"\\(\\|[0-7]{3})", lambda m: "\\" if m[1] == "\\" else chr(int(m[1], 8)), text)


def openssh_key_files(
    config: Path, alias: str, home: Path, env: dict[str, str] | None = None
) -> tuple[list[Path], list[Path]]:
    """The identity and certificate files as ssh expands them when it loads keys."""
    out = run_ssh(
        ["-v", "-F", str(config), "-o", "ProxyCommand=true", "-o", "BatchMode=yes", alias],
        home,
        env,
    )
    found: dict[str, list[Path]] = {"identity": [], "certificate": []}
    for line in out.stderr.splitlines():
        if match := re.fullmatch(r"debug1: (identity|certificate) file (.+) type -?\d+", line):
            found[match[1]].append(from_ssh(unvis(match[2]), home))
    identities, certificates = found["identity"], found["certificate"]
    assert "Executing proxy command: exec true" in out.stderr, out.stderr
    if not certificates:
        # With no CertificateFile ssh also tries PATH-cert after each identity.
        assert identities[1::2] == [Path(f"{p}-cert") for p in identities[::2]]
        identities = identities[::2]
    return identities, certificates


def assert_agrees(
    ours: HostConfig, config: Path, home: Path, env: dict[str, str] | None = None
) -> None:
    """Every HostConfig field against ``ssh -G`` (and ``ssh -v`` for the key files)."""
    ssh = openssh(config, ours.alias, home, env)
    defaults = openssh(write(home / "empty.conf", ""), ours.alias, home)["identityfile"]
    identities, certificates = openssh_key_files(config, ours.alias, home, env)
    one = {key: values[0] for key, values in ssh.items()}
    assert ours.user == one["user"]
    assert ours.hostname == one["hostname"]
    assert ours.port == int(one["port"])
    assert ours.identities_only == (one["identitiesonly"] == "yes")
    timeout = one["connecttimeout"]
    assert ours.connect_timeout == (None if timeout in ("none", "0") else float(timeout))
    assert ours.server_alive_interval == int(one["serveraliveinterval"])
    assert ours.server_alive_count_max == int(one["serveralivecountmax"])
    known = one["userknownhostsfile"]
    expected_known = () if known == "none" else tuple(from_ssh(k, home) for k in known.split(" "))
    assert ours.user_known_hosts_files == expected_known
    assert ours.identity_files == tuple(dict.fromkeys(identities))
    assert ours.identity_files_default == (ssh["identityfile"] == defaults)
    assert ours.certificate_files == tuple(dict.fromkeys(certificates))
    if "proxyjump" in one:
        *before, last = one["proxyjump"].split(",")
        assert ours.proxy_jump[:-1] == tuple(before)
        assert parse_jump(ours.proxy_jump[-1]) == parse_jump(last)
    else:
        assert ours.proxy_jump == ()
    assert ours.proxy_command == one.get("proxycommand")


MAIN = """
    # Before the first Host line: applies to every host.
    ServerAliveCountMax 4
    Include conf.d/*.conf

    Host web-* !web-legacy db?
        IdentityFile ~/.ssh/web_ed25519
        IdentitiesOnly yes
        ConnectTimeout 1m30s
        Include hosts/web.inc

    Host db?
        ProxyJump jump@bastion1:2201,ssh://ops@bastion2:2222  # two hops
        CertificateFile ~/.ssh/db-cert.pub
        Port 5022

    Host no-such-host
        Include hosts/never.inc

    Host *.example.org
        Port 2022
        IdentityFile %d/.ssh/org_%r_%p

    Host *
        IdentityFile ~/.ssh/%h_%r_%p
        IdentityFile "~/.ssh/my keys/shared.key"
        UserKnownHostsFile ~/.ssh/known_%n %d/.ssh/known_shared
        ServerAliveInterval 15
        CertificateFile %d/.ssh/%u-cert.pub
"""


@pytest.fixture
def main_config(home: Path) -> Path:
    ssh = home / ".ssh"
    # Sorted order matters: both set User for web-*, and 10- comes first.
    write(
        ssh / "conf.d/20-second.conf",
        """
        Host web-* db?
            User bob
            HostName %h.internal.example
            ServerAliveCountMax 9
    """,
    )
    write(
        ssh / "conf.d/10-first.conf",
        """
        Host web-*
            User alice
            Port 2201
    """,
    )
    write(
        ssh / "hosts/web.inc",
        """
        ServerAliveInterval 5
        IdentityFile ~/.ssh/from_include
    """,
    )
    write(
        ssh / "hosts/never.inc",
        """
        Port 9999
        User mallory
        ProxyCommand nc %h %p
    """,
    )
    return write(ssh / "main.conf", MAIN)


@pytest.mark.parametrize(
    "alias", ["web-1", "web-legacy", "db1", "box.example.org", "Box.Example.Org", "Mixed-Case"]
)
def test_resolver_agrees_with_openssh(main_config: Path, home: Path, alias: str) -> None:
    ours = resolve(alias, [main_config])
    assert_agrees(ours, main_config, home)
    # The features are really exercised (an agreement on defaults alone would prove little).
    assert ours.server_alive_count_max == 4
    assert ours.user != "mallory"
    assert ours.port != 9999
    assert ours.proxy_command is None
    assert home / ".ssh/my keys/shared.key" in ours.identity_files


def test_main_config_values(main_config: Path, home: Path) -> None:
    web = resolve("web-1", [main_config])
    assert (web.user, web.port, web.hostname) == ("alice", 2201, "web-1.internal.example")
    assert web.identities_only
    assert web.connect_timeout == 90.0
    assert web.server_alive_interval == 5  # from hosts/web.inc, before Host *'s 15
    assert web.identity_files[:3] == (
        home / ".ssh/web_ed25519",
        home / ".ssh/from_include",
        home / ".ssh/web-1.internal.example_alice_2201",
    )
    assert web.user_known_hosts_files == (home / ".ssh/known_web-1", home / ".ssh/known_shared")
    legacy = resolve("web-legacy", [main_config])
    assert not legacy.identities_only
    assert legacy.server_alive_interval == 15
    db = resolve("db1", [main_config])
    assert db.proxy_jump == ("jump@bastion1:2201", "ssh://ops@bastion2:2222")
    assert (db.user, db.port) == ("bob", 5022)
    assert db.certificate_files == (
        home / ".ssh/db-cert.pub",
        home / f".ssh/{PASSWD.pw_name}-cert.pub",
    )
    # Host patterns are case-sensitive; the host name is lowercased, %n keeps the alias.
    assert resolve("Box.Example.Org", [main_config]).port == 22
    mixed = resolve("Mixed-Case", [main_config])
    assert mixed.hostname == "mixed-case"
    assert mixed.user_known_hosts_files[0] == home / ".ssh/known_Mixed-Case"


def test_tokens_and_environment_agree_with_openssh(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        home / ".ssh/tokens.conf",
        """
        Host tok
            HostName Tok.%h.Example
            User deploy
            Port 2022
            HostKeyAlias Alias-Key
            IdentityFile ~/.ssh/t_%C_%h_%i_%k_%L_%l_%n_%p_%r_%u_%%
            IdentityFile %d/.ssh/${AUREN_TEST_KEYS}/id
            UserKnownHostsFile %d/.ssh/kh_%k_%C ~/${AUREN_TEST_KEYS}/kh
    """,
    )
    monkeypatch.setenv("AUREN_TEST_KEYS", "keys")
    ours = resolve("tok", [config])
    assert_agrees(ours, config, home, env={"AUREN_TEST_KEYS": "keys"})
    assert ours.hostname == "tok.tok.example"
    assert ours.identity_files[1] == home / ".ssh/keys/id"
    assert "_alias-key_" in ours.identity_files[0].name
    assert ours.identity_files[0].name.endswith("_%")


def test_defaults_agree_with_openssh(home: Path) -> None:
    config = write(home / ".ssh/empty-box.conf", "Host other\n    User nobody-else\n")
    ours = resolve("box", [config])
    assert_agrees(ours, config, home)
    assert ours.identity_files_default
    assert ours.identity_files[0] == home / ".ssh/id_rsa"
    assert ours.user_known_hosts_files == (home / ".ssh/known_hosts", home / ".ssh/known_hosts2")
    assert (ours.port, ours.user, ours.connect_timeout) == (22, PASSWD.pw_name, None)
    assert (ours.server_alive_interval, ours.server_alive_count_max) == (0, 3)
    assert set(ours.sources.values()) == {OPENSSH_DEFAULT}


def test_first_value_wins_lists_accumulate_and_syntax(home: Path) -> None:
    config = write(
        home / ".ssh/syntax.conf",
        """
        HOST one
            port=2201
            USER = first
            identityFile="~/.ssh/with space/id one"
            IdentityFile ~/.ssh/second   # a comment after the value
            IdentityFile ~/.ssh/esc\\ aped
            IdentityFile "~/.ssh/quote\\"d"
            IdentityFile ~/.ssh/back\\\\slash
            IdentityFile ~/.ssh/second
            User second
            ConnectTimeout none
        Host one two
            Port 2202
            identityfile ~/.ssh/third
            ConnectTimeout 7
            UserKnownHostsFile ~/.ssh/kh_a "~/.ssh/kh b"
            UserKnownHostsFile ~/.ssh/kh_c
            CertificateFile ~/.ssh/c1
            CertificateFile ~/.ssh/c2
    """,
    )
    ours = resolve("one", [config])
    assert (ours.port, ours.user) == (2201, "first")
    assert ours.identity_files == (
        home / ".ssh/with space/id one",
        home / ".ssh/second",
        home / ".ssh/esc aped",
        home / '.ssh/quote"d',
        home / ".ssh/back\\slash",
        home / ".ssh/third",
    )
    assert ours.certificate_files == (home / ".ssh/c1", home / ".ssh/c2")
    assert ours.connect_timeout == 7.0  # "none" does not count as obtained, as in ssh
    assert ours.user_known_hosts_files == (home / ".ssh/kh_a", home / ".ssh/kh b")
    # ssh prints the known hosts files space-separated: compare all but that one.
    ssh = openssh(config, "one", home)
    assert ssh["userknownhostsfile"] == [f"{PASSWD.pw_dir}/.ssh/kh_a {PASSWD.pw_dir}/.ssh/kh b"]
    assert (ssh["port"], ssh["user"], ssh["connecttimeout"]) == (["2201"], ["first"], ["7"])
    assert openssh_key_files(config, "one", home) == (
        list(ours.identity_files),
        list(ours.certificate_files),
    )


def test_one_file_spelled_twice_is_listed_once(home: Path) -> None:
    config = write(home / ".ssh/twice.conf", "IdentityFile ~/.ssh/id\nIdentityFile %d/.ssh/id\n")
    assert resolve("box", [config]).identity_files == (home / ".ssh/id",)
    identities, _ = openssh_key_files(config, "box", home)
    assert identities == [home / ".ssh/id"] * 2  # ssh dedupes as written only


def test_identity_file_none(home: Path) -> None:
    config = write(home / ".ssh/none.conf", "IdentityFile none\nUserKnownHostsFile none\n")
    ours = resolve("box", [config])
    assert_agrees(ours, config, home)
    assert ours.identity_files == ()
    assert not ours.identity_files_default
    assert ours.user_known_hosts_files == ()
    assert ours.sources["identity_files"] == "~/.ssh/none.conf line 1"


def test_sources_name_file_and_line(home: Path) -> None:
    ssh = home / ".ssh"
    write(
        ssh / "inc/a.conf",
        """
        # who
        Host box
            User ops
            CertificateFile ~/.ssh/c1
    """,
    )
    config = write(
        ssh / "prov.conf",
        """
        Include inc/*.conf
        Host *
            IdentityFile ~/.ssh/id_main
            ProxyJump hop
    """,
    )
    ours = resolve("box", [config])
    assert ours.sources["user"] == "~/.ssh/inc/a.conf line 3"
    assert ours.sources["certificate_files"] == "~/.ssh/inc/a.conf line 4"
    assert ours.sources["identity_files"] == "~/.ssh/prov.conf line 3"
    assert ours.sources["proxy_jump"] == "~/.ssh/prov.conf line 4"
    assert ours.sources["proxy_command"] == "~/.ssh/prov.conf line 4"  # ProxyJump decided it
    for name in ("port", "hostname", "connect_timeout", "user_known_hosts_files"):
        assert ours.sources[name] == OPENSSH_DEFAULT
    assert set(ours.sources) == {
        "hostname", "port", "user", "identity_files", "identities_only", "certificate_files",
        "proxy_jump", "proxy_command", "user_known_hosts_files", "connect_timeout",
        "server_alive_interval", "server_alive_count_max",
    }  # fmt: skip


def test_default_files(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = home / "etc-ssh_config"
    monkeypatch.setattr(sshconfig, "DEFAULT_FILES", (Path("~/.ssh/config"), system))
    assert resolve("box").sources["user"] == OPENSSH_DEFAULT  # neither file exists: skipped
    write(home / ".ssh/config", "Host box\n    User from-user-file\n")
    write(system, "Host *\n    User from-system\n    Port 2200\n")
    ours = resolve("box")
    assert (ours.user, ours.port) == ("from-user-file", 2200)
    assert ours.sources["user"] == "~/.ssh/config line 2"
    assert ours.sources["port"] == f"{system} line 3".replace(str(home), "~")
    (home / ".ssh/config").chmod(0o666)  # ssh refuses a user config others can write
    with pytest.raises(SshConfigError, match=r"^~/\.ssh/config: bad owner or permissions"):
        resolve("box")


def test_system_file_includes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As ssh: relative Includes of the system file are under /etc/ssh, and ``~`` is refused."""
    system = write(home / "etc-ssh_config", "Include auren-test-surely-absent-*.conf\n")
    monkeypatch.setattr(sshconfig, "DEFAULT_FILES", (Path("~/.ssh/config"), system))
    write(home / ".ssh/auren-test-surely-absent-1.conf", "User from-home\n")
    assert resolve("box").user == PASSWD.pw_name  # looked for in /etc/ssh, not ~/.ssh
    write(system, "Include ~/.ssh/x.conf\n")
    with pytest.raises(SshConfigError, match=r"line 1: bad Include path '~/\.ssh/x\.conf'"):
        resolve("box")


def test_bad_port_is_one_line_naming_file_and_line(home: Path) -> None:
    config = write(home / ".ssh/bad.conf", "Host other\n    Port abc\n")
    with pytest.raises(SshConfigError) as caught:
        resolve("box", [config])  # checked even where it does not apply, as ssh does
    assert str(caught.value) == "~/.ssh/bad.conf line 2: bad Port 'abc' (a number 1-65535)"
    assert "line 2: Bad port 'abc'" in openssh_refuses(config, "box", home)
    write(home / ".ssh/inc/bad.conf", "Port 70000\n")
    including = write(home / ".ssh/including.conf", "Host box\n  Include inc/bad.conf\n")
    with pytest.raises(SshConfigError, match=r"^~/\.ssh/inc/bad\.conf line 1: bad Port '70000'"):
        resolve("box", [including])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("UserKnownHostsFile ~/.ssh/kh_%z\n", "unknown token %z"),
        ("IdentityFile ~/.ssh/id_%\n", "unknown token a lone %"),
        ("IdentityFile ~/.ssh/${AUREN_SURELY_UNSET}\n", "AUREN_SURELY_UNSET is not set"),
        ('User "unbalanced\n', "unbalanced quotes"),
        ("Port 22 23\n", "Port takes one value"),
        ("Host other\n    ProxyJump user@:22\n", "ProxyJump hop 'user@:22'"),
        ("ServerAliveInterval 5x\n", "bad ServerAliveInterval '5x'"),
        ("UserKnownHostsFile a none\n", '"none" must appear alone'),
        ("Port\n", "no value after Port"),
        ("ProxyJump a, b\n", "ProxyJump hop ''"),  # a blank ends the value: 'a,' is left
    ],
)
def test_errors_name_file_line_and_problem(home: Path, text: str, problem: str) -> None:
    config = write(home / ".ssh/err.conf", text)
    with pytest.raises(SshConfigError) as caught:
        resolve("box", [config])
    line = text.count("\n")
    assert str(caught.value).startswith(f"~/.ssh/err.conf line {line}: ")
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)
    if "IdentityFile" in text:  # ssh -G prints it unexpanded: ssh fails when it loads keys
        args = ["-v", "-F", str(config), "-o", "ProxyCommand=true", "-o", "BatchMode=yes", "box"]
        assert "vdollar_percent_expand: " in run_ssh(args, home).stderr
    else:
        openssh_refuses(config, "box", home)


def test_include_loop_is_an_error_not_a_recursion(home: Path) -> None:
    config = write(home / ".ssh/loop.conf", "Host *\n    Include loop.conf\n")
    with pytest.raises(SshConfigError, match=r"line 2: Include nested more than 16 deep"):
        resolve("box", [config])
    assert "Too many recursive configuration includes" in openssh_refuses(config, "box", home)


def test_include_under_non_matching_host_is_read_but_not_applied(home: Path) -> None:
    # Not even a Host line of the included file can match, and the block stays off after it.
    write(home / ".ssh/never.conf", "User never\nHost *\n    Port 2999\n")
    config = write(
        home / ".ssh/skip.conf",
        """
        Host other
            Include never.conf missing*.conf
            ConnectTimeout 9
        Host box
            ConnectTimeout 0
    """,
    )
    ours = resolve("box", [config])
    assert (ours.user, ours.port) == (PASSWD.pw_name, 22)
    assert ours.connect_timeout is None  # 0 is no timeout to ssh
    assert_agrees(ours, config, home)


def test_include_depth_limit_matches_openssh(home: Path) -> None:
    """16 nested Includes are fine, a 17th is refused, by both."""
    ssh = home / ".ssh"
    for level in range(17):
        write(ssh / f"level{level}.conf", f"Include level{level + 1}.conf\n")
    write(ssh / "level17.conf", "User deepest\n")
    assert resolve("box", [ssh / "level1.conf"]).user == "deepest"
    assert openssh(ssh / "level1.conf", "box", home)["user"] == ["deepest"]
    with pytest.raises(SshConfigError, match=r"^~/\.ssh/level16\.conf line 1: Include nested"):
        resolve("box", [ssh / "level0.conf"])
    openssh_refuses(ssh / "level0.conf", "box", home)


def test_included_file_writable_by_others_is_refused(home: Path) -> None:
    write(home / ".ssh/open.conf", "User anyone\n").chmod(0o666)
    config = write(home / ".ssh/top.conf", "Include open.conf\n")
    with pytest.raises(SshConfigError, match=r"^~/\.ssh/open\.conf: bad owner or permissions"):
        resolve("box", [config])
    assert "Bad owner or permissions" in openssh_refuses(config, "box", home)
    # Group-writable: Debian's ssh accepts it when the group is the owner's alone; agree.
    (home / ".ssh/open.conf").chmod(0o664)
    try:
        ours = resolve("box", [config]).user
    except SshConfigError:
        ours = "refused"
    out = run_ssh(["-G", "-F", str(config), "box"], home)
    assert ours == ("anyone" if out.returncode == 0 else "refused"), out.stderr


def test_explicit_missing_file(home: Path) -> None:
    missing = home / ".ssh/absent.conf"
    with pytest.raises(SshConfigError, match=r"^~/\.ssh/absent\.conf: no such SSH config file$"):
        resolve("box", [missing])
    assert "Can't open user config file" in openssh_refuses(missing, "box", home)


def test_match_is_skipped_with_a_warning(home: Path) -> None:
    config = write(
        home / ".ssh/match.conf",
        """
        Match host elsewhere
            Port 2200
        Match all
            User everyone
        Host box
            Port 2201
    """,
    )
    ours = resolve("box", [config])
    assert ours.warnings == (
        "~/.ssh/match.conf line 1: Match blocks are not evaluated by auren-tui (ignored)",
    )
    assert (ours.port, ours.user) == (2201, "everyone")
    assert_agrees(ours, config, home)


def test_canonicalize_hostname_is_reported(home: Path) -> None:
    config = write(home / ".ssh/canon.conf", "CanonicalizeHostname yes\n")
    assert resolve("box", [config]).warnings == (
        "~/.ssh/canon.conf line 1: CanonicalizeHostname is not applied by auren-tui "
        "(Host blocks are matched against the name as given)",
    )
    write(config, "CanonicalizeHostname no\nCanonicalizeHostname yes\n")
    assert resolve("box", [config]).warnings == ()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Real.%h.COM", "real.box.com"),  # names are lowercased
        ("10.0.0.AB", "10.0.0.ab"),  # not an address
        ("10.1", "10.0.0.1"),  # inet_aton forms are written out (known_hosts has that name)
        ("2222", "0.0.8.174"),
        ("FE80::AB", "FE80::AB"),  # already canonical but for case: kept
        ("fe80:0:0::1", "fe80::1"),
        ("fe80::1%%eth0", "fe80::1%eth0"),
    ],
)
def test_host_name_as_ssh_writes_it(home: Path, written: str, expected: str) -> None:
    config = write(home / ".ssh/name.conf", f"HostName {written}\n")
    assert resolve("box", [config]).hostname == expected
    assert openssh(config, "box", home)["hostname"] == [expected]


@pytest.mark.parametrize(
    ("first", "second", "jump", "command"),
    [
        ("ProxyJump j1,u@j2:2200", "ProxyCommand nc %h %p", ("j1", "u@j2:2200"), None),
        ("ProxyCommand nc %h %p", "ProxyJump j1", (), "nc %h %p"),
        ("ProxyCommand none", "ProxyJump j1", (), None),
        ("ProxyJump none", "ProxyJump j1", (), None),
        ("ProxyJump NONE", "ProxyCommand NONE", (), None),
        ("ProxyJump u@h:22 junk after a blank", "ProxyCommand nc", ("u@h:22",), None),
        # ProxyJump none blocks only later ProxyJump lines (OpenSSH 10, Debian 12's 9.2).
        ("ProxyJump none", "ProxyCommand nc %h %p", (), "nc %h %p"),
    ],
)
def test_proxy_jump_and_command_exclude_each_other(
    home: Path, first: str, second: str, jump: tuple[str, ...], command: str | None
) -> None:
    config = write(home / ".ssh/proxy.conf", f"Host box\n    {first}\nHost *\n    {second}\n")
    ours = resolve("box", [config])
    assert (ours.proxy_jump, ours.proxy_command) == (jump, command)
    assert_agrees(ours, config, home)


GOOD_HOPS = [
    ("host", (None, "host", None)),
    ("user@host", ("user", "host", None)),
    ("user@host:2222", ("user", "host", 2222)),
    ("u@[::1]:2200", ("u", "::1", 2200)),
    ("[fe80::1]", (None, "fe80::1", None)),
    ("10.0.0.1:23", (None, "10.0.0.1", 23)),
    ("a@b@c:22", ("a@b", "c", 22)),
    ("host:", (None, "host", None)),
    ("ssh://user@h:2222", ("user", "h", 2222)),
    ("ssh://h", (None, "h", None)),
    ("ssh://h:2222/", (None, "h", 2222)),
    ("ssh://a%40b;fingerprint=x@h", ("a@b", "h", None)),
]
BAD_HOPS = [
    "@host",
    "host:abc",
    "host:0",
    "host:70000",
    "[::1",
    "[::1]x",
    "::1:22",
    "host/x",
    "ssh://[::1]:22",
    "ssh://h/path",
    "ssh://@h",
    "ssh://h:22/x",
    "ssh://a%4@h",
]


@pytest.mark.parametrize(("spec", "expected"), GOOD_HOPS)
def test_parse_jump(spec: str, expected: tuple[str | None, str, int | None]) -> None:
    assert parse_jump(spec) == expected


@pytest.mark.parametrize("spec", [*BAD_HOPS, ""])
def test_parse_jump_refuses(spec: str) -> None:
    with pytest.raises(SshConfigError, match="ProxyJump hop"):
        parse_jump(spec)


def test_parse_jump_agrees_with_openssh(home: Path) -> None:
    config = home / ".ssh/jump.conf"
    for spec, expected in GOOD_HOPS:
        write(config, f"ProxyJump {spec}\n")
        printed = openssh(config, "box", home)["proxyjump"][0]
        assert parse_jump(printed) == expected, (spec, printed)
    for spec in BAD_HOPS:
        write(config, f"ProxyJump {spec}\n")
        assert "Invalid ProxyJump" in openssh_refuses(config, "box", home), spec
