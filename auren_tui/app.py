"""The Textual application: builds screens and binds keys, nothing else."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from auren_tui import __version__
from auren_tui.screens.home import HomeScreen
from auren_tui.themes import load_themes


class AurenApp(App[None]):
    """auren-tui. Everything it talks to is passed in by ``build_app``."""

    TITLE = "auren-tui"
    SUB_TITLE = f"v{__version__}"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, theme: str = "auren-dark") -> None:
        super().__init__()
        for t in load_themes():
            self.register_theme(t)
        self.theme = theme

    def on_mount(self) -> None:
        self.push_screen(HomeScreen())


def build_app(theme: str = "auren-dark") -> AurenApp:
    """The one factory the CLI and the tests share."""
    return AurenApp(theme=theme)
