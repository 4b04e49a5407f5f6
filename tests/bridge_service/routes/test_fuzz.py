"""Malformed input, fuzzed from the bridge's own OpenAPI spec: never a 5xx.

One real bridge (SQLite, the test secrets) answers every operation its
``/openapi.json`` lists, with random bodies, header values and query strings.
Whatever arrives, the answer is a 4xx (or a 2xx), never a 5xx, and the process
survives. Validly signed requests with malformed bodies get past verification
and must be refused by the parser with 400 or 422.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.bridge_service.conftest import secret_env
from tests.bridge_service.process import BridgeProcess
from tests.bridge_service.signing import event_body, sign

pytestmark = pytest.mark.services  # real bridge processes, databases, Kafka

BODY_LIMIT = 64 * 1024
TOKEN = "fuzz-verification-token"
SOURCES = ["oura", "whoop", "healthkit"]
# Every provider's signature headers, sent to every operation.
SIGNATURE_HEADERS = [
    "x-oura-signature",
    "x-oura-timestamp",
    "x-whoop-signature",
    "x-whoop-signature-timestamp",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "terra-signature",
    "content-type",
]
# The fields each provider's event identity needs (bridge_service.providers).
REQUIRED = {
    "oura": ["event_type", "data_type", "object_id", "user_id"],
    "whoop": ["user_id", "id", "type", "trace_id"],
    "healthkit": ["user_id", "type"],
}
# Each test sets max_examples; together they keep the module at ~25 s on two
# cores. Generating bodies up to the 64 KiB limit is slow by hypothesis's
# standards (too_slow), and every example shares the module's one bridge.
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Operation:
    """One path + method of the served spec and the parameters it declares."""

    method: str
    path: str
    headers: tuple[str, ...]
    query: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Case:
    """One request as sent."""

    query: bytes
    headers: dict[str, bytes]
    body: bytes
    chunked: bool = False  # Transfer-Encoding: chunked, no Content-Length

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        return (
            f"Case(query={self.query!r}, headers={self.headers!r}, body={body!r} "
            f"({len(self.body)} bytes), chunked={self.chunked})"
        )


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    env = {**secret_env(), "OURA_VERIFICATION_TOKEN": TOKEN, "MAX_BODY_BYTES": str(BODY_LIMIT)}
    proc = BridgeProcess(env=env, workdir=tmp_path_factory.mktemp("bridge-fuzz"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(bridge: BridgeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bridge.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def operations(client: httpx.Client) -> list[Operation]:
    spec = client.get("/openapi.json").json()
    found = [
        Operation(
            method=method.upper(),
            path=path,
            headers=tuple(p["name"] for p in op.get("parameters", []) if p["in"] == "header"),
            query=tuple(p["name"] for p in op.get("parameters", []) if p["in"] == "query"),
        )
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]
    # The fuzzer must see every webhook, or it proves nothing about them.
    assert {str(o) for o in found} >= {f"POST /webhooks/{s}" for s in SOURCES}
    return found


# --- strategies -------------------------------------------------------------------

# Header values h11 will put on the wire: no NUL, no CR/LF, no outer whitespace.
# Bytes above 0x7f included (the bridge reads them as latin-1).
VISIBLE_HEADER = st.from_regex(
    re.compile(rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?"), fullmatch=True
)
# With control characters too: uvicorn answers these with 400 before the app.
CONTROL_HEADER = st.from_regex(re.compile(rb"[^\x00\s]+"), fullmatch=True)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _now_stamps() -> st.SearchStrategy[str]:
    # Near now (seconds or milliseconds, inside and just outside the 300 s
    # tolerance), so requests pass the timestamp check and reach the HMAC compare.
    seconds = st.integers(-400, 400).map(lambda d: str(int(time.time()) + d))
    millis = st.integers(-400_000, 400_000).map(lambda d: str(int(time.time() * 1000) + d))
    return seconds | millis


PLAUSIBLE_HEADER = st.one_of(
    _now_stamps(),
    st.integers(-(10**40), 10**40).map(str),
    st.text("0123456789", min_size=1, max_size=40),
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex()),
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex().upper()),
    st.binary(max_size=48).map(_b64),
    st.lists(st.binary(max_size=40).map(lambda b: "v1," + _b64(b)), max_size=4).map(" ".join),
    st.tuples(_now_stamps(), st.binary(max_size=40)).map(lambda t: f"t={t[0]},v1={t[1].hex()}"),
    st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
    st.sampled_from(["v1,", "v1a,xyz", "t=,v1=", "t=1,t=2,v1=00", "==", "whsec_"]),
).map(str.encode)

HEADER_VALUE = VISIBLE_HEADER | PLAUSIBLE_HEADER

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # lone surrogates included: json.dumps escapes them as \udxxx
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)


def _nested(depth: int, kind: str, closed: bool) -> bytes:
    if kind == "[":
        body = b"[" * depth + (b"]" * depth if closed else b"")
    else:
        body = b'{"a":' * depth + (b"1" + b"}" * depth if closed else b"")
    return body[:BODY_LIMIT]


NESTED = st.builds(
    _nested,
    st.integers(1, BODY_LIMIT // 6),
    st.sampled_from(["[", "{"]),
    st.booleans(),
)
HUGE_NUMBER = st.integers(4000, 20_000).map(lambda n: b'{"user_id": ' + b"9" * n + b"}")
UNICODE = st.one_of(
    st.text().map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.text()
    .map(lambda s: json.dumps({"user_id": s}, ensure_ascii=False))
    .map(lambda s: s.encode("utf-8", "surrogatepass")),
)
TRUNCATED = st.tuples(st.sampled_from(SOURCES), st.integers(0, 200)).map(
    lambda t: event_body(t[0])[: t[1]]
)


def _event_shaped(source: str) -> st.SearchStrategy[bytes]:
    """A provider's field names with values of the wrong type (never all strings)."""
    wrong = st.one_of(
        st.none(), st.booleans(), st.floats(), st.lists(JSON_LEAVES, max_size=3), st.just("")
    )
    fields = {f: wrong for f in REQUIRED[source] if f != "user_id"}
    fields["user_id"] = wrong if source != "whoop" else JSON_LEAVES
    return st.fixed_dictionaries(fields).map(lambda d: json.dumps(d).encode())


