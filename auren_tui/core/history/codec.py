"""A recorded refresh's bytes: compact JSON without health bodies, zlib with a preset
dictionary (the file's first refresh: a refresh is mostly the words of the one
before, so ~3 KB of JSON becomes ~300 bytes)."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from typing import Any

from auren_tui.core.health.recording import snapshot_from_dict, snapshot_to_dict
from auren_tui.core.model import Snapshot


def plain(snapshot: Snapshot) -> bytes:
    """The snapshot's compact JSON, check bodies dropped (large; the useful part of
    them is in each service's ``components``)."""
    services = tuple(
        replace(s, check=replace(s.check, body=None)) if s.check is not None else s
        for s in snapshot.services
    )
    data = snapshot_to_dict(replace(snapshot, services=services))
    return json.dumps(data, separators=(",", ":")).encode()


def compress(raw: bytes, zdict: bytes) -> bytes:
    packer = zlib.compressobj(6, zdict=zdict)
    return packer.compress(raw) + packer.flush()


def decode(body: bytes, zdict: bytes) -> Snapshot:
    """The inverse of ``compress(plain(snapshot))``; zlib.error, ValueError or
    RecordingError when the bytes are not one."""
    unpacker = zlib.decompressobj(zdict=zdict)
    data: Any = json.loads(unpacker.decompress(body) + unpacker.flush())
    return snapshot_from_dict(data)
