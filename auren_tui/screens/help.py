"""`?`: the keys, in one place."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# auren-tui keys

| key | does |
|---|---|
| `1` | Dashboard: health of every service |
| `2` | Tail: Kafka records as they arrive |
| `3` | Webhooks: signed test requests, the negative suite, a load test |
| `4` | Containers: logs, stats, restart / stop / start, restore |
| `5` | History: plots of the last 15 min to 24 h, server changes marked |
| `?` | this help |
| `:` or `ctrl+p` | command palette (themes, refresh, screens) |
| `/` | filter rows (see *Filters* below); `escape` clears |
| `escape` | gives the keyboard back from any editor or input box |
| `r` | refresh now |
| `p` | pause / resume live refresh |
| `t` | next theme (remembered) |
| `q` | quit |

The header line shows the profile, the connection (and reconnect attempts),
and how long ago the data was refreshed. Data from before a lost connection
stays on screen, greyed, until the connection is back.

## Dashboard (`1`): back in time, alerts

Every refresh is recorded on this workstation (the flight recorder, 7 days).
`left` / `right` step back and forth by refresh, `home` goes to the oldest
kept, `end` back to live; the status line says **AS OF** and the time while
you look at the past (refreshing goes on underneath).

A service turning unhealthy, a container restarting, the Kafka circuit
opening or the outbox backlog staying high rings the bell, shows a toast,
posts a desktop notification where there is one, and adds a line to the
*Events* panel (`[alerts]` in config.toml; `alerts = false` in a profile).

## Filters (`/`)

One rule on every screen: `field=value` keeps the rows whose field is that
value (the tables ignore case), `field!=value` the others; any other text
keeps the rows that contain it (case-insensitive). Typing applies once you pause; `enter` gives the
keys back, `escape` clears. Fields: on the Dashboard `name`, `title`,
`health`, `state`; on Containers `name`, `service`, `state`, `health`,
`image`; on the Tail any JSON field of the record (`a.b` for nested ones).

## Tail screen (`2`)

| key | does |
|---|---|
| `o` | choose topics and where to start (end, beginning, N, -N, time, 10m) |
| `/` | filter: `field=value`, `field!=value` or text; `escape` clears |
| `p` or `space` | pause / resume drawing (records keep arriving) |
| `f` | follow the newest record on / off |
| `up` `down` `end` | select a record for the detail pane; `end`: the newest |
| `s` | save what is shown (filtered) as JSON lines in the data dir |
| `c` | copy the selected record as JSON |

The header shows the topics, the tail's state, records per second, how many
arrived, the ring (the newest 10,000 are kept) and how many were not drawn
because they came faster than a screen can show (they stay in the ring).

## Webhooks screen (`3`)

| key | does |
|---|---|
| `e` | edit the body (`escape` leaves the editor: the screen keys work again) |
| `ctrl+s` | send the form (provider, template, body, negative preset), signed |
| `ctrl+r` | run the negative suite for the selected provider |
| `ctrl+l` | start the load test (asks first: it stores N events) |
| `ctrl+t` | after a trace into Kafka: open that record in the Tail screen |
| `ctrl+n` | a fresh body from the template (new event ids) |
| `ctrl+b` / `ctrl+o` | save the form as a named request / open a saved one |

Secrets come from `AUREN_TUI_<PROVIDER>_SECRET` or the keyring
(`auren-tui secret set PROFILE PROVIDER`); only their last 4 characters are
shown, and signatures only masked. Read-only refuses send, suite and load.

## Containers screen (`4`)

| key | does |
|---|---|
| `up` `down` | select a container: its logs follow below, CPU and memory above them |
| `r` / `s` / `S` | restart / stop / start the selected container (asks first) |
| `R` | restore a catalog service's container to its known-good spec |
| `B` | break its restore lock (shows the holder; type the container's name) |
| `/` | filter: text, or `field=value` on name, service, state, health, image |
| `l` | follow the logs on / off (off stops the stream) |

The restore dialog shows the differences from the known-good spec (env
values masked) and the steps; type the service name to enable Restore, or
press `d` for a dry run. It shows each step as it runs, then: restored (and
the failed container's new name), rolled back and why, or who holds the lock.
Without a spec: `auren-tui spec capture SERVICE` while it is healthy.

## History screen (`5`)

| key | does |
|---|---|
| `[` / `]` | a shorter / longer window: 15 min, 1 h, 6 h, 24 h |
| `r` | build the charts again now (they follow by themselves every 15 s) |

Bridge charts come from Prometheus range queries when the profile has one,
else from this workstation's recording (the head line says which); the
containers' CPU, memory and restarts always from the recording. Red
vertical lines are server changes from the audit log (restores, restarts,
stops, broken locks), listed under the charts.

**Read-only** (`--read-only`, or `read_only = true` in a profile) disables
every action that changes the server; the header says READ-ONLY.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 80; height: 80%; border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
