"""Load Textual themes from the TOML files in ``themes/``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

from auren_tui.core.paths import themes_dir


def load_themes(directory: Path | None = None) -> list[Theme]:
    """Every ``*.toml`` theme in ``directory`` (default: the shipped themes)."""
    themes = []
    for path in sorted((directory or themes_dir()).glob("*.toml")):
        data = tomllib.loads(path.read_text())
        themes.append(Theme(**data))
    return themes
