"""A canary secret goes into the real keyring and must never come out anywhere else.

The canary is stored, as an operator would store it (``auren-tui secret set``
from stdin), as a profile's SSH password and as a webhook secret. It is the
WRONG password for the harness sshd, so a real login with it fails. Then it
must not appear in: the logs (every logger at DEBUG, paramiko included, and
a log file written from them), ``config.toml``, a screenshot of the app
showing the failure, the text of the failed connect's exception (chained
causes and traceback included), nor the output of ``profile show`` and
``secret list``. Each check also has a positive control: what it looks at
really holds the surrounding text, so an empty capture cannot pass.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from auren_tui.app import build_app
from auren_tui.core.backend.live import LiveBackend
from auren_tui.core.config import load_config
from auren_tui.core.paths import Locations
from auren_tui.core.secrets import SSH_PASSWORD, SecretStore
from auren_tui.core.transport.open import open_connection
from auren_tui.core.transport.ssh_errors import AuthFailed
from auren_tui.widgets.status_bar import StatusBar
from tests.auren_tui.server_stack import status_line, wait_for
from tests.services.keyring import RealKeyring
from tests.services.sshd import Sshd

pytestmark = pytest.mark.services

CANARY = f"canary-SSH-pw-{uuid.uuid4().hex[:6]}"
WEBHOOK = "oura_webhook_secret"
AUREN_TUI = str(Path(sys.executable).parent / "auren-tui")


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Every log record at DEBUG also goes to a file, as a ``--debug`` log would.

    (auren-tui itself configures no log file yet: ``Locations.log_file`` is unused.)
    """
    path = tmp_path / "auren-tui.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


def _cli(env: dict[str, str], *argv: str, stdin: str = "") -> str:
    """Run the real ``auren-tui`` script; its stdout and stderr together."""
    out = subprocess.run(
        [AUREN_TUI, *argv], input=stdin, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr


def _clean(where: str, text: str) -> None:
    assert CANARY not in text, f"the canary shows in {where}"


async def test_the_canary_never_leaves_the_keyring(
    sshd: Sshd,
    real_keyring: RealKeyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    log_file: Path,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: paramiko's own debug log included
    monkeypatch.setenv("AUREN_TUI_HOME", str(tmp_path / "home"))
    env = {**real_keyring.env, "AUREN_TUI_HOME": str(tmp_path / "home")}
    env["PATH"] = "/usr/bin:/bin"
    locations = Locations.from_env()
    name = f"canary-{uuid.uuid4().hex[:8]}"
    known = sshd.write_known_hosts(tmp_path / "known_hosts")
    store = SecretStore()
    try:
        # -- the operator's setup, through the CLI ----------------------------------------
        added = _cli(
            env,
            "profile", "add", name,
            "--host", sshd.host, "--port", str(sshd.port), "--user", sshd.password_user,
            "--auth", "password", "--known-hosts", str(known),
        )  # fmt: skip
        said = [
            _cli(env, "secret", "set", name, SSH_PASSWORD, stdin=CANARY + "\n"),
            _cli(env, "secret", "set", name, WEBHOOK, stdin=CANARY + "\n"),
        ]
        assert store.get(name, SSH_PASSWORD).get_secret_value() == CANARY  # type: ignore[union-attr]
        assert store.get(name, WEBHOOK).get_secret_value() == CANARY  # type: ignore[union-attr]
        shown = _cli(env, "profile", "show", name)
        listed = _cli(env, "secret", "list") + _cli(env, "secret", "list", name)
        for where, text in (
            ("profile add", added),
            ("secret set", "".join(said)),
            ("profile show", shown),
            ("secret list", listed),
        ):
            _clean(where, text)
        assert re.search(rf"^secrets: +{WEBHOOK}, {SSH_PASSWORD}$", shown, re.M)  # names, sorted
        assert f"{name}/{SSH_PASSWORD}" in listed
        assert f"{name}/{WEBHOOK}" in listed
        assert f"****{CANARY[-4:]}" in said[0]  # the hint: four characters at most

        config_text = locations.config_file.read_text()
        _clean("config.toml", config_text)
        assert f"[profiles.{name}]" in config_text

        # -- a login with it (the wrong password) ------------------------------------------
        profile = load_config(locations).profile(name)
        with pytest.raises(AuthFailed) as info:
            open_connection(profile, locations)
        exc = info.value
        text = "".join(traceback.format_exception(exc)) + repr(exc) + repr(profile)
        _clean("the failed connect's exception", text)
        assert "was refused (wrong password?)" in str(exc)

        # -- the app on that profile ---------------------------------------------------------
        backend = LiveBackend(profile, locations)
        app = build_app(backend)
        try:
            async with app.run_test(size=(140, 40), notifications=True):
                bar = app.dashboard.query_one(StatusBar)
                await wait_for(lambda: "failed" in status_line(bar), 20, "the failed login")
                assert "wrong password" in status_line(bar)
                shots: list[str] = []

                def toast_shown() -> bool:
                    shots.append(app.export_screenshot())
                    return "Cannot" in shots[-1]  # the notification's title, "Cannot connect"

                await wait_for(toast_shown, 5, "the notification in the screenshot")
                svg = shots[-1]
        finally:
            backend.close()
        _clean("a screenshot", svg)
        assert name in svg  # the status bar's profile name
        assert "refused" in svg  # the one-line error too
    finally:
        store.delete_all(name)

    # -- every log line of all that ------------------------------------------------------------
    records = caplog.records
    assert any(r.name.startswith("paramiko") and r.levelno == logging.DEBUG for r in records)
    for r in records:
        _clean(f"the log record {r.name}: {r.msg!r}", r.getMessage())
        _clean(f"the log record {r.name} (exception)", r.exc_text or "")
    _clean("the captured log", caplog.text)
    logged = log_file.read_text(encoding="utf-8")
    _clean("the log file", logged)
    assert "Authentication (password) failed." in logged  # paramiko's line about the refusal
