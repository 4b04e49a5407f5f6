"""Screen 3: signed webhooks to the live bridge, the negative suite, a load test.

Everything that signs against the secret, talks to the bridge or Kafka, or
touches the disk runs in a thread worker through the ``Backend``; results
come back as the messages below. The secret stays a ``SecretStr``: the screen
shows its last four characters at most and headers only masked.
"""

from __future__ import annotations

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
from textual.widgets import (
    Button,
    Footer,
    Header,
    Static,
    TabbedContent,
    TabPane,
)
from textual.worker import Worker, WorkerState

from auren_tui.core.api import (
    DEFAULT_TEMPLATE,
    Backend,
    CheckResult,
    NegativeKind,
    Outgoing,
    Provider,
    SavedRequest,
    SecretMissing,
    Sent,
    Traced,
    WebhookRequest,
    WebhookResponse,
    hint,
    preview,
    render,
)
from auren_tui.core.paths import Locations
from auren_tui.screens.webhook_load import LoadTestScreen
from auren_tui.widgets.webhook_form import TITLES, BodyEditor, RequestControls
from auren_tui.widgets.webhook_load import LoadPanel
from auren_tui.widgets.webhook_request import RequestPreview, ResponseView
from auren_tui.widgets.webhook_suite import SuiteTable

TRACE_TOPIC = "biometric-events"
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


class WebhooksScreen(LoadTestScreen):
    CSS_PATH = "webhooks.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("ctrl+r", "suite", "Suite", priority=True),
        Binding("ctrl+l", "load", "Load test", priority=True),
        Binding("ctrl+b", "save", "Save", priority=True),
        Binding("ctrl+o", "open", "Open", priority=True),
        Binding("ctrl+n", "new_body", "New body", priority=True),
        # ctrl+t, not a letter: the body editor usually has the focus after a send.
        Binding("ctrl+t", "open_trace", "Trace in Tail", priority=True),
        Binding("e", "edit_body", "Edit body"),
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

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="wh-status")
        with Horizontal(id="wh-controls"):
            yield RequestControls(self.provider, self.template, id="controls")
            yield Button("Send ^s", variant="primary", id="send")
            yield Button("Save ^b", id="save")
            yield Button("Open ^o", id="open")
        with TabbedContent(id="wh-tabs"):
            with TabPane("Request", id="tab-request"), Horizontal(id="wh-request"):
                yield BodyEditor(render("oura", self.template, indent=2).decode(), id="wh-editor")
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

    def action_edit_body(self) -> None:
        """The body editor takes the keyboard (Escape gives it back). At once, not
        deferred like ``focus()``: the next key already goes to the editor."""
        self.set_focus(self.query_one("#body"))

    # -- the form ------------------------------------------------------------------

    @property
    def body_text(self) -> str:
        return self.query_one(BodyEditor).text

    def set_body(self, text: str) -> None:
        self.query_one(BodyEditor).load(text)
        self._preview()

    @on(RequestControls.Changed)
    def _form_changed(self, message: RequestControls.Changed) -> None:
        provider_changed = message.provider != self.provider
        self.provider, self.template, self.kind = message.provider, message.template, message.kind
        if message.new_body:
            self.set_body(render(self.provider, self.template, indent=2).decode())
        else:
            self._preview()
        if provider_changed:
            if self.provider not in self.secrets:
                self._look_up_secret(self.provider)
            self._show_status()

    @on(BodyEditor.Edited)
    def _preview(self) -> None:
        self.body_ok = self.query_one(BodyEditor).check()
        self._show_buttons()
        shown = self.query_one(RequestPreview)
        if not self.body_ok:
            shown.show(None, "Fix the JSON to see the request.")
            return
        why = self.secret_errors.get(self.provider, "looking up the secret…")
        secret = self.secrets.get(self.provider)
        shown.show(*preview(self._outgoing(), secret, why, self.clock()))

    def _outgoing(self) -> Outgoing:
        """The form's values, as the backend's pipeline takes them."""
        return Outgoing(self.provider, self.body_text.encode(), self.kind, self.last_valid)

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
            text.append(hint(secret, mark="…"))
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

    def refuse_if_read_only(self, what: str) -> bool:
        if not self.backend.read_only:
            return False
        self.notify(f"{what} refused: {READ_ONLY}.", title="Read-only", severity="warning")
        return True

    def action_send(self) -> None:
        if self.refuse_if_read_only("Send"):
            return
        if not self.body_ok:
            self.notify("The body is not valid JSON: fix it first.", severity="warning")
            return
        self.query_one(TabbedContent).active = "tab-request"
        self.query_one(ResponseView).waiting(f"sending to {self.bridge_target()}…")
        self.traced = None
        self._send(self._outgoing())

    def bridge_target(self) -> str:
        try:
            return self.backend.webhook_target()
        except ValueError:
            return "the bridge"

    @work(thread=True, exclusive=True, group="send", exit_on_error=False)
    def _send(self, out: Outgoing) -> None:
        # The backend signs and sends (core/backend/webhooks.py); only a genuine
        # request is followed into Kafka.
        tracing = out.kind == "valid"

        def answered(request: WebhookRequest, response: WebhookResponse) -> None:
            self.post_message(Answered(request, response, tracing))

        topic = self.trace_topic if tracing else None
        self.post_message(WebhookSent(self.backend.send_webhook(out, topic, answered)))

    @on(Answered)
    def _answered(self, message: Answered) -> None:
        tracing = message.tracing and message.response.status == 202
        self.query_one(ResponseView).answered(message.request, message.response, tracing)

    @on(WebhookSent)
    def _sent(self, message: WebhookSent) -> None:
        sent = message.sent
        if sent.request.provider not in self.secrets:  # set meanwhile (`auren-tui secret set`)
            self._look_up_secret(sent.request.provider)
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
        if self.refuse_if_read_only("The negative suite"):
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

    # -- saved requests (screens/webhook_saved.py); the load test: screens/webhook_load.py

    def saved_form(self) -> SavedRequest | None:
        if not self.body_ok:
            self.notify("The body is not valid JSON: fix it first.", severity="warning")
            return None
        return SavedRequest("", self.provider, self.body_text, self.template, self.kind)

    def apply_saved(self, request: SavedRequest) -> None:
        r = request
        self.provider, self.template, self.kind = r.provider, r.template, r.negative
        self.query_one(RequestControls).select(r.provider, r.template, r.negative)
        if r.provider not in self.secrets:
            self._look_up_secret(r.provider)
        self.set_body(r.body)
        self._show_status()

    # -- buttons and failures -------------------------------------------------------------

    @on(Button.Pressed, "#send,#save,#open")
    async def _pressed(self, event: Button.Pressed) -> None:
        await self.run_action(event.button.id or "")  # the ids are the actions' names

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
