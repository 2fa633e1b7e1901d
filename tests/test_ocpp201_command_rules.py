"""The rules and masks of the 2.0.1 command feature modules (tests/commands201.FEATURES) on every payload
tests/ocpp201_schema_cases.py derives from the ocpp library's schemas: a rule only ever refuses what
the schema lets through, with a ValueError naming its OCPP 2.0.1 source, and never breaks on an odd
shape; a masked request is still valid for its schema, so the fold reads it back from the log.
"""

from __future__ import annotations

import json

import pytest

from actors.ocpp201 import messages as m
from tests.commands201 import FEATURES, check, logged
from tests.ocpp201_schema_cases import judged, library_validator

RULED = sorted({a for f in FEATURES for a in f.CHECKS})
MASKED = sorted({a for f in FEATURES for a in f.MASKS})
FOLDED = sorted({a for f in FEATURES for a in f.COMMAND_RESULTS})


def library_valid(action: str) -> list:
    return [case.payload for case in judged(m, "2.0.1", f"{action}Request") if case.library_accepts and case.we_accept]


def test_every_feature_action_is_a_csms_request_folded_by_one_module():
    assert set(FOLDED) <= set(m.CSMS_REQUESTS)
    assert sum(len(f.COMMAND_RESULTS) for f in FEATURES) == len(FOLDED)
    assert set(RULED) <= set(FOLDED) and set(MASKED) <= set(FOLDED)


@pytest.mark.parametrize("action", RULED)
def test_a_rule_refuses_only_with_a_value_error_naming_its_ocpp_source(action):
    payloads = library_valid(action)
    assert payloads
    for payload in payloads:
        try:
            check(action, payload)
        except ValueError as exc:
            assert "OCPP 2.0" in str(exc), (payload, exc)


@pytest.mark.parametrize("action", MASKED)
def test_a_masked_request_is_still_valid_for_its_schema(action):
    for payload in library_valid(action):
        masked = json.loads(logged(action, payload))
        assert library_validator("2.0.1", f"{action}Request").is_valid(masked), masked
        m.decode_request(action, json.dumps(masked).encode())