def _missing_a_field(source: str) -> st.SearchStrategy[bytes]:
    """String-valued provider fields with at least one required field left out."""
    names = [*REQUIRED[source], "event_time", "timestamp", "samples", "x"]

    def without(missing: str) -> st.SearchStrategy[bytes]:
        keys = st.sampled_from([n for n in names if n != missing])
        fields = st.dictionaries(keys, st.text(min_size=1, max_size=20))
        return fields.map(lambda d: json.dumps(d).encode())

    return st.sampled_from(REQUIRED[source]).flatmap(without)


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


# Bodies a provider could never have signed as an event: not JSON, not an
# object, not representable, or missing what the event identity needs.
MALFORMED = st.one_of(
    st.binary(max_size=2048).filter(lambda b: not _is_json_object(b)),
    JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
    NESTED,
    HUGE_NUMBER,
    st.sampled_from(
        [
            b"",
            b"{",
            b"null",
            b'{"user_id": NaN}',
            b'{"user_id": Infinity}',
            b'{"user_id": "\\ud800"}',
            b'{"a": 1, "a": 2',
            b"\xef\xbb\xbf{}",
            b"\xff\xfe{\x00}\x00",
        ]
    ),
    TRUNCATED.filter(lambda b: not _is_json_object(b)),
)

BODY = st.one_of(
    st.binary(max_size=4096),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    NESTED,
    HUGE_NUMBER,
    UNICODE,
    TRUNCATED,
    st.integers(BODY_LIMIT + 1, BODY_LIMIT + 4096).map(lambda n: b"x" * n),  # 413
)

QUERY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=50)
RAW_QUERY = st.text(
    st.sampled_from("abcxyz019%=&;+-_.~!$'()*,/:?@[]\"<>\\^`{|} "), max_size=80
).map(str.encode)


def query_for(op: Operation) -> st.SearchStrategy[bytes]:
    names = st.sampled_from([*op.query, "verification_token", "challenge", "x", ""])
    values = st.one_of(
        QUERY_TEXT,
        st.just(TOKEN),
        st.integers(0, 3000).map(lambda n: "c" * n),  # over and under max_length
    )
    pairs = st.lists(st.tuples(names, values), max_size=4)
    return st.one_of(pairs.map(lambda p: urlencode(p).encode()), RAW_QUERY)


def header_value(name: str) -> st.SearchStrategy[bytes]:
    if "timestamp" in name:
        # Near now half the time, so requests get past the timestamp check.
        return _now_stamps().map(str.encode) | HEADER_VALUE
    return HEADER_VALUE


def case_for(op: Operation) -> st.SearchStrategy[Case]:
    names = st.sampled_from(sorted({*op.headers, *SIGNATURE_HEADERS}))
    any_headers = st.dictionaries(names, HEADER_VALUE)
    # Every header the operation declares, plus some others.
    declared = st.tuples(
        st.fixed_dictionaries({h: header_value(h) for h in op.headers}), any_headers
    ).map(lambda t: {**t[1], **t[0]})
    junk = st.dictionaries(names, CONTROL_HEADER, min_size=1)
    # About one request in ten tries uvicorn's parser, the rest reach the app
    # (7, not 0: hypothesis draws 0 far more often than 1/16 of the time).
    headers = st.integers(0, 15).flatmap(lambda n: junk if n == 7 else any_headers | declared)
    return st.builds(Case, query=query_for(op), headers=headers, body=BODY, chunked=st.booleans())


