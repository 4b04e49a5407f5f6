"""What the Webhooks screen is about to send, and what came back.

Headers are always shown masked (``WebhookRequest.shown_headers``); the
secret never reaches these widgets.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual.widgets import Static

from auren_tui.core.api import PRESETS, Sent, WebhookRequest, WebhookResponse

SHOWN_BYTES = 2_000
"""Body bytes shown at most (an oversized body is 300 KiB)."""


class RequestPreview(Static):
    """The exact bytes to be sent (and their length) and the computed headers."""

    def show(self, request: WebhookRequest | None, note: str = "") -> None:
        text = Text()
        if note:
            text.append(note + "\n\n", style="italic")
        if request is None:
            self.update(text)
            return
        text.append(f"POST {request.path}", style="bold")
        text.append(f"  ({PRESETS[request.kind].title})\n", style="dim")
        for name, value in request.shown_headers().items():
            text.append(f"{name}: ", style="bold")
            text.append(f"{value}\n")
        text.append(f"\n{len(request.body):,} bytes", style="bold")
        text.append(" exactly as sent:\n")
        shown = request.body[:SHOWN_BYTES].decode(errors="replace")
        text.append(shown)
        if len(request.body) > SHOWN_BYTES:
            text.append(f"\n… {len(request.body) - SHOWN_BYTES:,} more bytes", style="dim")
        self.update(text)


class ResponseView(Static):
    """Status, latency, the response body, and the trace into Kafka."""

    _answer = Text()

    def waiting(self, what: str) -> None:
        self.set_classes("")
        self.update(Text(what, style="italic"))

    def failed(self, line: str) -> None:
        self.set_classes("bad")
        self.update(Text(line))

    def answered(self, request: WebhookRequest, response: WebhookResponse, tracing: bool) -> None:
        preset = PRESETS[request.kind]
        self.set_classes("good" if preset.accepts(response) else "bad")
        text = Text()
        if response.error:
            text.append(f"failed after {response.latency_ms:.0f} ms: {response.error}\n")
        else:
            text.append(f"{response.status}", style="bold")
            text.append(f" in {response.latency_ms:.1f} ms")
        text.append(f"  ({request.kind}: expected {preset.expected})\n", style="dim")
        if response.body:
            text.append(_pretty(response.body) + "\n")
        self._answer = text.copy()
        if tracing:
            text.append("following it into Kafka…", style="italic")
        self.update(text)

    def traced(self, sent: Sent) -> None:
        line = sent.trace_line()
        if line is None:
            return
        text = self._answer.copy()
        found = sent.trace is not None
        text.append(line, style="bold" if found else "italic")
        if found:
            text.append("   ctrl+t: open it in the Tail screen", style="dim")
        self.update(text)


def _pretty(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2)[:SHOWN_BYTES]
    except ValueError:
        return body[:SHOWN_BYTES].decode(errors="replace")
