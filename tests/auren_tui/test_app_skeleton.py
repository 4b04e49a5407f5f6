from __future__ import annotations

from auren_tui.app import build_app
from auren_tui.screens.home import HomeScreen


async def test_app_starts_on_home_and_quits_with_q() -> None:
    app = build_app()
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, HomeScreen)
        assert app.theme == "auren-dark"
        text = str(app.screen.query_one("#welcome-text").render())
        assert "Kafka topic tails" in text
        await pilot.press("q")
    assert app.return_code == 0


async def test_shipped_themes_are_registered() -> None:
    app = build_app(theme="auren-light")
    async with app.run_test(size=(80, 24)):
        assert {"auren-dark", "auren-light"} <= set(app.available_themes)
        assert app.current_theme.name == "auren-light"
        assert app.current_theme.dark is False
