"""Provider signature verification against signatures computed here, from the
published schemes (REFERENCE §3), with hmac/hashlib/base64 directly: a shared
mistake between the signer and the verifier cannot make these pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge_service.signatures import healthkit, oura, terra, whoop
from bridge_service.signatures.base import SignatureError

NOW = 1_750_000_000.0
TOLERANCE = 300.0
BODY = b'{"event_type":"update","data_type":"sleep","object_id":"abc","user_id":"u1"}'
SECRET = b"first-client-secret"
NEXT_SECRET = b"second-client-secret"
CANARY = b"CANARY-6f1d0b9e-must-never-appear"
HK_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# -- Independent signers, one per published scheme --------------------------------


def sign_oura(body: bytes, secret: bytes, ts: float) -> dict[str, str]:
    timestamp = str(int(ts))
    # Oura sends upper-case hex.
    signature = _mac(secret, timestamp.encode() + body).hex().upper()
    return {"x-oura-signature": signature, "x-oura-timestamp": timestamp}


def sign_whoop(body: bytes, secret: bytes, ts: float) -> dict[str, str]:
    timestamp = str(round(ts * 1000))
    signature = _b64(_mac(secret, timestamp.encode() + body))
    return {"X-WHOOP-Signature": signature, "X-WHOOP-Signature-Timestamp": timestamp}


def hk_secret(key: bytes) -> bytes:
    """The configured form of a Standard Webhooks key: whsec_ + base64."""
    return b"whsec_" + base64.b64encode(key)


def sign_healthkit(body: bytes, key: bytes, ts: float, msg_id: str = HK_ID) -> dict[str, str]:
    timestamp = str(int(ts))
    signature = _b64(_mac(key, f"{msg_id}.{timestamp}.".encode() + body))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature}",
    }


def sign_terra(body: bytes, secret: bytes, ts: float) -> dict[str, str]:
    timestamp = str(int(ts))
    signature = _mac(secret, timestamp.encode() + b"." + body).hex()
    return {"terra-signature": f"t={timestamp},v1={signature}"}


@dataclass(frozen=True)
class Scheme:
    name: str
    module: ModuleType
    sign: Callable[[bytes, bytes, float], dict[str, str]]
    configured: Callable[[bytes], bytes]  # key the sender signs with -> secret as configured
    missing: Mapping[str, str]  # header whose absence -> expected check

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes = BODY,
        secrets: Sequence[bytes] | None = None,
        now: float = NOW,
    ) -> None:
        if secrets is None:
            secrets = [self.configured(SECRET)]
        self.module.verify(headers, body, secrets, now, TOLERANCE)


SCHEMES = [
    Scheme(
        "oura",
        oura,
        sign_oura,
        lambda k: k,
        {"x-oura-signature": "missing_signature", "x-oura-timestamp": "missing_timestamp"},
    ),
    Scheme(
        "whoop",
        whoop,
        sign_whoop,
        lambda k: k,
        {
            "X-WHOOP-Signature": "missing_signature",
            "X-WHOOP-Signature-Timestamp": "missing_timestamp",
        },
    ),
    Scheme(
        "healthkit",
        healthkit,
        sign_healthkit,
        hk_secret,
        {
            "webhook-signature": "missing_signature",
            "webhook-id": "missing_signature",
            "webhook-timestamp": "missing_timestamp",
        },
    ),
    Scheme("terra", terra, sign_terra, lambda k: k, {"terra-signature": "missing_signature"}),
]
by_scheme = pytest.mark.parametrize("scheme", SCHEMES, ids=[s.name for s in SCHEMES])


def check_of(call: Callable[[], None]) -> SignatureError:
    with pytest.raises(SignatureError) as info:
        call()
    return info.value


# -- Every scheme -------------------------------------------------------------------


@by_scheme
def test_valid_signature_passes(scheme: Scheme) -> None:
    scheme.verify(scheme.sign(BODY, SECRET, NOW))


@by_scheme
def test_empty_body_is_signed_too(scheme: Scheme) -> None:
    scheme.verify(scheme.sign(b"", SECRET, NOW), body=b"")


@by_scheme
def test_rotation_accepts_the_second_of_two_secrets(scheme: Scheme) -> None:
    headers = scheme.sign(BODY, NEXT_SECRET, NOW)
    secrets = [scheme.configured(SECRET), scheme.configured(NEXT_SECRET)]
    scheme.verify(headers, secrets=secrets)


@by_scheme
def test_wrong_secret_fails(scheme: Scheme) -> None:
    headers = scheme.sign(BODY, b"someone-else", NOW)
    assert check_of(lambda: scheme.verify(headers)).check == "bad_signature"


@by_scheme
def test_tampered_body_fails(scheme: Scheme) -> None:
    headers = scheme.sign(BODY, SECRET, NOW)
    tampered = BODY.replace(b"u1", b"u2")
    error = check_of(lambda: scheme.verify(headers, body=tampered))
    assert error.check == "bad_signature"
    assert "does not match the body" in error.message


@by_scheme
@pytest.mark.parametrize(
    ("offset", "check"),
    [
        (-TOLERANCE - 1, "stale_timestamp"),
        (TOLERANCE + 1, "future_timestamp"),
        (-TOLERANCE + 1, None),
        (TOLERANCE - 1, None),
        (-TOLERANCE, None),  # the tolerance itself is inside
        (TOLERANCE, None),
    ],
)
def test_timestamp_tolerance_both_ways(scheme: Scheme, offset: float, check: str | None) -> None:
    headers = scheme.sign(BODY, SECRET, NOW + offset)
    if check is None:
        scheme.verify(headers)
    else:
        error = check_of(lambda: scheme.verify(headers))
        assert error.check == check
        assert f"tolerance {TOLERANCE:.0f} s" in error.message


@by_scheme
def test_timestamp_is_checked_before_the_signature(scheme: Scheme) -> None:
    # A replay of a genuine request days later: stale, not "bad signature".
    headers = scheme.sign(BODY, SECRET, NOW - 86_400)
    assert check_of(lambda: scheme.verify(headers)).check == "stale_timestamp"


@by_scheme
@pytest.mark.parametrize("case", [str.upper, str.lower, str.title, str.swapcase])
def test_header_names_in_any_letter_case(scheme: Scheme, case: Callable[[str], str]) -> None:
    headers = {case(name): value for name, value in scheme.sign(BODY, SECRET, NOW).items()}
    scheme.verify(headers)


@by_scheme
def test_missing_headers(scheme: Scheme) -> None:
    signed = scheme.sign(BODY, SECRET, NOW)
    for name, check in scheme.missing.items():
        for headers in (
            {k: v for k, v in signed.items() if k != name},
            {**signed, name: ""},
        ):
            error = check_of(partial(scheme.verify, headers))
            assert error.check == check, name
            assert name in error.message


@by_scheme
def test_no_secret_configured_rejects_even_a_valid_request(scheme: Scheme) -> None:
    headers = scheme.sign(BODY, SECRET, NOW)
    assert check_of(lambda: scheme.verify(headers, secrets=[])).check == "no_secret"
    assert check_of(lambda: scheme.verify({}, secrets=[])).check == "no_secret"


@by_scheme
def test_empty_secrets_never_verify(scheme: Scheme) -> None:
    # Anyone can sign with an empty key; a stray comma in a secret list makes one.
    headers = scheme.sign(BODY, b"", NOW)
    only_empty = [b"", scheme.configured(b"")]
    assert check_of(lambda: scheme.verify(headers, secrets=only_empty)).check == "no_secret"
    with_real = [b"", scheme.configured(b""), scheme.configured(SECRET)]
    assert check_of(lambda: scheme.verify(headers, secrets=with_real)).check == "bad_signature"


@by_scheme
@pytest.mark.parametrize("timestamp", ["12a", "-1750000000", "1750000000.5", "1e9", "١٢٣", "17 50"])
def test_unparseable_timestamp(scheme: Scheme, timestamp: str) -> None:
    headers = scheme.sign(BODY, SECRET, NOW)
    if scheme.module is terra:
        signature = headers["terra-signature"].split(",")[1]
        headers["terra-signature"] = f"t={timestamp},{signature}"
    else:
        name = next(n for n, c in scheme.missing.items() if c == "missing_timestamp")
        headers[name] = timestamp
    error = check_of(lambda: scheme.verify(headers))
    assert error.check == "bad_timestamp"


@by_scheme
def test_messages_never_contain_the_secret_or_the_expected_signature(scheme: Scheme) -> None:
    secrets = [scheme.configured(CANARY)]
    genuine = scheme.sign(BODY, CANARY, NOW)
    expected_values = [v for v in genuine.values()]
    wrong = scheme.sign(BODY, b"attacker", NOW)
    failures = [
        lambda: scheme.verify(wrong, secrets=secrets),
        lambda: scheme.verify(genuine, body=b"tampered", secrets=secrets),
        lambda: scheme.verify(scheme.sign(BODY, CANARY, NOW - 1000), secrets=secrets),
        lambda: scheme.verify({}, secrets=secrets),
    ]
    for failure in failures:
        error = check_of(failure)
        text = str(error) + error.message + repr(error)
        assert CANARY.decode() not in text
        assert _b64(CANARY) not in text
        for value in expected_values:
            assert value not in text


# -- Oura ---------------------------------------------------------------------------


def test_oura_accepts_lower_and_upper_case_hex() -> None:
    headers = sign_oura(BODY, SECRET, NOW)
    upper = headers["x-oura-signature"]
    assert upper == upper.upper()
    oura.verify(headers, BODY, [SECRET], NOW, TOLERANCE)
    oura.verify({**headers, "x-oura-signature": upper.lower()}, BODY, [SECRET], NOW, TOLERANCE)


def test_oura_13_digit_timestamp_is_milliseconds() -> None:
    timestamp = str(int(NOW * 1000) + 123)
    assert len(timestamp) == 13
    # Signed as received: the millisecond string, not a converted one.
    signature = _mac(SECRET, timestamp.encode() + BODY).hex().upper()
    headers = {"x-oura-signature": signature, "x-oura-timestamp": timestamp}
    oura.verify(headers, BODY, [SECRET], NOW, TOLERANCE)


def test_oura_13_digit_stale_timestamp() -> None:
    timestamp = str(int((NOW - TOLERANCE) * 1000) - 1)
    signature = _mac(SECRET, timestamp.encode() + BODY).hex()
    headers = {"x-oura-signature": signature, "x-oura-timestamp": timestamp}
    error = check_of(lambda: oura.verify(headers, BODY, [SECRET], NOW, TOLERANCE))
    assert error.check == "stale_timestamp"


def test_oura_base64_signature_is_a_bad_signature() -> None:
    headers = sign_oura(BODY, SECRET, NOW)
    raw = bytes.fromhex(headers["x-oura-signature"])
    headers["x-oura-signature"] = _b64(raw)
    error = check_of(lambda: oura.verify(headers, BODY, [SECRET], NOW, TOLERANCE))
    assert error.check == "bad_signature"


def test_oura_signs_the_timestamp_too() -> None:
    headers = sign_oura(BODY, SECRET, NOW)
    headers["x-oura-timestamp"] = str(int(NOW) + 1)
    error = check_of(lambda: oura.verify(headers, BODY, [SECRET], NOW, TOLERANCE))
    assert error.check == "bad_signature"


# -- WHOOP --------------------------------------------------------------------------


def test_whoop_hex_signature_is_a_bad_signature() -> None:
    headers = sign_whoop(BODY, SECRET, NOW)
    raw = base64.b64decode(headers["X-WHOOP-Signature"])
    for wrong in (raw.hex(), raw.hex().upper()):
        headers["X-WHOOP-Signature"] = wrong  # valid base64 alphabet, wrong length
        error = check_of(lambda: whoop.verify(headers, BODY, [SECRET], NOW, TOLERANCE))
        assert error.check == "bad_signature"


def test_whoop_timestamp_is_milliseconds_to_the_millisecond() -> None:
    inside = str(int((NOW - TOLERANCE) * 1000))
    outside = str(int((NOW - TOLERANCE) * 1000) - 1)
    for timestamp, ok in ((inside, True), (outside, False)):
        signature = _b64(_mac(SECRET, timestamp.encode() + BODY))
        headers = {"X-WHOOP-Signature": signature, "X-WHOOP-Signature-Timestamp": timestamp}
        if ok:
            whoop.verify(headers, BODY, [SECRET], NOW, TOLERANCE)
        else:
            error = check_of(partial(whoop.verify, headers, BODY, [SECRET], NOW, TOLERANCE))
            assert error.check == "stale_timestamp"


def test_whoop_seconds_timestamp_is_stale() -> None:
    # A sender that got the unit wrong is seen as 55 years in the past.
    timestamp = str(int(NOW))
    signature = _b64(_mac(SECRET, timestamp.encode() + BODY))
    headers = {"X-WHOOP-Signature": signature, "X-WHOOP-Signature-Timestamp": timestamp}
    error = check_of(lambda: whoop.verify(headers, BODY, [SECRET], NOW, TOLERANCE))
    assert error.check == "stale_timestamp"


# -- HealthKit (Standard Webhooks) --------------------------------------------------


def test_healthkit_published_standard_webhooks_vector() -> None:
    # The Standard Webhooks specification's own test vector.
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    healthkit.verify(headers, b'{"test": 2432232314}', [secret], 1614265330, TOLERANCE)


def test_healthkit_one_valid_among_several_signatures() -> None:
    headers = sign_healthkit(BODY, SECRET, NOW)
    good = headers["webhook-signature"]
    bad = "v1," + _b64(_mac(b"old-key", b"anything"))
    headers["webhook-signature"] = f"{bad} {good} v1,not-base64!"
    healthkit.verify(headers, BODY, [hk_secret(SECRET)], NOW, TOLERANCE)


def test_healthkit_ignores_other_versions() -> None:
    headers = sign_healthkit(BODY, SECRET, NOW)
    encoded = headers["webhook-signature"].removeprefix("v1,")
    # An unknown version next to a valid v1 is ignored...
    headers["webhook-signature"] = f"v1a,{encoded} v2,garbage v1,{encoded}"
    healthkit.verify(headers, BODY, [hk_secret(SECRET)], NOW, TOLERANCE)
    # ...and never counted as a v1, even with the right bytes.
    headers["webhook-signature"] = f"v1a,{encoded} v2,{encoded}"
    error = check_of(lambda: healthkit.verify(headers, BODY, [hk_secret(SECRET)], NOW, TOLERANCE))
    assert error.check == "bad_signature"


def test_healthkit_signs_the_id() -> None:
    headers = sign_healthkit(BODY, SECRET, NOW)
    headers["webhook-id"] = "msg_other"
    error = check_of(lambda: healthkit.verify(headers, BODY, [hk_secret(SECRET)], NOW, TOLERANCE))
    assert error.check == "bad_signature"


def test_healthkit_whsec_secret_is_the_base64_of_the_key() -> None:
    key = bytes(range(24))
    headers = sign_healthkit(BODY, key, NOW)
    configured = b"whsec_" + base64.b64encode(key)
    healthkit.verify(headers, BODY, [configured], NOW, TOLERANCE)
    # The same key without the prefix is read as base64 too.
    healthkit.verify(headers, BODY, [base64.b64encode(key)], NOW, TOLERANCE)
    # Using the whole prefixed string as the key is the classic mistake: not accepted.
    wrong = sign_healthkit(BODY, configured, NOW)
    error = check_of(lambda: healthkit.verify(wrong, BODY, [configured], NOW, TOLERANCE))
    assert error.check == "bad_signature"


def test_healthkit_secret_that_is_not_base64_is_used_as_raw_bytes() -> None:
    raw = b"not base64: plain shared secret!"
    headers = sign_healthkit(BODY, raw, NOW)
    healthkit.verify(headers, BODY, [raw], NOW, TOLERANCE)


def test_healthkit_hex_signature_is_a_bad_signature() -> None:
    headers = sign_healthkit(BODY, SECRET, NOW)
    raw = base64.b64decode(headers["webhook-signature"].removeprefix("v1,"))
    headers["webhook-signature"] = f"v1,{raw.hex()}"
    error = check_of(lambda: healthkit.verify(headers, BODY, [hk_secret(SECRET)], NOW, TOLERANCE))
    assert error.check == "bad_signature"


def test_healthkit_unencodable_id_is_a_bad_signature() -> None:
    headers = sign_healthkit(BODY, SECRET, NOW)
    headers["webhook-id"] = "msg_\ud800"
    error = check_of(lambda: healthkit.verify(headers, BODY, [hk_secret(SECRET)], NOW, TOLERANCE))
    assert error.check == "bad_signature"


# -- Terra --------------------------------------------------------------------------


def test_terra_upper_case_hex_and_spaces_after_commas() -> None:
    timestamp = str(int(NOW))
    signature = _mac(SECRET, f"{timestamp}.".encode() + BODY).hex().upper()
    headers = {"terra-signature": f"t={timestamp}, v1={signature}"}
    terra.verify(headers, BODY, [SECRET], NOW, TOLERANCE)


def test_terra_several_v1_entries_any_may_match() -> None:
    timestamp = str(int(NOW))
    good = _mac(SECRET, f"{timestamp}.".encode() + BODY).hex()
    headers = {"terra-signature": f"t={timestamp},v1={'0' * 64},v1={good}"}
    terra.verify(headers, BODY, [SECRET], NOW, TOLERANCE)


@pytest.mark.parametrize(
    ("value", "check"),
    [
        ("t=1750000000", "missing_signature"),
        ("v1=" + "a" * 64, "missing_timestamp"),
        ("t=,v1=" + "a" * 64, "missing_timestamp"),
        ("t=1750000000,t=1750000001,v1=" + "a" * 64, "bad_timestamp"),
        ("garbage", "missing_signature"),
    ],
)
def test_terra_malformed_header(value: str, check: str) -> None:
    headers = {"terra-signature": value}
    assert check_of(lambda: terra.verify(headers, BODY, [SECRET], NOW, TOLERANCE)).check == check


def test_terra_base64_signature_is_a_bad_signature() -> None:
    timestamp = str(int(NOW))
    raw = _mac(SECRET, f"{timestamp}.".encode() + BODY)
    headers = {"terra-signature": f"t={timestamp},v1={_b64(raw)}"}
    error = check_of(lambda: terra.verify(headers, BODY, [SECRET], NOW, TOLERANCE))
    assert error.check == "bad_signature"


# -- Garbage in never raises anything but SignatureError ---------------------------

CHECKS = {
    "missing_signature",
    "missing_timestamp",
    "bad_timestamp",
    "stale_timestamp",
    "future_timestamp",
    "bad_signature",
    "no_secret",
}
_ALL_HEADER_NAMES = sorted({name for s in SCHEMES for name in s.missing})
_FRESH = [str(int(NOW)), str(int(NOW * 1000))]  # so garbage also reaches the signature check
_header_values = st.one_of(
    st.text(),  # any code point, lone surrogates included
    st.text(alphabet=st.characters(codec="latin-1")),  # what an ASGI server hands over
    st.sampled_from(_FRESH),
    st.from_regex(r"[0-9]{0,25}", fullmatch=True),
    st.from_regex(r"(v1,|v1=)[A-Za-z0-9+/=]{0,60}", fullmatch=True),
    st.builds(
        lambda t, sigs: f"t={t}," + ",".join(sigs),
        st.sampled_from(_FRESH),
        st.lists(st.from_regex(r"v1=[0-9a-fA-F]{60,66}", fullmatch=True), max_size=3),
    ),
    st.builds(
        lambda sigs: " ".join(sigs),
        st.lists(st.from_regex(r"v1,[A-Za-z0-9+/]{43}=", fullmatch=True), max_size=3),
    ),
)


@settings(max_examples=250, deadline=None)
@given(
    body=st.binary(max_size=512),
    values=st.dictionaries(st.sampled_from(_ALL_HEADER_NAMES), _header_values),
    secrets=st.lists(st.binary(max_size=64), max_size=3),
)
def test_garbage_never_raises_anything_but_signature_error(
    body: bytes, values: dict[str, str], secrets: list[bytes]
) -> None:
    # Every verifier sees every example: generating them is the slow part.
    for scheme in SCHEMES:
        failure: SignatureError | None = None
        try:
            scheme.module.verify(values, body, secrets, NOW, TOLERANCE)
        except SignatureError as error:
            failure = error
        # Nothing garbage can pass, and every failure names a known check.
        assert failure is not None, scheme.name
        assert failure.check in CHECKS


@by_scheme
@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=512), tamper=st.binary(min_size=1, max_size=8))
def test_random_bodies_verify_exactly_when_untouched(
    scheme: Scheme, body: bytes, tamper: bytes
) -> None:
    headers = scheme.sign(body, SECRET, NOW)
    scheme.verify(headers, body=body)
    error = check_of(lambda: scheme.verify(headers, body=body + tamper))
    assert error.check == "bad_signature"
