"""Saved webhook requests: one YAML file each in ``<config>/requests/``.

Like Posting's collections: a file an operator can read, edit and keep in
git. No secret is ever in one (signing happens at send time from the
keyring); what is saved is the provider, the body, the template it came
from and the negative preset.

    provider: whoop
    template: workout.updated
    negative: valid
    body: |
      {"user_id": 10001, "id": "…", "type": "workout.updated", "trace_id": "…"}
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auren_tui.core.config import ConfigError, check_name
from auren_tui.core.paths import Locations
from auren_tui.core.webhooks.client import PRESETS, NegativeKind
from auren_tui.core.webhooks.signing import Provider, SigningError, check_provider


@dataclass(frozen=True)
class SavedRequest:
    name: str
    provider: Provider
    body: str
    template: str | None = None
    negative: NegativeKind = "valid"

    def to_yaml(self) -> str:
        data: dict[str, Any] = {"provider": self.provider}
        if self.template:
            data["template"] = self.template
        data["negative"] = self.negative
        data["body"] = self.body if self.body.endswith("\n") else self.body + "\n"
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def requests_dir(locations: Locations) -> Path:
    return locations.config_dir / "requests"


def path_of(locations: Locations, name: str) -> Path:
    return requests_dir(locations) / f"{check_name(name, 'request')}.yaml"


def save(locations: Locations, request: SavedRequest) -> Path:
    """Write atomically (temp file + rename): a crash leaves the old file or the new."""
    path = path_of(locations, request.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(request.to_yaml())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(locations: Locations, name: str) -> SavedRequest:
    """The saved request ``name``; ConfigError naming the file and the problem."""
    path = path_of(locations, name)
    if not path.exists():
        known = ", ".join(names(locations)) or "none saved"
        raise ConfigError(f"no saved request {name!r} in {path.parent} ({known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}:{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with provider and body")
    try:
        provider = check_provider(str(data.get("provider", "")))
    except SigningError as exc:
        raise ConfigError(f"{path}: provider: {exc}") from None
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ConfigError(f"{path}: body: expected the JSON body as text")
    try:
        json.loads(body)
    except ValueError as exc:
        raise ConfigError(f"{path}: body is not valid JSON ({exc})") from None
    negative = data.get("negative", "valid")
    if negative not in PRESETS:
        raise ConfigError(f"{path}: negative: {negative!r} is not one of {', '.join(PRESETS)}")
    template = data.get("template")
    return SavedRequest(name, provider, body, str(template) if template else None, negative)


def names(locations: Locations) -> list[str]:
    folder = requests_dir(locations)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
