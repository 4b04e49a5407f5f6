"""Every path auren-tui reads or writes, in one place (XDG-aware).

Tests point everything at a temp dir by setting ``AUREN_TUI_HOME`` (or the
XDG variables); nothing else in the code builds a path of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

APP = "auren-tui"


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / default


@dataclass(frozen=True)
class Locations:
    """The directories auren-tui uses."""

    config_dir: Path
    data_dir: Path
    state_dir: Path
    cache_dir: Path
    ssh_config: Path | None = None
    """``--ssh-config FILE``: the SSH config read instead of ~/.ssh/config (as ``ssh -F``)."""

    @classmethod
    def from_env(cls) -> Locations:
        """XDG base directories, or everything under ``$AUREN_TUI_HOME``."""
        home = os.environ.get("AUREN_TUI_HOME")
        if home:
            root = Path(home)
            return cls(root / "config", root / "data", root / "state", root / "cache")
        return cls(
            _xdg("XDG_CONFIG_HOME", ".config") / APP,
            _xdg("XDG_DATA_HOME", ".local/share") / APP,
            _xdg("XDG_STATE_HOME", ".local/state") / APP,
            _xdg("XDG_CACHE_HOME", ".cache") / APP,
        )

    def with_ssh_config(self, path: Path | None) -> Locations:
        """These locations reading ``path`` (``--ssh-config``, made absolute) as the SSH
        config; unchanged when None."""
        if path is None:
            return self
        return replace(self, ssh_config=path.expanduser().absolute())

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "auren-tui.log"


def themes_dir() -> Path:
    """Theme files: shipped inside the wheel, or at the repository root in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "themes"
