"""The station handshake rules (OCPP-J 1.6 section 3; security profile 1 Basic auth)."""

from __future__ import annotations

import base64

import pytest

from serve_app.handshake import (
    OCPP16,
    Credential,
    Refusal,
    basic_auth_password,
    pick_subprotocol,
    station_credential,
    valid_station_id,
)


def basic(credentials: str | bytes) -> str:
    raw = credentials.encode() if isinstance(credentials, str) else credentials
    return "Basic " + base64.b64encode(raw).decode()


# --- station id (the last path segment of /ocpp/{station_id}) ---------------------------------


@pytest.mark.parametrize("station_id", ["CP1", "cp-001", "A.B_C", "site:7|bay*2+x@y", "x", "S" * 48])
def test_station_id_of_unreserved_characters_up_to_48_is_valid(station_id):
    assert valid_station_id(station_id)


@pytest.mark.parametrize(
    "station_id",
    ["", "S" * 49, "with space", "slash/inside", "q?x", "hash#x", "pct%20", "ünï", "a\nb", "semi;colon", "quote\"", "a,b"],
)
def test_station_id_that_is_empty_too_long_or_has_other_characters_is_invalid(station_id):
    assert not valid_station_id(station_id)


# --- subprotocol --------------------------------------------------------------------------


def test_ocpp16_is_chosen_when_offered():
    assert pick_subprotocol(["ocpp1.6"]) == OCPP16


def test_first_supported_subprotocol_in_the_station_order_is_chosen():
    assert pick_subprotocol(["ocpp2.1", "ocpp1.5", "ocpp1.6"]) == OCPP16


def test_no_common_subprotocol_gives_none():
    assert pick_subprotocol(["ocpp1.5", "ocpp2.0"]) is None
    assert pick_subprotocol([]) is None


def test_subprotocol_names_are_matched_exactly():
    # RFC 6455 subprotocol tokens are case-sensitive.
    assert pick_subprotocol(["OCPP1.6", "ocpp1.6 "]) is None


# --- Basic auth ---------------------------------------------------------------------------


def test_basic_auth_with_the_station_id_as_user_gives_the_password():
    assert basic_auth_password(basic("CP1:secret-password-1234"), "CP1") == b"secret-password-1234"


def test_password_may_contain_colons():
    assert basic_auth_password(basic("CP1:a:b:c"), "CP1") == b"a:b:c"


def test_empty_password_is_returned_as_empty_not_refused_here():
    # The password check against the registry refuses it; parsing does not.
    assert basic_auth_password(basic("CP1:"), "CP1") == b""


def test_scheme_name_is_case_insensitive():
    header = basic("CP1:pw")
    assert basic_auth_password("basic " + header[6:], "CP1") == b"pw"
    assert basic_auth_password("BASIC " + header[6:], "CP1") == b"pw"


def test_non_ascii_password_is_decoded_as_utf8():
    assert basic_auth_password(basic("CP1:pässwörd"), "CP1") == "pässwörd".encode()


def test_user_other_than_the_station_id_is_refused():
    assert basic_auth_password(basic("CP2:pw"), "CP1") is None


def test_user_is_compared_case_sensitively():
    assert basic_auth_password(basic("cp1:pw"), "CP1") is None


def test_credentials_without_a_colon_are_refused():
    assert basic_auth_password(basic("CP1pw"), "CP1") is None


@pytest.mark.parametrize("encoded", ["!!!notbase64!!!", "Q1AxOnB", "Q1Ax OnB3", "Q1Ax*nB3"])
def test_bad_base64_is_refused(encoded):
    assert basic_auth_password("Basic " + encoded, "CP1") is None


def test_credentials_that_are_not_utf8_are_refused():
    assert basic_auth_password(basic(b"CP1:\xff\xfe"), "CP1") == b"\xff\xfe"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer abc", "Digest username=CP1", "Basic", "Basicabc", "Token " + basic("CP1:pw")[6:]],
)
def test_missing_header_or_other_scheme_is_refused(header):
    assert basic_auth_password(header, "CP1") is None


# --- which credential counts (security profiles 1-3) ---------------------------------------


def credential(names=(), authorization=None, *, require=False, replaces=True):
    return station_credential("CP1", authorization, frozenset(names), require_certificate=require,
                              certificate_replaces_password=replaces)


def test_without_a_certificate_basic_auth_is_the_credential():
    assert credential(authorization=basic("CP1:pw")) == Credential(b"pw")
    assert credential() == Refusal(401, credential().message, "no_credentials")


def test_certificate_naming_the_station_replaces_basic_auth_by_default():
    assert credential(["CP1", "alias"]) == Credential(None)


def test_certificate_naming_the_station_still_needs_basic_auth_when_configured():
    assert credential(["CP1"], basic("CP1:pw"), replaces=False) == Credential(b"pw")
    assert credential(["CP1"], replaces=False).status == 401


def test_certificate_for_another_station_is_403_whatever_else_is_sent():
    assert credential(["CP2"], basic("CP1:pw")).status == 403
    assert credential(["CP2"], basic("CP1:pw"), replaces=False).status == 403


def test_required_certificate_refuses_basic_auth_alone():
    assert credential(authorization=basic("CP1:pw"), require=True).status == 401
    assert credential(["CP1"], require=True) == Credential(None)
