"""First run of plain ``auren-tui`` (no configuration): the demo and the steps are offered."""

from __future__ import annotations

from auren_tui.app import build_app
from auren_tui.core.backend.replay import ReplayBackend
from auren_tui.dialogs.welcome import WelcomeDialog
from tests.auren_tui.data import stack


async def test_first_run_offers_the_demo_and_the_server_steps() -> None:
    app = build_app(ReplayBackend([stack()]), first_run=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WelcomeDialog)
        text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "auren-tui profile add prod" in text
        assert "auren-tui profile trust prod" in text
        await pilot.press("d")
        await pilot.pause()
    assert app.next_action == "demo"


async def test_carrying_on_keeps_the_dashboard() -> None:
    app = build_app(ReplayBackend([stack()]), first_run=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, WelcomeDialog)
        assert app.screen is app.dashboard
    assert app.next_action is None


async def test_no_welcome_once_configured() -> None:
    app = build_app(ReplayBackend([stack()]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.screen is app.dashboard
