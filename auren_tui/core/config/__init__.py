"""Profiles and UI preferences in ``config.toml`` (XDG config dir).

Never holds a secret: passwords, passphrases and webhook secrets live in the
OS keyring (core/secrets.py), named ``<profile>/<name>``.

The file, as ``save_config`` writes it::

    [ui]
    theme = "auren-dark"
    refresh_seconds = 2.0
    read_only = false
    default_profile = "prod"

    [profiles.prod]
    ssh_host = "prod-box"             # a Host of ~/.ssh/config (or host = "203.0.113.7")
    port = 22                         # host, port, user: written here, they win over the file
    user = "deploy"
    auth = "auto"                     # auto | agent | key | password
    key_file = "/home/me/.ssh/auren_ed25519"
    known_hosts = "/home/me/.ssh/known_hosts"
    jump = ["bastion"]                # ProxyJump hops (else the file's ProxyJump)
    allow_proxy_command = false       # run the file's ProxyCommand for this profile
    ssh_config = "/home/me/.ssh/config"  # default: ~/.ssh/config, then /etc/ssh/ssh_config
    read_only = true
    docker_host = "unix:///var/run/docker.sock"
    docker_command = "sudo -n docker" # how the SSH user runs docker (default "docker")

    [profiles.prod.services.bridge]   # overrides of core/catalog.py, per service
    container = "biometric-bridge-v2"
    port = 8890

Split by concern: ``model`` (Profile, UiPrefs, AppConfig and the name
checks), ``load`` (reading and checking the file), ``save`` (writing it
atomically). Unknown keys are ignored on load and kept as they were on save, so a file
written by a newer version survives an older one.
"""

from auren_tui.core.config.load import load_config
from auren_tui.core.config.model import (
    AUTH_KINDS,
    CHECK_KINDS,
    LOCAL,
    AppConfig,
    AuthKind,
    ConfigError,
    Profile,
    UiPrefs,
    check_docker_command,
    check_name,
    local_profile,
)
from auren_tui.core.config.save import save_config, save_ui, set_theme

__all__ = [
    "AUTH_KINDS",
    "CHECK_KINDS",
    "LOCAL",
    "AppConfig",
    "AuthKind",
    "ConfigError",
    "Profile",
    "UiPrefs",
    "check_docker_command",
    "check_name",
    "load_config",
    "local_profile",
    "save_config",
    "save_ui",
    "set_theme",
]
