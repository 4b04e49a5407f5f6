"""The Textual application: builds screens and binds keys, nothing else."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.worker import Worker

from auren_tui import __version__, strip_cycles
from auren_tui.commands import AurenCommands
from auren_tui.core.api import Backend, Notifier, Start, Traced, UnknownHostKey
from auren_tui.core.config import AlertRules, UiPrefs
from auren_tui.core.paths import Locations
from auren_tui.dialogs.trust_host import TrustHostDialog
from auren_tui.dialogs.welcome import WelcomeDialog
from auren_tui.kit.failures import WorkerFailed
from auren_tui.screens.containers import ContainersScreen
from auren_tui.screens.dashboard import AlertsRaised, DashboardScreen
from auren_tui.screens.help import HelpScreen
from auren_tui.screens.history import HistoryScreen
from auren_tui.screens.tail import TailScreen
from auren_tui.screens.webhooks import WebhooksScreen
from auren_tui.themes import load_themes

SavePrefs = Callable[[UiPrefs], None]


WORKER_TITLES = {"connect": "Cannot connect", "prefs": "Preferences not saved"}
"""What the app's own failed workers are titled."""


@dataclass(eq=False)
class Connected(Message):
    """The backend started: the dashboard may poll."""


@dataclass(eq=False)
class HostKeyUnknown(Message):
    """The server's host key is not in known_hosts: ask the operator."""

    error: Exception


GC_THRESHOLDS = (3_000, 3, 100)
"""Young collections every 3,000 allocations, the middle generation every 3 of them."""


