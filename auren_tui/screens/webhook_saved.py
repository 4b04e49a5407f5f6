"""Saved requests for the Webhooks screen (``ctrl+b`` saves, ``ctrl+o`` opens):
one YAML file each in the config dir (``core/webhooks/saved.py``), read and
written in thread workers. No secret is ever in one."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual import on, work
from textual.message import Message
from textual.screen import Screen

from auren_tui.core.api import SavedRequest, saved
from auren_tui.core.paths import Locations
from auren_tui.dialogs.webhook_dialogs import NameRequest, PickRequest


@dataclass(eq=False)
class SavedFiles(Message):
    names: list[str]
    where: str


@dataclass(eq=False)
class RequestLoaded(Message):
    request: SavedRequest


class SavedRequestsScreen(Screen[None]):
    """A screen whose form can be saved and loaded (``saved_form``/``apply_saved``)."""

    locations: Locations

    def saved_form(self) -> SavedRequest | None:
        """The form as a request to save (``name`` is filled in later), or None if
        it cannot be saved now (the screen says why)."""
        raise NotImplementedError

    def apply_saved(self, request: SavedRequest) -> None:
        """Show a loaded request in the form."""
        raise NotImplementedError

    def action_save(self) -> None:
        form = self.saved_form()
        if form is None:
            return

        def named(name: str | None) -> None:
            if name:
                self._save(replace(form, name=name))

        self.app.push_screen(NameRequest(f"{form.provider}-{form.template or 'body'}"), named)

    @work(thread=True, group="saved", exit_on_error=False)
    def _save(self, request: SavedRequest) -> None:
        path = saved.save(self.locations, request)
        self.app.call_from_thread(self.notify, f"Saved to {path}", title="Saved")

    def action_open(self) -> None:
        self._list_saved()

    @work(thread=True, group="saved", exit_on_error=False)
    def _list_saved(self) -> None:
        where = str(saved.requests_dir(self.locations))
        self.post_message(SavedFiles(saved.names(self.locations), where))

    @on(SavedFiles)
    def _pick(self, message: SavedFiles) -> None:
        def picked(name: str | None) -> None:
            if name:
                self._load_saved(name)

        self.app.push_screen(PickRequest(message.names, message.where), picked)

    @work(thread=True, group="saved", exit_on_error=False)
    def _load_saved(self, name: str) -> None:
        self.post_message(RequestLoaded(saved.load(self.locations, name)))

    @on(RequestLoaded)
    def _loaded(self, message: RequestLoaded) -> None:
        self.apply_saved(message.request)
        self.notify(f"Loaded {message.request.name}")
