"""Command palette entries (`:` or ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.command import Hit, Hits, Provider


class AurenCommands(Provider):
    """Screens and actions by name."""

    COMMANDS: tuple[tuple[str, str, str], ...] = (
        ("Dashboard", "screen_dashboard", "Health of every service"),
        ("Tail Kafka", "screen_tail", "Kafka records as they arrive (tail)"),
        ("Webhooks", "screen_webhooks", "Send signed webhooks, the negative suite, load test"),
        ("Containers", "screen_containers", "Containers: logs, stats, restart, restore"),
        ("History", "screen_history", "Plots over 15 min to 24 h, server changes marked"),
        ("Refresh now", "refresh", "Poll every service at once"),
        ("Pause / resume refresh", "toggle_pause", "Stop or restart live polling"),
        ("Next theme", "next_theme", "Cycle dark, light, high contrast"),
        ("Help", "help", "Every key"),
    )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in self.COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self.app.run_action, action),
                    help=help_text,
                )

    async def discover(self) -> Hits:
        for name, action, help_text in self.COMMANDS:
            yield Hit(1.0, name, partial(self.app.run_action, action), help=help_text)