# --- sending and checking ---------------------------------------------------------


def send(client: httpx.Client, method: str, path: str, case: Case) -> httpx.Response:
    url = httpx.URL(path, query=case.query)
    if case.chunked:
        # An iterator makes httpx stream the body: the bridge's limit check
        # then has no Content-Length to go by.
        pieces = [case.body[i : i + 4096] for i in range(0, len(case.body), 4096)]
        return client.request(method, url, headers=case.headers, content=iter(pieces))
    return client.request(method, url, headers=case.headers, content=case.body)


def log_tail(bridge: BridgeProcess, lines: int = 40) -> str:
    return "\n".join(bridge.log_text().splitlines()[-lines:])


def assert_not_5xx(bridge: BridgeProcess, response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, (
        f"{what} -> {response.status_code} {response.text[:300]}\n"
        f"--- bridge log tail ---\n{log_tail(bridge)}"
    )


def errors_logged(bridge: BridgeProcess) -> list[str]:
    """Log lines at error level or above, or of a request answered with a 5xx."""
    found = []
    for line in bridge.log_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            found.append(line)  # not the JSON formatter: something bypassed logging
            continue
        status = record.get("http_status")
        if record.get("level") in {"error", "critical"} or (
            isinstance(status, int) and status >= 500
        ):
            found.append(line)
    return found


# --- tests ------------------------------------------------------------------------
# Statuses reached are recorded as hypothesis events: see them with
# `pytest tests/bridge_service/routes/test_fuzz.py --hypothesis-show-statistics`.

HEALTHKIT_IDS = st.one_of(
    st.from_regex(re.compile(r"[!-~]+(?:[ \t]+[!-~]+)*"), fullmatch=True),
    st.integers(190, 4000).map(lambda n: "i" * n),  # around and over the 200 limit
)


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_every_operation_answers_fuzz_without_5xx(
    bridge: BridgeProcess, client: httpx.Client, operations: list[Operation], data: st.DataObject
) -> None:
    # One request per operation in every example, so each is fuzzed as often.
    for op in operations:
        case = data.draw(case_for(op), label=str(op))
        response = send(client, op.method, op.path, case)
        assert_not_5xx(bridge, response, f"{op} {case!r}")
        check = response.json().get("check", "") if response.status_code == 403 else ""
        event(f"{op} -> {response.status_code} {check}".rstrip())


@pytest.mark.parametrize("source", SOURCES)
@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_signed_malformed_body_is_400_or_422(
    bridge: BridgeProcess, client: httpx.Client, source: str, data: st.DataObject
) -> None:
    # Signed over the fuzzed bytes themselves, so verification passes and the
    # parser is what answers.
    body = data.draw(MALFORMED | _event_shaped(source) | _missing_a_field(source), label="body")
    response = client.post(f"/webhooks/{source}", content=body, headers=sign(source, body))
    assert_not_5xx(bridge, response, f"signed {source} {body[:300]!r}")
    assert response.status_code in {400, 422}, (response.status_code, response.text)
    assert response.json()["detail"]
    event(f"{response.status_code} {response.json()['detail'][:40]}")


@settings(FUZZ, max_examples=80)
@given(msg_id=HEALTHKIT_IDS)
def test_signed_healthkit_with_fuzzed_webhook_id(
    bridge: BridgeProcess, client: httpx.Client, msg_id: str
) -> None:
    # The id is signed material and the event id: odd ones pass the HMAC and
    # meet the id checks (printable ASCII, at most 200 characters).
    body = event_body("healthkit")
    response = client.post(
        "/webhooks/healthkit", content=body, headers=sign("healthkit", body, msg_id=msg_id)
    )
    assert_not_5xx(bridge, response, f"healthkit webhook-id {msg_id!r}")
    assert response.status_code in {200, 202, 422}, (response.status_code, response.text)
    event(str(response.status_code))


def test_bridge_survives_the_fuzzing(bridge: BridgeProcess, client: httpx.Client) -> None:
    # Last in the module: the same process has answered everything above.
    assert bridge.running(), f"the bridge exited\n{log_tail(bridge)}"
    response = client.get("/health")
    assert response.status_code == 200
    health: dict[str, Any] = response.json()
    assert health["status"] == "healthy"
    assert errors_logged(bridge) == []