class AurenApp(App[None]):
    """auren-tui. Everything it talks to is passed in (see ``build_app``)."""

    TITLE = "auren-tui"
    SUB_TITLE = f"v{__version__}"
    CSS_PATH = "app.tcss"
    COMMANDS: ClassVar = App.COMMANDS | {AurenCommands}
    # No widget takes the keyboard by itself when a screen appears or comes back
    # after a dialog: an editor or a filter box is focused only when the operator
    # asks (Enter, e, /, a click), so q, ?, :, and 1-4 work everywhere.
    AUTO_FOCUS: ClassVar[str | None] = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command_palette", "Commands", show=False),
        Binding("1", "screen_dashboard", "Dashboard", show=False),
        Binding("2", "screen_tail", "Tail", show=False),
        Binding("3", "screen_webhooks", "Webhooks", show=False),
        Binding("4", "screen_containers", "Containers", show=False),
        Binding("5", "screen_history", "History", show=False),
        Binding("t", "next_theme", "Theme"),
        # Escape gives the keyboard back from any editor or input (screens whose
        # filter box has its own Escape handle it first).
        Binding("escape", "release_focus", show=False),
    ]

    def __init__(
        self,
        backend: Backend,
        prefs: UiPrefs | None = None,
        save_prefs: SavePrefs | None = None,
        clock: Callable[[], float] = time.time,
        locations: Locations | None = None,
        tail_ring: int = 10_000,
        first_run: bool = False,
        alerts: AlertRules | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        super().__init__()
        strip_cycles.install()
        self._gc_thresholds: tuple[int, int, int] | None = None  # set by _settle_heap
        self.first_run = first_run
        self.next_action: str | None = None
        """Set when the app exits to have the launcher do something (``demo``)."""
        self.backend = backend
        self.locations = locations or Locations.from_env()
        self.tail_ring = tail_ring
        self.prefs = prefs or UiPrefs()
        self._save_prefs = save_prefs
        self.clock = clock
        self.theme_names: list[str] = []
        for t in load_themes():
            self.register_theme(t)
            self.theme_names.append(t.name)
        self.theme = self.prefs.theme if self.prefs.theme in self.available_themes else "auren-dark"
        self.alerts = alerts or AlertRules()
        self.notifier = notifier
        """Desktop notifications of alerts (None: none; ``build_app`` makes one). Its
        thread is closed by whoever ran the app, after ``run()``: ``close`` waits for
        the D-Bus goodbye, which is no work for the event loop."""
        self.dashboard = DashboardScreen(
            backend, self.prefs.refresh_seconds, clock=clock, alerts=self.alerts
        )

    @property
    def read_only(self) -> bool:
        return self.backend.read_only

    def action_release_focus(self) -> None:
        from textual.widgets import Input, TextArea

        if isinstance(self.focused, Input | TextArea):
            self.set_focus(None)

    def _fatal_error(self) -> None:
        """Exit after an unhandled exception, with a traceback *without* local variables.

        Textual's own crash report prints every frame's locals, and a frame of
        a signing or connecting function holds secrets in plain text: no
        crash report of this app ever shows them.
        """
        import rich
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        traceback = Traceback(show_locals=False, width=None, suppress=[rich])
        self._exit_renderables.append(
            Segments(self.console.render(traceback, self.console.options))
        )
        self._close_messages_no_wait()

    def on_mount(self) -> None:
        self.push_screen(self.dashboard)
        self._connect()
        if self.first_run:
            self.push_screen(WelcomeDialog(), self._welcomed)
        self.call_after_refresh(self._settle_heap)

    def _welcomed(self, choice: str | None) -> None:
        if choice == "demo":
            self.next_action = "demo"
            self.exit()

    def _settle_heap(self) -> None:
        # What start-up built lives as long as the app: frozen, the full collections a
        # Kafka burst sets off walk only what came after (150-250 ms pauses otherwise).
        gc.collect()
        gc.freeze()
        # With the compositor's strips no longer cycles (strip_cycles), almost every
        # object is freed by reference counting and a young collection mostly walks
        # survivors (the tail's newest records): small and frequent ones keep each
        # pause short. Measured on the Tail screen (bench/tail.py): at 5,000 records/s
        # (3_000, 3, 100) gave 145 collections, the longest 16 ms, longest UI gap 34 ms;
        # (20_000, 50, 100) one collection of 43 ms in 60 s, longest gap 55 ms. At
        # 20,000/s both keep the longest gap between 50 and 85 ms.
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)

    def on_unmount(self) -> None:
        # The process may go on without the app (tests, `make run` into the demo).
        if self._gc_thresholds is not None:
            gc.set_threshold(*self._gc_thresholds)

    # -- alerts --------------------------------------------------------------------

    @on(AlertsRaised)
    def _alert(self, message: AlertsRaised) -> None:
        """Each transition: the bell, a toast, a desktop notification (the events
        panel has its line already); each as ``[alerts]`` in config.toml says."""
        rules = self.alerts
        if rules.bell and any(a.severity != "information" for a in message.alerts):
            self.bell()
        for alert in message.alerts:
            self.notify(alert.text, title=f"Alert: {alert.rule}", severity=alert.severity)
            if rules.desktop and self.notifier is not None:
                self.notifier.post(alert)  # queued: never blocks this loop

    # -- connecting ------------------------------------------------------------

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _connect(self) -> None:
        """Any other failure is reported as the worker's (``on_worker_state_changed``)."""
        try:
            self.backend.start()
        except UnknownHostKey as exc:
            self.post_message(HostKeyUnknown(exc))
            return
        self.post_message(Connected())

    @on(Connected)
    def _connected(self) -> None:
        self.dashboard.start_polling()

    @on(HostKeyUnknown)
    def _ask_trust(self, message: HostKeyUnknown) -> None:
        err = message.error
        dialog = TrustHostDialog(
            getattr(err, "host", "?"),
            getattr(err, "port", 22),
            getattr(err, "key_type", "?"),
            getattr(err, "fingerprint", "?"),
            known_hosts=str(getattr(err, "known_hosts", "known_hosts")),
            role=getattr(err, "role", ""),
        )

        def decided(trust: bool | None) -> None:
            if trust:
                self._trust_then_connect(err)
            else:
                self.dashboard.apply_conn("failed", 0, "host key not trusted")
                self.notify("Host key refused: not connected.", severity="warning")

        self.push_screen(dialog, decided)

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _trust_then_connect(self, err: Exception) -> None:
        path = self.backend.trust_host_key(err)
        self.call_from_thread(self.notify, f"Host key added to {path}")
        self.call_from_thread(self._connect)

    # -- failures ----------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        title = WORKER_TITLES.get(event.worker.group, "")
        failed = WorkerFailed.of(event, title, timeout=10)
        if failed is None:
            return
        if failed.group == "connect":
            self.dashboard.apply_conn("failed", 0, failed.text)
        self.post_message(failed)

    @on(WorkerFailed)
    def _report(self, failed: WorkerFailed) -> None:
        """The one place a failed worker becomes a visible line (screens and
        dialogs post ``WorkerFailed``; it bubbles up to here)."""
        self.notify(failed.text, title=failed.title, severity="error", timeout=failed.timeout)

    # -- keys --------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_screen_dashboard(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def action_screen_tail(self) -> None:
        if isinstance(self.screen, TailScreen):
            return
        self.action_screen_dashboard()
        self.push_screen(
            TailScreen(
                self.backend, self.locations.data_dir, ring_size=self.tail_ring, clock=self.clock
            )
        )

    def action_screen_containers(self) -> None:
        if isinstance(self.screen, ContainersScreen):
            return
        self.action_screen_dashboard()
        self.push_screen(ContainersScreen(self.backend, clock=self.clock))

    def action_screen_history(self) -> None:
        if isinstance(self.screen, HistoryScreen):
            return
        self.action_screen_dashboard()
        self.push_screen(HistoryScreen(self.backend, clock=self.clock))

    def action_screen_webhooks(self) -> None:
        if isinstance(self.screen, WebhooksScreen):
            return
        self.action_screen_dashboard()
        self.push_screen(
            WebhooksScreen(
                self.backend, self.locations, clock=self.clock, open_tail=self._tail_traced
            )
        )

    def _tail_traced(self, traced: Traced) -> None:
        """`k` after a trace: the Tail screen at that offset, filtered to that event."""
        tail = TailScreen(
            self.backend,
            self.locations.data_dir,
            [traced.topic],
            Start("offset", traced.offset),
            ring_size=self.tail_ring,
            clock=self.clock,
            filter_text=f"event_id={traced.event_id}",
        )
        self.push_screen(tail)

    def action_refresh(self) -> None:
        self.dashboard.action_refresh_now()

    def action_toggle_pause(self) -> None:
        self.dashboard.action_toggle_pause()

    def action_next_theme(self) -> None:
        names = self.theme_names
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]

    def watch_theme(self, theme: str) -> None:
        if self._save_prefs is None or theme == self.prefs.theme:
            return
        from dataclasses import replace

        self.prefs = replace(self.prefs, theme=theme)
        self._remember(self.prefs)

    @work(thread=True, group="prefs", exit_on_error=False)
    def _remember(self, prefs: UiPrefs) -> None:
        assert self._save_prefs is not None
        self._save_prefs(prefs)


def build_app(
    backend: Backend,
    prefs: UiPrefs | None = None,
    save_prefs: SavePrefs | None = None,
    clock: Callable[[], float] = time.time,
    locations: Locations | None = None,
    tail_ring: int = 10_000,
    first_run: bool = False,
    alerts: AlertRules | None = None,
    notify_desktop: bool = False,
) -> AurenApp:
    """The one factory the CLI and the tests share. ``notify_desktop``: post alerts as
    desktop notifications too (the TUI's launch; tests leave the desktop alone)."""
    rules = alerts or AlertRules()
    notifier = Notifier() if notify_desktop and rules.enabled and rules.desktop else None
    return AurenApp(
        backend,
        prefs=prefs,
        save_prefs=save_prefs,
        clock=clock,
        locations=locations,
        tail_ring=tail_ring,
        first_run=first_run,
        alerts=rules,
        notifier=notifier,
    )
