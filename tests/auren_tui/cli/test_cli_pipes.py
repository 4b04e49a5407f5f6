"""Every command whose reader goes away (`| head`, a closed terminal) ends quietly, exit 0.

The real script writes into a pipe whose reading end is closed before it
starts, so its first write (or Python's flush at exit, which used to print
"Exception ignored ... BrokenPipeError" and exit 120) meets EPIPE. Each
command is walked that prints without a server; the others are listed with
why, so a new command has to be put in one list or the other.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auren_tui.__main__ import build_parser

AUREN_TUI = str(Path(sys.executable).parent / "auren-tui")

OFFLINE: dict[str, list[list[str]]] = {
    "history": [["history"], ["history", "--json", "--since", "7d"]],
    "audit": [["audit"]],
    "profile": [["profile", "list"]],
    "health": [
        ["health", "--no-docker", "--timeout", "0.2"],
        ["health", "--json", "--no-docker", "--timeout", "0.2"],
        [
            "health",
            "--watch",
            "--count",
            "2",
            "--interval",
            "0.1",
            "--no-docker",
            "--timeout",
            "0.2",
        ],
    ],
}
ELSEWHERE = {
    "tail": "needs Kafka (a broken pipe is handled in cli/tail.py too)",
    "topics": "needs Kafka",
    "webhook": "needs a bridge",
    "spec": "needs a Docker Engine",
    "restore": "needs a Docker Engine",
    "secret": "needs a keyring (prints nothing on set)",
    "demo": "starts a stack and a TUI",
}


def _command_names() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_every_command_is_walked_or_says_why_not() -> None:
    assert _command_names() == set(OFFLINE) | set(ELSEWHERE)


@pytest.mark.parametrize(
    "args", [args for runs in OFFLINE.values() for args in runs], ids=lambda a: " ".join(a)
)
def test_a_closed_pipe_ends_the_command_quietly(args: list[str], tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [AUREN_TUI, *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60,
            env={"AUREN_TUI_HOME": str(tmp_path), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
