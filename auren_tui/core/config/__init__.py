"""Profiles, UI preferences, alert rules and the recorder's bounds in ``config.toml``
(XDG config dir).

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
    alerts = false                    # no alerts for this profile (default true)

    [profiles.prod.services.bridge]   # overrides of core/catalog.py, per service
    container = "biometric-bridge-v2"
    port = 8890

    [alerts]                          # core/history/alerts.py: once per transition
    enabled = true                    # every alert (or alerts = false in a profile)
    bell = true                       # ring the terminal bell (not for recoveries)
    desktop = true                    # desktop notification, where a service exists
    unhealthy = true                  # a service turning unhealthy, and recovering
    restart = true                    # a container restarting
    circuit = true                    # the bridge's Kafka circuit opening, closing
    backlog = true                    # the outbox backlog staying high
    backlog_threshold = 100.0         # ... above this
    backlog_refreshes = 3             # ... for this many refreshes in a row

    [history]                         # the flight recorder, per profile
    keep_days = 7.0
    max_mb = 100.0

Split by concern: ``model`` (Profile, UiPrefs, AlertRules, HistoryPrefs,
AppConfig and the name checks), ``load`` (reading and checking the file),
``save`` (writing it atomically). Unknown keys are ignored on load and kept as
they were on save, so a file written by a newer version survives an older one.
"""

from auren_tui.core.config.load import load_config
from auren_tui.core.config.model import (
    AUTH_KINDS,
    CHECK_KINDS,
    LOCAL,
    AlertRules,
    AppConfig,
    AuthKind,
    ConfigError,
    HistoryPrefs,
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
    "AlertRules",
    "AppConfig",
    "AuthKind",
    "ConfigError",
    "HistoryPrefs",
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
