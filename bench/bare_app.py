"""The ceiling: a bare ASGI app under the bridge's uvicorn settings.

It reads the whole body and answers 202 ``{"status":"accepted"}`` — no
framework, no verification, no I/O — so wrk against it measures what uvicorn
(and wrk itself, on the same cores) can do at most on this machine.

    .venv/bin/python bench/bare_app.py --port 8890 [--workers N]
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b'{"status":"accepted"}'
START: Message = {
    "type": "http.response.start",
    "status": 202,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"21")],
}
END: Message = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Drain the request body, then answer 202; lifespan events are acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(START)
    await send(END)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8890)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # As `auren-bridge serve` at LOG_LEVEL=WARNING: no access log, no log config.
    logging.basicConfig(level=logging.WARNING)
    if args.workers > 1:
        uvicorn.run(
            "bare_app:app",
            app_dir=str(Path(__file__).resolve().parent),
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,
        )
    else:
        uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
