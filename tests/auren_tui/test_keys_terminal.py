"""The global keys work on every screen, after every dialog, in a real terminal.

The real ``auren-tui`` runs in a private tmux server (``-L``, no user config,
the environment given explicitly) on the built-in ``local`` profile with no
services and no Docker Engine (the case where screen 4's hidden filter box
used to take the keyboard). For each screen: open it, open and close each
dialog (`?` help, `:` command palette), then each global key must do its job
— and nothing may be typed into an editor or a filter box on the way (screen
3's body editor used to take every key, `q` included).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.auren_tui.kafka_util import BIN
from tests.auren_tui.tmux import Tmux
from tests.services.base import wait_until

# What each screen shows, on a terminal of 140 x 40.
SCREENS: dict[str, Callable[[str], bool]] = {
    "1": lambda s: "Service" in s and "Health" in s and "Latency" in s,
    "2": lambda s: "ring 0/10,000" in s,
    "3": lambda s: "Negative suite" in s and "Load test" in s,
    "4": lambda s: "No Docker Engine" in s,
    "5": lambda s: "History" in s and "last 1h" in s and "no data in this window" in s,
}
DIALOGS = {
    "?": lambda s: "auren-tui keys" in s,
    ":": lambda s: "Search for commands" in s,
}


class Terminal(Tmux):
    """The app on the built-in ``local`` profile in session ``k`` of a private tmux."""

    def __init__(self, tmp_path: Path) -> None:
        self.rc = tmp_path / "rc"
        super().__init__(
            f"keys-{os.getpid()}-{tmp_path.name}",
            {
                "PATH": "/usr/bin:/bin",
                "HOME": str(tmp_path),
                "TERM": "xterm-256color",
                "AUREN_TUI_HOME": str(tmp_path / "home"),
                "DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}",
                # A terminal tells Escape from Alt+key by time: Escape then "2" within
                # ESCDELAY (100 ms) reads as Alt+2. People are slower than that; these
                # keys come one tmux call apart (milliseconds), so keep the delay short.
                "ESCDELAY": "1",
            },
        )

    def open(self) -> None:
        command = f"{BIN / 'auren-tui'} --profile local; echo EXITED $? > {self.rc}"
        self.start("k", command)

    def shown(self) -> str:
        return self.screen("k")

    def press(self, key: str) -> None:
        self.keys("k", key)

    def wait(self, shown: Callable[[str], bool], what: str) -> None:
        wait_until(lambda: shown(self.shown()), 20, lambda: f"{what}:\n{self.shown()}")


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Terminal]:
    t = Terminal(tmp_path)
    t.open()
    try:
        t.wait(SCREENS["1"], "the dashboard")
        yield t
    finally:
        t.kill_server()


@pytest.mark.parametrize("screen", list(SCREENS))
def test_global_keys_on_each_screen_after_each_dialog(term: Terminal, screen: str) -> None:
    for dialog, shown in DIALOGS.items():
        term.press(screen)
        term.wait(SCREENS[screen], f"screen {screen}")
        term.press(dialog)
        term.wait(shown, f"dialog {dialog} on screen {screen}")
        term.press("Escape")
        term.wait(
            lambda s, shown=shown: SCREENS[screen](s) and not shown(s),  # type: ignore[misc]
            f"screen {screen} after closing {dialog}",
        )
        for key in SCREENS:  # every number key still switches screens
            term.press(key)
            term.wait(SCREENS[key], f"screen {key} from screen {screen} after {dialog}")
        term.press(screen)
        term.wait(SCREENS[screen], f"back on screen {screen}")
    text = term.shown()
    # Nothing was typed into a filter box on the way (the header once showed "filter qq1q").
    assert not re.search(r"filter [0-9q?:]", text), text
    assert "not valid JSON" not in text
    term.press("q")
    wait_until(term.rc.exists, 20, lambda: f"q to quit from screen {screen}:\n{term.shown()}")
    assert term.rc.read_text().split() == ["EXITED", "0"]


def test_the_body_editor_takes_the_keyboard_only_when_asked(term: Terminal) -> None:
    term.press("3")
    term.wait(SCREENS["3"], "the webhooks screen")
    term.wait(lambda s: "e edits the body" in s, "the body editor, not focused")
    term.press("e")  # the operator asks for the editor
    term.wait(lambda s: "escape gives the keys back" in s, "the editor to have the keyboard")
    for key in ("q", "1"):
        term.press(key)  # typed into the body now: the body is no longer JSON
    term.wait(lambda s: "not valid JSON" in s and SCREENS["3"](s), "the typed keys in the body")
    term.press("Escape")  # gives the keyboard back
    term.wait(lambda s: "e edits the body" in s, "the editor to give the keyboard back")
    term.press("2")
    term.wait(SCREENS["2"], "2 switches screens again after escape")
    term.press("q")
    wait_until(term.rc.exists, 20, lambda: f"q to quit:\n{term.shown()}")
