"""One health check per catalog check kind: blocking, bounded by a timeout.

Every function returns a :class:`CheckResult` and never raises for a network
problem: a failure is ``ok=False`` with a one-line ``detail`` ("connection
refused", "timed out after 3.0 s", ...). Call them from worker threads.

The checks prove that the service's own protocol answers, without credentials:

- ``http``: ``GET`` the health path; ok on 2xx; a JSON body is parsed.
- ``postgres``: an ``SSLRequest`` (the 8-byte packet every libpq client may
  send first); the server answers one byte, ``S`` or ``N``, before any
  authentication. That proves the postmaster accepts connections on that
  port without a password in the tool. It does not prove a query runs (that
  needs a login); the bridge's /health reports its own database state. When
  the server answers ``N`` and we close, PostgreSQL logs nothing; after ``S``
  it may log one "could not accept SSL connection" line per check.
- ``redis``: RESP ``PING`` → ``+PONG``; ``-NOAUTH`` also proves Redis answers.
- ``kafka``: an ``ApiVersions`` v0 request over a raw socket → a well-formed
  response with ``error_code`` 0. (A metadata request would return the
  advertised broker names, which do not resolve outside the server.)
"""

from __future__ import annotations

import errno
import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import httpx

from auren_tui.core.catalog import CheckKind
from auren_tui.core.model import CheckResult

DEFAULT_TIMEOUT = 3.0
MAX_BODY_BYTES = 1024 * 1024
PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
KAFKA_API_VERSIONS = 18
KAFKA_CLIENT_ID = b"auren-tui"
KAFKA_CORRELATION_ID = 0x41555245  # "AURE"
# An ApiVersions v0 answer lists every API once (~80 today); far more is not Kafka.
KAFKA_MAX_RESPONSE = 64 * 1024


def describe_error(exc: BaseException, timeout: float | None = None) -> str:
    """A one-line, lower-case description of a network failure."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, TimeoutError | socket.timeout | httpx.TimeoutException):
            return f"timed out after {timeout:.1f} s" if timeout else "timed out"
        if isinstance(cur, socket.gaierror):
            return "cannot resolve host name"
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, ConnectionResetError | BrokenPipeError):
            return "connection reset by peer"
        if isinstance(cur, OSError) and cur.errno is not None:
            if cur.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return "host unreachable"
            return (cur.strerror or str(cur)).lower()
        cur = cur.__cause__ or cur.__context__
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    if line.startswith("[Errno"):
        line = line.split("]", 1)[-1].strip()
    return line[:200] or type(exc).__name__


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _failed(detail: str) -> CheckResult:
    return CheckResult(ok=False, latency_ms=None, detail=detail)


# ---- http -------------------------------------------------------------------------


def _json_body(response: httpx.Response, content: bytes) -> dict[str, Any] | None:
    # Some servers (busybox httpd) send JSON without a JSON content type.
    typed = "json" in response.headers.get("content-type", "")
    looks_json = typed or content.lstrip().startswith(b"{")
    if not looks_json or len(content) > MAX_BODY_BYTES:
        return None
    try:
        parsed = json.loads(content)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def http_client(timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    """A client for checks: no proxies from the environment, no redirects, no keep-alive.

    Creating one costs ~0.1 s (the CA bundle is loaded even for plain http):
    share one between checks. Without keep-alive every check connects afresh,
    so its latency includes the connect, as the raw-socket checks' does.
    """
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def check_http(
    host: str,
    port: int,
    path: str = "/health",
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.Client | None = None,
) -> CheckResult:
    """``GET http://host:port/path``: ok on 2xx; ``body`` is the parsed JSON object, if any.

    ``timeout`` bounds the whole check, not each read: an endpoint that keeps
    sending (or drips) is cut off at the deadline and shown as timed out, and
    at most ``MAX_BODY_BYTES`` of a body are read.
    """
    url = f"http://{_url_host(host)}:{port}{path or '/'}"
    own = client is None
    http = http_client(timeout) if client is None else client
    deadline = _Deadline(timeout)
    started = time.perf_counter()
    try:
        with http.stream("GET", url, timeout=timeout) as response:
            content = b""
            for chunk in response.iter_bytes():
                if time.monotonic() > deadline.end:
                    return _failed(
                        f"{response.status_code}, but the body did not end within "
                        f"{timeout:.1f} s (it keeps sending)"
                    )
                content += chunk
                if len(content) > MAX_BODY_BYTES:
                    break  # enough to know it is not a health document
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return _failed(describe_error(exc, timeout))
    finally:
        if own:
            http.close()
    latency = _elapsed_ms(started)
    body = _json_body(response, content)
    detail = f"{response.status_code} {response.reason_phrase}".strip()
    status = body.get("status") if body else None
    if isinstance(status, str) and status:
        detail += f" ({status})"
    return CheckResult(
        ok=response.is_success,
        latency_ms=latency,
        detail=detail,
        status_code=response.status_code,
        body=body,
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# ---- raw-socket helpers --------------------------------------------------------------


class _Deadline:
    """One timeout for the whole check, applied to every socket operation."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.end = time.monotonic() + timeout

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining


def _connect(host: str, port: int, deadline: _Deadline) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=deadline.left())
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_exact(sock: socket.socket, size: int, deadline: _Deadline) -> bytes:
    chunks: list[bytes] = []
    need = size
    while need:
        sock.settimeout(deadline.left())
        chunk = sock.recv(min(need, 65536))
        if not chunk:
            raise _ProtocolError("connection closed before a full answer")
        chunks.append(chunk)
        need -= len(chunk)
    return b"".join(chunks)


