"""``auren-tui demo``: the workstation on a local AUREN stack (see auren_tui/demo).

Only the arguments live here: the command opens the TUI, which ``__main__``
hands to ``auren_tui.launch.launch_demo`` (the cli package never imports
Textual).
"""

from __future__ import annotations

from pathlib import Path

from auren_tui.cli import Commands, common_options


def register(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        parents=[common_options()],
        help="open the workstation on a local demo stack (bridge, Kafka, live traffic)",
        description="Starts a local AUREN stack under the data directory and opens the "
        "workstation on it; everything stops when you quit.",
    )
    demo.add_argument("--kafka-libs", type=Path, metavar="DIR", help="the Apache Kafka jars")
    demo.add_argument("--no-docker", action="store_true", help="do not run the demo container")
    demo.add_argument(
        "--rate", type=float, default=4.0, metavar="R", help="demo webhooks per second"
    )
    demo.set_defaults(handler=None)
