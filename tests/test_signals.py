"""The processes the tests start get Ctrl-C, however the suite itself was started."""

from __future__ import annotations

import subprocess
import sys

PROBE = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"


def test_a_started_process_has_sigint_at_its_default() -> None:
    # Under `nohup make test &` the suite inherits SIGINT ignored (tests/conftest.py);
    # a Python child would then keep it ignored, and this prints False.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "True"
