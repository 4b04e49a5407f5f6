"""Typed dependencies the routes use to reach the lifespan's clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bridge_service.state import Bridge


async def get_bridge(request: Request) -> Bridge:
    bridge: Bridge = request.app.state.bridge
    return bridge


BridgeDep = Annotated[Bridge, Depends(get_bridge)]
