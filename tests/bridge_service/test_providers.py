"""Normalisation after verification: event identity (REFERENCE §3) and refusals."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bridge_service.providers import (
    InvalidPayload,
    NotJson,
    _json_object,
    normalise,
    normalise_terra,
)

RECEIVED = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)

OURA: dict[str, Any] = {
    "event_type": "update",
    "data_type": "sleep",
    "object_id": "8f9a5221-639e-4a85-81cb-4065ef23f979",
    "event_time": "2025-06-15T11:58:00+00:00",
    "user_id": "oura-user-1",
}
WHOOP: dict[str, Any] = {
    "user_id": 10129,
    "id": "ecfc6a15-4661-442f-a9a4-f160dd7afae8",
    "type": "workout.updated",
    "trace_id": "e369c784-5100-49e8-8098-75d35c47b31b",
}
HEALTHKIT: dict[str, Any] = {
    "user_id": "hk-user-7",
    "type": "samples",
    "timestamp": "2025-06-15T11:59:30Z",
    "samples": [
        {
            "type": "heart_rate",
            "value": 61,
            "unit": "count/min",
            "start": "2025-06-15T11:59:00Z",
            "end": "2025-06-15T11:59:00Z",
        }
    ],
}
HK_HEADERS = {"webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"}
TERRA: dict[str, Any] = {
    "type": "activity",
    "user": {"user_id": "terra-user-3", "provider": "OURA"},
    "data": [{"metadata": {"summary_id": "summary-42"}}],
    "id": "terra-record-1",
}


def body(payload: dict[str, Any], **changes: Any) -> bytes:
    merged = {**payload, **changes}
    return json.dumps({k: v for k, v in merged.items() if v is not ...}).encode()


def expected_id(prefix: str, *fields: str) -> str:
    return prefix + hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:32]


def refusal(call: Any) -> str:
    with pytest.raises(InvalidPayload) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert info.value.status == 422
    return message


# -- Oura ---------------------------------------------------------------------------


def test_oura_envelope() -> None:
    envelope = normalise("oura", {}, body(OURA), RECEIVED)
    assert envelope.event_id == expected_id(
        "oura-", "update", "sleep", OURA["object_id"], OURA["event_time"]
    )
    assert envelope.source == "oura"
    assert envelope.user_id == "oura-user-1"
    assert envelope.event_type == "sleep.update"
    assert envelope.occurred_at == datetime(2025, 6, 15, 11, 58, tzinfo=UTC)
    assert envelope.received_at == RECEIVED
    assert envelope.trace_id is None
    assert envelope.payload == OURA


def test_oura_same_event_same_id_whatever_else_differs() -> None:
    first = normalise("oura", {}, body(OURA), RECEIVED)
    # A retry hours later, with a field outside the identity changed.
    again = normalise("oura", {}, body(OURA, user_id="other"), RECEIVED + timedelta(hours=5))
    assert first.event_id == again.event_id


@pytest.mark.parametrize(
    "change",
    [
        {"event_time": "2025-06-15T11:59:00+00:00"},
        {"event_type": "create"},
        {"data_type": "workout"},
        {"object_id": "another-object"},
    ],
)
def test_oura_different_identity_field_different_id(change: dict[str, str]) -> None:
    first = normalise("oura", {}, body(OURA), RECEIVED)
    other = normalise("oura", {}, body(OURA, **change), RECEIVED)
    assert first.event_id != other.event_id


def test_oura_without_event_time() -> None:
    envelope = normalise("oura", {}, body(OURA, event_time=...), RECEIVED)
    assert envelope.occurred_at is None
    assert envelope.event_id == expected_id("oura-", "update", "sleep", OURA["object_id"], "")
    assert normalise("oura", {}, body(OURA, event_time=None), RECEIVED).event_id == (
        envelope.event_id
    )


def test_oura_event_time_without_offset_is_utc() -> None:
    envelope = normalise("oura", {}, body(OURA, event_time="2025-06-15T11:58:00"), RECEIVED)
    assert envelope.occurred_at == datetime(2025, 6, 15, 11, 58, tzinfo=UTC)
    with_offset = normalise(
        "oura", {}, body(OURA, event_time="2025-06-15T13:58:00+02:00"), RECEIVED
    )
    assert with_offset.occurred_at == datetime(
        2025, 6, 15, 13, 58, tzinfo=timezone(timedelta(hours=2))
    )


@pytest.mark.parametrize("field", ["event_type", "data_type", "object_id", "user_id"])
def test_oura_missing_field(field: str) -> None:
    assert field in refusal(lambda: normalise("oura", {}, body(OURA, **{field: ...}), RECEIVED))
    assert field in refusal(lambda: normalise("oura", {}, body(OURA, **{field: ""}), RECEIVED))
    assert field in refusal(lambda: normalise("oura", {}, body(OURA, **{field: 7}), RECEIVED))


def test_oura_bad_event_time() -> None:
    message = refusal(lambda: normalise("oura", {}, body(OURA, event_time="yesterday"), RECEIVED))
    assert "event_time" in message


# -- WHOOP --------------------------------------------------------------------------


def test_whoop_envelope() -> None:
    envelope = normalise("whoop", {}, body(WHOOP), RECEIVED)
    assert envelope.event_id == expected_id(
        "whoop-", "workout.updated", WHOOP["id"], WHOOP["trace_id"]
    )
    assert envelope.user_id == "10129"  # always a string
    assert envelope.event_type == "workout.updated"
    assert envelope.trace_id == WHOOP["trace_id"]
    assert envelope.occurred_at is None
    assert envelope.payload == WHOOP


def test_whoop_same_object_updated_twice_is_two_events() -> None:
    first = normalise("whoop", {}, body(WHOOP), RECEIVED)
    second = normalise("whoop", {}, body(WHOOP, trace_id="another-trace"), RECEIVED)
    assert first.event_id != second.event_id


def test_whoop_retry_of_one_event_is_the_same_event() -> None:
    first = normalise("whoop", {}, body(WHOOP), RECEIVED)
    retry = normalise("whoop", {}, body(WHOOP), RECEIVED + timedelta(days=2))
    assert first.event_id == retry.event_id


def test_whoop_type_is_part_of_the_identity() -> None:
    updated = normalise("whoop", {}, body(WHOOP), RECEIVED)
    deleted = normalise("whoop", {}, body(WHOOP, type="workout.deleted"), RECEIVED)
    assert updated.event_id != deleted.event_id


def test_whoop_string_user_id() -> None:
    assert normalise("whoop", {}, body(WHOOP, user_id="abc"), RECEIVED).user_id == "abc"


@pytest.mark.parametrize("field", ["user_id", "id", "type", "trace_id"])
def test_whoop_missing_field(field: str) -> None:
    assert field in refusal(lambda: normalise("whoop", {}, body(WHOOP, **{field: ...}), RECEIVED))


@pytest.mark.parametrize("user_id", [True, 1.5, [1], {"id": 1}, ""])
def test_whoop_user_id_must_be_int_or_str(user_id: Any) -> None:
    message = refusal(lambda: normalise("whoop", {}, body(WHOOP, user_id=user_id), RECEIVED))
    assert "user_id" in message


@pytest.mark.parametrize(
    "event_type",
    [
        "workout.created",
        "cycle.updated",
        "workout",
        "Workout.updated",
        "sleep.updated.x",
        " sleep.updated",
    ],
)
def test_whoop_unknown_type(event_type: str) -> None:
    message = refusal(lambda: normalise("whoop", {}, body(WHOOP, type=event_type), RECEIVED))
    assert "type" in message


@pytest.mark.parametrize(
    "event_type",
    [
        f"{kind}.{action}"
        for kind in ("workout", "sleep", "recovery")
        for action in ("updated", "deleted")
    ],
)
def test_whoop_known_types(event_type: str) -> None:
    assert normalise("whoop", {}, body(WHOOP, type=event_type), RECEIVED).event_type == event_type


# -- HealthKit ----------------------------------------------------------------------


def test_healthkit_envelope() -> None:
    envelope = normalise("healthkit", HK_HEADERS, body(HEALTHKIT), RECEIVED)
    assert envelope.event_id == HK_HEADERS["webhook-id"]
    assert envelope.user_id == "hk-user-7"
    assert envelope.event_type == "samples"
    assert envelope.occurred_at == datetime(2025, 6, 15, 11, 59, 30, tzinfo=UTC)
    assert envelope.payload == HEALTHKIT


def test_healthkit_id_header_in_any_case_and_samples_optional() -> None:
    headers = {"Webhook-ID": "msg_1"}
    envelope = normalise(
        "healthkit", headers, body(HEALTHKIT, samples=..., timestamp=...), RECEIVED
    )
    assert envelope.event_id == "msg_1"
    assert envelope.occurred_at is None


def test_healthkit_needs_the_id_header() -> None:
    assert "webhook-id" in refusal(lambda: normalise("healthkit", {}, body(HEALTHKIT), RECEIVED))


@pytest.mark.parametrize("bad_id", ["x" * 201, "msg\n1", "msg\x001", "msg_é"])
def test_healthkit_id_must_be_short_and_printable(bad_id: str) -> None:
    headers = {"webhook-id": bad_id}
    message = refusal(lambda: normalise("healthkit", headers, body(HEALTHKIT), RECEIVED))
    assert "webhook-id" in message


def test_healthkit_id_of_200_characters_is_fine() -> None:
    headers = {"webhook-id": "x" * 200}
    assert normalise("healthkit", headers, body(HEALTHKIT), RECEIVED).event_id == "x" * 200


@pytest.mark.parametrize("field", ["user_id", "type"])
def test_healthkit_missing_field(field: str) -> None:
    message = refusal(
        lambda: normalise("healthkit", HK_HEADERS, body(HEALTHKIT, **{field: ...}), RECEIVED)
    )
    assert field in message


def test_healthkit_samples_must_be_a_list() -> None:
    message = refusal(
        lambda: normalise("healthkit", HK_HEADERS, body(HEALTHKIT, samples={"a": 1}), RECEIVED)
    )
    assert "samples" in message


def test_healthkit_bad_timestamp() -> None:
    message = refusal(
        lambda: normalise("healthkit", HK_HEADERS, body(HEALTHKIT, timestamp="soon"), RECEIVED)
    )
    assert "timestamp" in message


# -- Terra --------------------------------------------------------------------------


def test_terra_envelope() -> None:
    envelope = normalise_terra(body(TERRA), RECEIVED)
    assert envelope.event_id == "terra-terra-record-1"
    assert envelope.source == "terra"
    assert envelope.user_id == "terra-user-3"
    assert envelope.event_type == "activity"
    assert envelope.payload == TERRA


@pytest.mark.parametrize(
    ("changes", "event_id"),
    [
        ({}, "terra-terra-record-1"),
        ({"id": ..., "event_id": "evt-9"}, "terra-evt-9"),
        ({"id": "", "event_id": "evt-9"}, "terra-evt-9"),
        ({"id": ...}, "terra-summary-42"),
        ({"id": 17}, "terra-summary-42"),  # not a string: not an id
    ],
)
def test_terra_id_extraction(changes: dict[str, Any], event_id: str) -> None:
    assert normalise_terra(body(TERRA, **changes), RECEIVED).event_id == event_id


@pytest.mark.parametrize(
    "data", [..., [], [{}], [{"metadata": {}}], [{"metadata": {"summary_id": ""}}], "x", [1]]
)
def test_terra_without_any_id(data: Any) -> None:
    message = refusal(lambda: normalise_terra(body(TERRA, id=..., data=data), RECEIVED))
    assert "id" in message


def test_terra_same_record_same_id() -> None:
    first = normalise_terra(body(TERRA), RECEIVED)
    again = normalise_terra(body(TERRA), RECEIVED + timedelta(hours=1))
    assert first.event_id == again.event_id


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"user": ...}, "user"),
        ({"user": "terra-user-3"}, "user"),
        ({"user": {"provider": "OURA"}}, "user_id"),
        ({"user": {"user_id": 5}}, "user_id"),
        ({"type": ...}, "type"),
    ],
)
def test_terra_missing_field(changes: dict[str, Any], field: str) -> None:
    assert field in refusal(lambda: normalise_terra(body(TERRA, **changes), RECEIVED))


def test_terra_over_http_uses_the_same_rules() -> None:
    assert normalise("terra", {}, body(TERRA), RECEIVED) == normalise_terra(body(TERRA), RECEIVED)


# -- Not JSON, or not an object -----------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"a": 1',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' + b"9" * 5000 + b"}",
    ],
)
@pytest.mark.parametrize("source", ["oura", "whoop", "healthkit", "terra"])
def test_not_json(source: str, raw: bytes) -> None:
    with pytest.raises(NotJson) as info:
        normalise(source, HK_HEADERS, raw, RECEIVED)
    message = str(info.value)
    assert message.startswith("body is not valid JSON")
    assert info.value.status == 400
    assert len(message) < 300
    assert "\n" not in message


# Valid-looking JSON whose values no store can hold: 422, never a database error.
UNSTORABLE = [
    (b'{"a": NaN}', "NaN"),
    (b'{"a": -Infinity}', "-Infinity"),
    (b'{"a": Infinity}', "Infinity"),
    (b'{"a": 1e999}', "1e999"),
    (b'{"a": -1E+999}', "-1E+999"),
    (b'{"a": [1, {"b": 2.5e308}]}', "2.5e308"),
    (b'{"a": ' + b"9" * 320 + b".0}", "999"),
    (b'{"a": "\\ud800"}', "lone surrogate"),
    (b'{"a": "x\\u0000y"}', "NUL"),
]


@pytest.mark.parametrize(("raw", "named"), UNSTORABLE)
@pytest.mark.parametrize("source", ["oura", "whoop", "healthkit", "terra"])
def test_values_no_store_can_hold_are_422(source: str, raw: bytes, named: str) -> None:
    message = refusal(lambda: normalise(source, HK_HEADERS, raw, RECEIVED))
    assert "cannot be stored" in message
    assert named in message
    assert len(message) < 300


@pytest.mark.parametrize("raw", [b'{"a": 1e308, "b": 1e-999, "c": 123e100}', b'{"a": 0.5}'])
def test_large_but_finite_numbers_are_kept(raw: bytes) -> None:
    assert _json_object(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object(raw: bytes) -> None:
    assert "not an object" in refusal(lambda: normalise("oura", {}, raw, RECEIVED))
    assert "not an object" in refusal(lambda: normalise_terra(raw, RECEIVED))


def test_unknown_source_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown source"):
        normalise("fitbit", {}, body(OURA), RECEIVED)


def test_nul_character_is_refused_before_the_database() -> None:
    body = json.dumps(
        {"event_type": "create", "data_type": "sleep", "object_id": "a\u0000b", "user_id": "u"}
    ).encode()
    assert b"\\u0000" in body
    with pytest.raises(InvalidPayload, match="NUL"):
        normalise("oura", {}, body, datetime.now(UTC))
