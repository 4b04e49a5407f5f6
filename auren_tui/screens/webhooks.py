"""Screen 3: signed webhooks to the live bridge, the negative suite, a load test.

Everything that signs against the secret, talks to the bridge or Kafka, or
touches the disk runs in a thread worker through the ``Backend``; results
come back as the messages below. The secret stays a ``SecretStr``: the screen
shows its last four characters at most and headers only masked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import SecretStr
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (
    Button,
    Footer,
    Header,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.worker import Worker, WorkerState

from auren_tui.core.paths import Locations
from auren_tui.core.session import Backend
from auren_tui.core.webhook_backend import SecretMissing, Sent
from auren_tui.core.webhooks.client import (
    PRESETS,
    CheckResult,
    NegativeKind,
    WebhookRequest,
    WebhookResponse,
    build,
)
from auren_tui.core.webhooks.load import LoadSpec, LoadStats
from auren_tui.core.webhooks.saved import SavedRequest
from auren_tui.core.webhooks.signing import PROVIDERS, Provider, SigningError, hint
from auren_tui.core.webhooks.templates import DEFAULT_TEMPLATE, TEMPLATES, render
from auren_tui.core.webhooks.trace import Traced
from auren_tui.dialogs.webhook_dialogs import ConfirmLoad, NameRequest, PickRequest
from auren_tui.widgets.webhook_load import LoadPanel, LoadView, Tally
from auren_tui.widgets.webhook_request import RequestPreview, ResponseView
from auren_tui.widgets.webhook_suite import SuiteTable

TRACE_TOPIC = "biometric-events"
TITLES: dict[Provider, str] = {"oura": "Oura", "whoop": "WHOOP", "healthkit": "HealthKit"}
PROGRESS_EVERY = 0.1
"""Seconds between progress messages at most (the generator reports every 0.2 s)."""
READ_ONLY = "read-only: sending webhooks stores events on the server"


@dataclass(eq=False)
class SecretLooked(Message):
    provider: Provider
    secret: SecretStr | None
    error: str | None


@dataclass(eq=False)
class Answered(Message):
    request: WebhookRequest
    response: WebhookResponse
    tracing: bool


@dataclass(eq=False)
class WebhookSent(Message):
    sent: Sent


@dataclass(eq=False)
class SuiteDone(Message):
    results: list[CheckResult]


@dataclass(eq=False)
class LoadProgressed(Message):
    view: LoadView


@dataclass(eq=False)
class LoadDone(Message):
    stats: LoadStats


@dataclass(eq=False)
class SavedFiles(Message):
    names: list[str]
    where: str


@dataclass(eq=False)
class RequestLoaded(Message):
    request: SavedRequest


class WebhooksScreen(Screen[None]):
    CSS_PATH = "webhooks.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("ctrl+r", "suite", "Suite", priority=True),
        Binding("ctrl+l", "load", "Load test", priority=True),
        Binding("ctrl+b", "save", "Save", priority=True),
        Binding("ctrl+o", "open", "Open", priority=True),
        Binding("ctrl+n", "new_body", "New body", priority=True),
        Binding("k", "open_trace", "Trace in Tail"),
    ]

    def __init__(
        self,
        backend: Backend,
        locations: Locations,
        clock: Callable[[], float] = time.time,
        trace_topic: str = TRACE_TOPIC,
        open_tail: Callable[[Traced], None] | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.locations = locations
        self.clock = clock
        self.trace_topic = trace_topic
        self.open_tail = open_tail
        self.provider: Provider = "oura"
        self.template: str | None = DEFAULT_TEMPLATE["oura"]
        self.kind: NegativeKind = "valid"
        self.body_ok = True
        self.secrets: dict[Provider, SecretStr] = {}
        self.secret_errors: dict[Provider, str] = {}
        self.last_valid: WebhookRequest | None = None
        self.traced: Traced | None = None
        self.load_running = False
        self._preview_timer: Timer | None = None
        self._last_progress = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="wh-status")
        with Horizontal(id="wh-controls"):
            yield Select(
                [(TITLES[p], p) for p in PROVIDERS], value="oura", allow_blank=False, id="provider"
            )
            yield Select(self._template_options("oura"), value=self.template, id="template")
            yield Select([(k, k) for k in PRESETS], value="valid", allow_blank=False, id="negative")
            yield Button("Send ^s", variant="primary", id="send")
            yield Button("Save ^b", id="save")
            yield Button("Open ^o", id="open")
        with TabbedContent(id="wh-tabs"):
            with TabPane("Request", id="tab-request"), Horizontal(id="wh-request"):
                with Vertical(id="wh-editor"):
                    yield TextArea(
                        render("oura", self.template, indent=2).decode(),
                        language="json",
                        id="body",
                    )
                    yield Static("", id="body-error")
                with Vertical(id="wh-right"):
                    with VerticalScroll(id="wh-preview-pane"):
                        yield RequestPreview(id="preview")
                    with VerticalScroll(id="wh-response-pane"):
                        yield ResponseView("ctrl+s sends; the answer shows here.", id="response")
            with TabPane("Negative suite", id="tab-suite"), Vertical():
                yield Static(
                    "ctrl+r runs every preset for the selected provider with a fresh body "
                    "of the template.",
                    id="suite-note",
                )
                yield SuiteTable(id="suite")
            with TabPane("Load test", id="tab-load"):
                yield LoadPanel(id="load")
        yield Footer()

    def on_mount(self) -> None:
        self._look_up_secret(self.provider)
        self._show_status()
        self._preview()
        self.query_one("#body", TextArea).focus()

    # -- the form ------------------------------------------------------------------

    @staticmethod
    def _template_options(provider: Provider) -> list[tuple[str, str]]:
        return [(name, name) for name in TEMPLATES[provider]]

    @property
    def body_text(self) -> str:
        return self.query_one("#body", TextArea).text

    def set_body(self, text: str) -> None:
        self.query_one("#body", TextArea).load_text(text)
        self._preview()

    @on(Select.Changed, "#provider")
    def _provider_changed(self, event: Select.Changed) -> None:
        if event.value == self.provider or not isinstance(event.value, str):
            return
        self.provider = next(p for p in PROVIDERS if p == event.value)
        self.template = DEFAULT_TEMPLATE[self.provider]
        with self.prevent(Select.Changed):
            template = self.query_one("#template", Select)
            template.set_options(self._template_options(self.provider))
            template.value = self.template
        self.set_body(render(self.provider, self.template, indent=2).decode())
        if self.provider not in self.secrets:
            self._look_up_secret(self.provider)
        self._show_status()

    @on(Select.Changed, "#template")
    def _template_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, str) or event.value == self.template:
            return
        self.template = event.value
        self.set_body(render(self.provider, self.template, indent=2).decode())

    @on(Select.Changed, "#negative")
    def _negative_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.kind = next(k for k in PRESETS if k == event.value)
            self._preview()

    @on(TextArea.Changed, "#body")
    def _body_changed(self) -> None:
        # Once typing pauses: a signed preview per key would be wasted work.
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(0.15, self._preview)

    def _preview(self) -> None:
        error = self.query_one("#body-error", Static)
        preview = self.query_one(RequestPreview)
        try:
            json.loads(self.body_text)
        except ValueError as exc:
            self.body_ok = False
            error.update(Text(f"not valid JSON: {exc}", style="bold"))
            preview.show(None, "Fix the JSON to see the request.")
            self._show_buttons()
            return
        self.body_ok = True
        error.update("")
        self._show_buttons()
        body = self.body_text.encode()
        secret = self.secrets.get(self.provider)
        if secret is None:
            why = self.secret_errors.get(self.provider, "looking up the secret…")
            unsigned = build(self.provider, body, SecretStr(""), "unsigned")
            preview.show(unsigned, f"not signed: {why}")
            return
        note, kind, last = "", self.kind, self.last_valid
        if kind == "replay" and (last is None or last.provider != self.provider):
            note = "replay: a genuine request is sent first, then these bytes and headers again"
            kind, last = "valid", None
        elif kind == "replay" and last is not None:
            note = "replay of the last genuine request sent (its own bytes and headers)"
        try:
            request = build(self.provider, body, secret, kind, last=last, now=self.clock())
        except SigningError as exc:
            preview.show(None, str(exc))
            return
        preview.show(request, note)

    def _show_buttons(self) -> None:
        ro = self.backend.read_only
        self.query_one("#send", Button).disabled = ro or not self.body_ok

    def _show_status(self) -> None:
        try:
            target = self.backend.webhook_target()
        except ValueError as exc:
            target = str(exc)
        text = Text(f" {self.backend.profile_name}", style="bold")
        text.append(f" · bridge {target} · {TITLES[self.provider]} secret ")
        secret = self.secrets.get(self.provider)
        missing = self.secret_errors.get(self.provider)
        if secret is not None:
            text.append(hint(secret))
        elif missing:
            text.append(missing, style="bold red")
        else:
            text.append("…")
        if self.backend.read_only:
            text.append(f"  READ-ONLY: {READ_ONLY}; send, suite and load are off", style="bold")
        status = self.query_one("#wh-status", Static)
        status.update(text)
        status.set_class(self.backend.read_only, "read-only")

    # -- secrets -------------------------------------------------------------------

    @work(thread=True, group="secret", exit_on_error=False)
    def _look_up_secret(self, provider: Provider) -> None:
        try:
            secret = self.backend.webhook_secret(provider)
        except Exception as exc:  # SecretMissing, or the keyring's own one-line errors
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.post_message(SecretLooked(provider, None, text))
            return
        self.post_message(SecretLooked(provider, secret, None))

    @on(SecretLooked)
    def _secret_looked(self, message: SecretLooked) -> None:
        if message.secret is not None:
            self.secrets[message.provider] = message.secret
            self.secret_errors.pop(message.provider, None)
        else:
            self.secrets.pop(message.provider, None)
            self.secret_errors[message.provider] = message.error or "no secret"
        self._show_status()
        self._preview()

    # -- send ----------------------------------------------------------------------

    def _refuse_if_read_only(self, what: str) -> bool:
        if not self.backend.read_only:
            return False
        self.notify(f"{what} refused: {READ_ONLY}.", title="Read-only", severity="warning")
        return True

    def action_send(self) -> None:
        if self._refuse_if_read_only("Send"):
            return
        if not self.body_ok:
            self.notify("The body is not valid JSON: fix it first.", severity="warning")
            return
        self.query_one(TabbedContent).active = "tab-request"
        self.query_one(ResponseView).waiting(f"sending to {self._target()}…")
        self.traced = None
        last = self.last_valid
        if last is not None and last.provider != self.provider:
            last = None
        self._send(self.provider, self.body_text.encode(), self.kind, last)

    def _target(self) -> str:
        try:
            return self.backend.webhook_target()
        except ValueError:
            return "the bridge"

    @work(thread=True, exclusive=True, group="send", exit_on_error=False)
    def _send(
        self, provider: Provider, body: bytes, kind: NegativeKind, last: WebhookRequest | None
    ) -> None:
        secret = self.backend.webhook_secret(provider)
        if kind == "replay" and last is None:
            last = build(provider, body, secret)
            self.backend.send_webhook(last)
        request = build(provider, body, secret, kind, last=last)
        topic = self.trace_topic if kind == "valid" else None

        def answered(response: WebhookResponse) -> None:
            self.post_message(Answered(request, response, topic is not None))

        self.post_message(WebhookSent(self.backend.send_webhook(request, topic, answered)))

    @on(Answered)
    def _answered(self, message: Answered) -> None:
        tracing = message.tracing and message.response.status == 202
        self.query_one(ResponseView).answered(message.request, message.response, tracing)

    @on(WebhookSent)
    def _sent(self, message: WebhookSent) -> None:
        sent = message.sent
        if sent.request.kind == "valid" and sent.response.status == 202:
            self.last_valid = sent.request
        self.traced = sent.trace
        self.query_one(ResponseView).traced(sent)
        self.refresh_bindings()

    def action_open_trace(self) -> None:
        if self.traced is None:
            self.notify("Nothing traced yet: send a genuine webhook first.", severity="warning")
            return
        if self.open_tail is not None:
            self.open_tail(self.traced)

    def action_new_body(self) -> None:
        self.set_body(render(self.provider, self.template, indent=2).decode())

    # -- the negative suite ----------------------------------------------------------

    def action_suite(self) -> None:
        if self._refuse_if_read_only("The negative suite"):
            return
        self.query_one(TabbedContent).active = "tab-suite"
        self.query_one(SuiteTable).running()
        self._suite(self.provider, self.template)

    @work(thread=True, exclusive=True, group="suite", exit_on_error=False)
    def _suite(self, provider: Provider, template: str | None) -> None:
        # A fresh body: the form's may have been sent already (the genuine row
        # would then be a duplicate).
        body = render(provider, template)
        self.post_message(SuiteDone(self.backend.webhook_suite(provider, body)))

    @on(SuiteDone)
    def _suite_done(self, message: SuiteDone) -> None:
        self.query_one(SuiteTable).show(message.results)
        bad = [r for r in message.results if not r.ok]
        if bad:
            self.notify(
                f"{len(bad)} of {len(message.results)} did not answer as expected",
                title="Negative suite",
                severity="error",
            )

    # -- the load test -----------------------------------------------------------------

    def action_load(self) -> None:
        self.query_one(TabbedContent).active = "tab-load"
        self.query_one(LoadPanel).request()

    @on(LoadPanel.Requested)
    def _load_requested(self, message: LoadPanel.Requested) -> None:
        if self._refuse_if_read_only("The load test"):
            return
        if self.load_running:
            self.notify("A load test is running already.", severity="warning")
            return
        spec = LoadSpec(
            self.provider, message.requests, message.concurrency, message.rate, self.template
        )
        target = self._target()

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
        tally = Tally()

        def progress(stats: LoadStats) -> None:
            # On the generator's loop: take an immutable view, at most every 0.1 s.
            now = time.monotonic()
            if now - self._last_progress < PROGRESS_EVERY and stats.done < stats.total:
                return
            self._last_progress = now
            self.post_message(LoadProgressed(tally.view(stats)))

        self.post_message(LoadDone(self.backend.webhook_load(spec, progress)))

    @on(LoadProgressed)
    def _load_progressed(self, message: LoadProgressed) -> None:
        if self.load_running:
            self.query_one(LoadPanel).progress(message.view)

    @on(LoadDone)
    def _load_done(self, message: LoadDone) -> None:
        self.load_running = False
        self.query_one(LoadPanel).finished(message.stats)

    # -- saved requests ------------------------------------------------------------------

    def action_save(self) -> None:
        if not self.body_ok:
            self.notify("The body is not valid JSON: fix it first.", severity="warning")
            return
        request = SavedRequest("", self.provider, self.body_text, self.template, self.kind)

        def named(name: str | None) -> None:
            if name:
                self._save(SavedRequest(name, *_fields(request)))

        self.app.push_screen(NameRequest(f"{self.provider}-{self.template or 'body'}"), named)

    @work(thread=True, group="saved", exit_on_error=False)
    def _save(self, request: SavedRequest) -> None:
        from auren_tui.core.webhooks import saved

        path = saved.save(self.locations, request)
        self.app.call_from_thread(self.notify, f"Saved to {path}", title="Saved")

    def action_open(self) -> None:
        self._list_saved()

    @work(thread=True, group="saved", exit_on_error=False)
    def _list_saved(self) -> None:
        from auren_tui.core.webhooks import saved

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
        from auren_tui.core.webhooks import saved

        self.post_message(RequestLoaded(saved.load(self.locations, name)))

    @on(RequestLoaded)
    def _loaded(self, message: RequestLoaded) -> None:
        r = message.request
        self.query_one("#provider", Select).value = r.provider
        self.provider, self.template, self.kind = r.provider, r.template, r.negative
        with self.prevent(Select.Changed):
            template = self.query_one("#template", Select)
            template.set_options(self._template_options(r.provider))
            template.value = r.template if r.template in TEMPLATES[r.provider] else Select.BLANK
            self.query_one("#negative", Select).value = r.negative
        if r.provider not in self.secrets:
            self._look_up_secret(r.provider)
        self.set_body(r.body)
        self._show_status()
        self.notify(f"Loaded {r.name}")

    # -- buttons and failures -------------------------------------------------------------

    @on(Button.Pressed, "#send")
    def _send_pressed(self) -> None:
        self.action_send()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#open")
    def _open_pressed(self) -> None:
        self.action_open()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker becomes a visible line."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        group = event.worker.group
        if group == "send":
            self.query_one(ResponseView).failed(text)
        elif group == "suite":
            self.query_one(SuiteTable).failed(text)
        elif group == "load":
            self.load_running = False
            self.query_one(LoadPanel).failed(text)
        if isinstance(error, SecretMissing):
            self.secret_errors[self.provider] = text
            self._show_status()
        self.notify(text, title="Webhooks", severity="error", timeout=10)


def _fields(r: SavedRequest) -> tuple[Provider, str, str | None, NegativeKind]:
    return r.provider, r.body, r.template, r.negative
