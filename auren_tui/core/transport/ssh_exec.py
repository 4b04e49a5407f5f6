"""Commands on the server over the SSH login: an exec channel, and reading it to the end.

``SshConnection.run`` (core/transport/ssh.py) runs a command and returns its
exit status and output; ``docker_url`` runs ``docker system dial-stdio`` on
a channel of its own per connection. Every step has a timeout.
"""

from __future__ import annotations

import select
import threading
import time

import paramiko

from auren_tui.core.transport.ssh_errors import ConnectFailed
from auren_tui.core.transport.ssh_keepalive import POLL


def exec_channel(transport: paramiko.Transport, command: str, timeout: float) -> paramiko.Channel:
    """A session channel running ``command``; each step bounded by ``timeout``."""
    chan = transport.open_session(timeout=timeout)
    # exec_command waits for the server's reply without a timeout of its own:
    # closing the channel ends that wait.
    timer = threading.Timer(timeout, chan.close)
    timer.name = "auren-ssh-exec-timeout"
    timer.daemon = True
    timer.start()
    try:
        chan.exec_command(command)
    except BaseException:
        chan.close()
        raise
    finally:
        timer.cancel()
        timer.join()
    return chan


def read_to_exit(
    chan: paramiko.Channel, deadline: float, timeout: float, label: str
) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command on ``chan``, which is closed after.

    Raises ``TimeoutError`` past ``deadline`` (``timeout`` is for the message),
    ``ConnectFailed`` when the connection drops before the command exits.
    """
    out, err = bytearray(), bytearray()
    try:
        while True:
            while chan.recv_ready():
                out.extend(chan.recv(65536))
            while chan.recv_stderr_ready():
                err.extend(chan.recv_stderr(65536))
            if chan.closed or (chan.eof_received and chan.exit_status_ready()):
                # Data that arrived with the close.
                while chan.recv_ready():
                    out.extend(chan.recv(65536))
                while chan.recv_stderr_ready():
                    err.extend(chan.recv_stderr(65536))
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"command on {label} did not finish within {timeout:g} s")
            select.select([chan], [], [], min(remaining, POLL))
        if not chan.exit_status_ready():
            raise ConnectFailed(f"connection to {label} lost while running a command")
        status = chan.recv_exit_status()
    finally:
        chan.close()
    return status, out.decode(errors="replace"), err.decode(errors="replace")
