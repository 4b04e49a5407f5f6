"""How the running container differs from its known-good spec, as masked lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from auren_tui.core.restore.spec import RunSpec


def comparable(spec: RunSpec) -> dict[str, Any]:
    """What ``diff`` compares: the spec without its bookkeeping."""
    data = spec.to_json()
    for key in ("captured_at", "captured_by", "version", "image_refs", "container"):
        data.pop(key, None)
    return data


@dataclass(frozen=True)
class Change:
    what: str
    kind: str  # "added", "removed", "changed"
    old: str = ""
    new: str = ""

    def line(self) -> str:
        if self.kind == "added":
            return f"+ {self.what}: {self.new}"
        if self.kind == "removed":
            return f"- {self.what}: {self.old}"
        return f"~ {self.what}: {self.old} -> {self.new}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _mask(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return "(secret)" if isinstance(value, dict) and "keyring" in value else text


def diff(
    known: RunSpec, running: RunSpec, same_secret: dict[str, bool] | None = None
) -> list[Change]:
    """Changes from the known-good spec to the running container. Env values are
    masked (``***``); ``same_secret`` says whether a secret env value matches."""
    a, b = comparable(known), comparable(running)
    out: list[Change] = []
    for key in ("image_id", "entrypoint", "cmd", "network_mode", "restart_policy",
                "restart_retries", "user", "workdir", "healthcheck", "stop_timeout"):  # fmt: skip
        if a.get(key) != b.get(key):
            out.append(Change(key, "changed", _mask(a.get(key)), _mask(b.get(key))))
    for key, label in (("options", "option"), ("networks", "network")):
        left, right = a.get(key) or {}, b.get(key) or {}
        for k in sorted(set(left) | set(right)):
            if left.get(k) != right.get(k):
                kind = "added" if k not in left else "removed" if k not in right else "changed"
                out.append(
                    Change(f"{label} {k}", kind, _short(left.get(k, "")), _short(right.get(k, "")))
                )
    env_a, env_b = a["env"], b["env"]
    for key in sorted(set(env_a) | set(env_b)):
        if key not in env_b:
            out.append(Change(f"env {key}", "removed", "***"))
        elif key not in env_a:
            out.append(Change(f"env {key}", "added", new="***"))
        elif isinstance(env_a[key], dict) or isinstance(env_b[key], dict):
            if not (same_secret or {}).get(key, env_a[key] == env_b[key]):
                out.append(Change(f"env {key}", "changed", "***", "***"))
        elif env_a[key] != env_b[key]:
            out.append(Change(f"env {key}", "changed", "***", "***"))
    for key, label in (("ports", "port"), ("labels", "label")):
        left, right = a[key], b[key]
        for k in sorted(set(left) | set(right)):
            if left.get(k) != right.get(k):
                kind = "added" if k not in left else "removed" if k not in right else "changed"
                out.append(
                    Change(f"{label} {k}", kind, str(left.get(k, "")), str(right.get(k, "")))
                )
    old_m, new_m = set(a["mounts"]), set(b["mounts"])
    out += [Change("mount", "removed", m) for m in sorted(old_m - new_m)]
    out += [Change("mount", "added", new=m) for m in sorted(new_m - old_m)]
    return out
