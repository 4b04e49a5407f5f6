"""No crash report of this app shows local variables: a canary secret held in a
local of the crashing frame appears nowhere in what is printed, on any screen.

Textual's default report (``App._fatal_error``) renders a rich traceback with
``show_locals=True``: the positive control below proves it would print the
canary, so the check on our app means something.
"""

from __future__ import annotations

import uuid

import pytest
from pydantic import SecretStr
from textual.app import App

from auren_tui.app import AurenApp, build_app
from auren_tui.core.backend.replay import ReplayBackend
from auren_tui.core.config import UiPrefs
from tests.auren_tui.data import NOW, stack

CANARY = f"canary-crash-{uuid.uuid4().hex}"


def crash_with_a_secret() -> None:
    secret = SecretStr(CANARY)
    plain = secret.get_secret_value()  # a local holding the secret in plain text
    raise RuntimeError(f"boom ({len(plain)} characters)")


async def crash(app: App[None], key: str | None = None) -> None:
    """Run ``app`` headless, press ``key``, then crash it with a secret in a local."""
    async with app.run_test(size=(120, 40)) as pilot:
        if key:
            await pilot.press(key)
            await pilot.pause()
        app.call_later(crash_with_a_secret)
        await pilot.pause()
        await pilot.pause()


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5", "question_mark"])
async def test_a_crash_on_each_screen_prints_no_locals(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = ReplayBackend([stack(at=NOW)], profile_name="prod", read_only=False)
    app: AurenApp = build_app(backend, prefs=UiPrefs(), clock=lambda: NOW)
    with pytest.raises(RuntimeError, match="boom"):
        await crash(app, key)
    captured = capsys.readouterr()
    report = captured.out + captured.err
    assert "RuntimeError" in report  # a report was written ...
    assert "crash_with_a_secret" in report
    assert CANARY not in report  # ... without the secret


async def test_control_textuals_default_report_would_print_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Plain(App[None]):
        pass

    with pytest.raises(RuntimeError, match="boom"):
        await crash(Plain())
    captured = capsys.readouterr()
    assert CANARY in captured.out + captured.err


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_dGVzdC1zZWNyZXQ\u00a0tMDEyMzQ1Njc4OQ==",  # a pasted no-break space
        "whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ==\n",
        "whsec_\u00e9t\u00e9",
        "whsec_",
        "no-prefix",
    ],
)
def test_a_bad_healthkit_secret_is_one_line_naming_the_fix(secret: str) -> None:
    """The Webhooks screen's live preview crashed on these (a ValueError escaped)."""
    from auren_tui.core.webhooks.signing import SigningError, sign

    with pytest.raises(SigningError) as info:
        sign("healthkit", b"{}", SecretStr(secret + CANARY))
    message = str(info.value)
    assert "\n" not in message
    assert "healthkit secret" in message
    assert CANARY not in message
