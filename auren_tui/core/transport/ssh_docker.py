"""The server's Docker through the SSH login: the command, and why it may be refused.

``SshConnection.docker_url()`` (core/transport/ssh.py) serves a local unix
socket whose every connection is an exec channel running
``docker system dial-stdio`` as the profile's ``docker_command``: the Docker
API through the same login, no second one. A refused socket shows only on
that command's stderr, which the Docker client never shows; so a short
``docker version`` runs first, and ``docker_problem`` says what to fix.
"""

from __future__ import annotations

import re
import shlex

from auren_tui.core.config import Profile


def docker_cli(profile: Profile) -> str:
    """The docker CLI as the profile runs it, with ``-H`` when it names a socket."""
    words = [shlex.quote(w) for w in shlex.split(profile.docker_command)]
    if profile.docker_host:
        words += ["-H", shlex.quote(profile.docker_host)]
    return " ".join(words)


def docker_problem(docker_command: str, user: str, where: str, stderr: str) -> str | None:
    """One line for a docker CLI failure the operator must fix on the server, or None."""
    text = stderr.lower()
    if "permission denied" in text and "docker" in text:
        found = re.search(r"unix://[^\s:]+", stderr)
        socket_at = f" {found.group(0)[len('unix://') :]}" if found else ""
        return (
            f"{user}@{where} may not use the Docker socket{socket_at} (permission denied): "
            "add the user "
            f"to the docker group on the server (`sudo usermod -aG docker {user}`, then log in "
            'again), or set the profile\'s docker_command = "sudo -n docker" (with a sudoers '
            "rule that needs no password)"
        )
    if "password is required" in text or "a terminal is required" in text:
        return (
            f"`{docker_command}` on {where} asks for a password: allow it without one "
            f"(a sudoers rule `{user} ALL=(root) NOPASSWD: /usr/bin/docker`), or add "
            f'{user} to the docker group and set docker_command = "docker"'
        )
    if "not found" in text and ("docker" in text or "sudo" in text):
        first = stderr.strip().splitlines()[0] if stderr.strip() else "command not found"
        return (
            f"`{docker_command}` is not available to {user} on {where} ({first[:120]}); "
            "install the docker CLI there or set the profile's docker_command"
        )
    return None