def _recv_line(sock: socket.socket, deadline: _Deadline, limit: int = 512) -> bytes:
    buf = b""
    while b"\r\n" not in buf:
        if len(buf) > limit:
            raise _ProtocolError("answer line too long")
        sock.settimeout(deadline.left())
        chunk = sock.recv(limit)
        if not chunk:
            raise _ProtocolError("connection closed before an answer")
        buf += chunk
    return buf.split(b"\r\n", 1)[0]


class _ProtocolError(Exception):
    """The port answered, but not with the expected protocol."""


def _socket_check(
    host: str, port: int, timeout: float, talk: Callable[[socket.socket, _Deadline], str]
) -> CheckResult:
    """Connect, run ``talk`` (returns the ok detail), and time the whole exchange."""
    deadline = _Deadline(timeout)
    started = time.perf_counter()
    try:
        with _connect(host, port, deadline) as sock:
            detail = talk(sock, deadline)
    except _ProtocolError as exc:
        return _failed(str(exc))
    except OSError as exc:
        return _failed(describe_error(exc, timeout))
    return CheckResult(ok=True, latency_ms=_elapsed_ms(started), detail=detail)


# ---- postgres -------------------------------------------------------------------------


def _postgres_talk(sock: socket.socket, deadline: _Deadline) -> str:
    sock.settimeout(deadline.left())
    sock.sendall(PG_SSL_REQUEST)
    answer = _recv_exact(sock, 1, deadline)
    if answer == b"S":
        return "accepting connections (TLS offered)"
    if answer == b"N":
        return "accepting connections"
    if answer == b"E":
        raise _ProtocolError("postgres refused the connection (error before startup)")
    raise _ProtocolError(f"not PostgreSQL: unexpected answer {answer!r}")


def check_postgres(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> CheckResult:
    """PostgreSQL answers an SSLRequest with ``S`` or ``N`` (no credentials needed)."""
    return _socket_check(host, port, timeout, _postgres_talk)


# ---- redis ------------------------------------------------------------------------------


def _redis_talk(sock: socket.socket, deadline: _Deadline) -> str:
    sock.settimeout(deadline.left())
    sock.sendall(b"*1\r\n$4\r\nPING\r\n")
    line = _recv_line(sock, deadline)
    if line == b"+PONG":
        return "PONG"
    if line.startswith(b"-NOAUTH"):
        return "answering (authentication required)"
    if line[:1] == b"-":
        raise _ProtocolError("redis: " + line[1:].decode(errors="replace")[:120])
    raise _ProtocolError(f"not Redis: unexpected answer {line[:40]!r}")


def check_redis(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> CheckResult:
    """RESP ``PING`` → ``+PONG`` (``-NOAUTH`` counts as answering)."""
    return _socket_check(host, port, timeout, _redis_talk)


# ---- kafka ------------------------------------------------------------------------------


def kafka_api_versions_request(correlation_id: int = KAFKA_CORRELATION_ID) -> bytes:
    """ApiVersions v0 with request header v1: key, version, correlation id, client id."""
    payload = (
        struct.pack("!hhih", KAFKA_API_VERSIONS, 0, correlation_id, len(KAFKA_CLIENT_ID))
        + KAFKA_CLIENT_ID
    )
    return struct.pack("!i", len(payload)) + payload


def parse_api_versions_v0(frame: bytes, correlation_id: int) -> tuple[int, int]:
    """(error_code, number of APIs) of an ApiVersions v0 response frame (size stripped)."""
    if len(frame) < 10:
        raise _ProtocolError("not Kafka: ApiVersions answer too short")
    corr, error_code, count = struct.unpack_from("!ihi", frame, 0)
    if corr != correlation_id:
        raise _ProtocolError("not Kafka: wrong correlation id in the answer")
    if error_code != 0:
        return error_code, 0
    if count < 0 or len(frame) != 10 + 6 * count:
        raise _ProtocolError("not Kafka: malformed ApiVersions answer")
    return 0, count


def _kafka_talk(sock: socket.socket, deadline: _Deadline) -> str:
    sock.settimeout(deadline.left())
    sock.sendall(kafka_api_versions_request())
    (size,) = struct.unpack("!i", _recv_exact(sock, 4, deadline))
    if size < 10 or size > KAFKA_MAX_RESPONSE:
        raise _ProtocolError(f"not Kafka: implausible answer size {size}")
    error_code, count = parse_api_versions_v0(
        _recv_exact(sock, size, deadline), KAFKA_CORRELATION_ID
    )
    if error_code:
        raise _ProtocolError(f"kafka: ApiVersions error code {error_code}")
    return f"ApiVersions ok ({count} APIs)"


def check_kafka(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> CheckResult:
    """A Kafka ApiVersions v0 request → a well-formed answer with error code 0."""
    return _socket_check(host, port, timeout, _kafka_talk)


# ---- dispatch ---------------------------------------------------------------------------


def check_none() -> CheckResult:
    return CheckResult(ok=True, latency_ms=None, detail="no check")


def run_check(
    kind: CheckKind,
    host: str,
    port: int,
    path: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.Client | None = None,
) -> CheckResult:
    """The check of ``kind`` against ``host:port`` (already a local endpoint)."""
    if kind == "http":
        return check_http(host, port, path or "/", timeout, client)
    if kind == "postgres":
        return check_postgres(host, port, timeout)
    if kind == "redis":
        return check_redis(host, port, timeout)
    if kind == "kafka":
        return check_kafka(host, port, timeout)
    return check_none()
