"""Spec files: ``<config>/specs/<profile>/<service>/v0001.json``, … — every
capture a new version, none ever overwritten; the newest is the known-good one.
Written atomically; no secret in any of them (see spec.py)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from auren_tui.core.config import check_name
from auren_tui.core.paths import Locations
from auren_tui.core.restore.spec import RunSpec, SpecError

_VERSION = re.compile(r"^v(\d{4,})\.json$")


class SpecStore:
    def __init__(self, locations: Locations, profile: str) -> None:
        self.root = locations.config_dir / "specs" / check_name(profile)

    def folder(self, service: str) -> Path:
        return self.root / check_name(service, "service")

    def versions(self, service: str) -> list[int]:
        folder = self.folder(service)
        if not folder.is_dir():
            return []
        found = (_VERSION.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def path(self, service: str, version: int) -> Path:
        return self.folder(service) / f"v{version:04d}.json"

    def load(self, service: str, version: int | None = None) -> RunSpec:
        versions = self.versions(service)
        if not versions:
            raise SpecError(
                f"no known-good spec for {service}: `auren-tui spec capture {service}` first"
            )
        wanted = versions[-1] if version is None else version
        if wanted not in versions:
            raise SpecError(f"{service} has no spec version {wanted} (versions: {versions})")
        path = self.path(service, wanted)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SpecError(f"{path}: cannot read ({exc})") from None
        return replace(RunSpec.from_json(data, str(path)), version=wanted)

    def save(self, spec: RunSpec) -> RunSpec:
        """Store ``spec`` as the next version; returns it with its version."""
        versions = self.versions(spec.service)
        version = (versions[-1] if versions else 0) + 1
        saved = replace(spec, version=version)
        path = self.path(spec.service, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(saved.to_json(), f, indent=2, sort_keys=True)
                f.write("\n")
            os.chmod(tmp, 0o600)
            os.link(tmp, path)  # never replaces an existing version (raises instead)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return saved

    def history(self, service: str) -> list[RunSpec]:
        return [self.load(service, v) for v in self.versions(service)]
