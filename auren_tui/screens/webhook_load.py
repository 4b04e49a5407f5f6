"""The Webhooks screen's load test (``ctrl+l``): the form asks, a dialog confirms,
the backend runs the signed generator in a thread worker, progress comes back
as messages at most every ``PROGRESS_EVERY`` seconds."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.message import Message
from textual.widgets import TabbedContent

from auren_tui.core.api import Backend, LoadSpec, LoadStats, Provider
from auren_tui.dialogs.webhook_dialogs import ConfirmLoad
from auren_tui.screens.webhook_saved import SavedRequestsScreen
from auren_tui.widgets.webhook_form import TITLES
from auren_tui.widgets.webhook_load import LoadPanel, LoadView, Reporter

PROGRESS_EVERY = 0.1
"""Seconds between progress messages at most (the generator reports every 0.2 s)."""


@dataclass(eq=False)
class LoadProgressed(Message):
    view: LoadView


@dataclass(eq=False)
class LoadDone(Message):
    stats: LoadStats


class LoadTestScreen(SavedRequestsScreen):
    """A screen with the load test tab (the Webhooks screen's form supplies the rest)."""

    backend: Backend
    provider: Provider
    template: str | None
    load_running: bool

    def refuse_if_read_only(self, what: str) -> bool:
        """Whether ``what`` is refused (and said so) because the session is read-only."""
        raise NotImplementedError

    def bridge_target(self) -> str:
        """The bridge as the server sees it, or ``the bridge``."""
        raise NotImplementedError

    def action_load(self) -> None:
        self.query_one(TabbedContent).active = "tab-load"
        self.query_one(LoadPanel).request()

    @on(LoadPanel.Requested)
    def _load_requested(self, message: LoadPanel.Requested) -> None:
        if self.refuse_if_read_only("The load test"):
            return
        if self.load_running:
            self.notify("A load test is running already.", severity="warning")
            return
        spec = LoadSpec(
            self.provider, message.requests, message.concurrency, message.rate, self.template
        )
        target = self.bridge_target()

        def decided(yes: bool | None) -> None:
            if yes:
                self.load_running = True
                self.query_one(LoadPanel).started(spec.requests, target)
                self._load(spec)

        self.app.push_screen(
            ConfirmLoad(spec.requests, TITLES[spec.provider], target, self.backend.profile_name),
            decided,
        )

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self, spec: LoadSpec) -> None:
        report = Reporter(lambda view: self.post_message(LoadProgressed(view)), PROGRESS_EVERY)
        self.post_message(LoadDone(self.backend.webhook_load(spec, report)))

    @on(LoadProgressed)
    def _load_progressed(self, message: LoadProgressed) -> None:
        if self.load_running:
            self.query_one(LoadPanel).progress(message.view)

    @on(LoadDone)
    def _load_done(self, message: LoadDone) -> None:
        self.load_running = False
        self.query_one(LoadPanel).finished(message.stats)
