"""Payloads derived mechanically from the ocpp library's OCPP 1.6 JSON schemas (ocpp/v16/schemas/
<Action>.json, the ones `ocpp.messages._validate_payload` uses through get_validator), to check
that our msgspec decoders accept exactly what those schemas accept.

For each schema: a full and a minimal valid payload, then one change at a time at every node
(drop a field, add an unknown one, every JSON type, lengths at and past maxLength, every enum
value and wrong ones, empty and longer arrays, timestamps, numbers with one decimal or more).

Shared by tests/test_station_session.py (station-initiated requests) and tests/test_csms_side.py
(CSMS-initiated requests and their answers); each keeps its own `SchemaCases` settings, decoder,
and list of the differences from the schemas it expects.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import ocpp
from jsonschema import Draft4Validator

from actors import ocppj

SOME_VALUES = [None, True, False, 0, 1, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**53, 1.0, 1.5, -0.5,
               "", "x", "1", "a" * 300, [], [1], ["x"], {}, {"a": 1}]
SOME_TIMESTAMPS = ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00+01:00",
                   "2024-03-01T10:00:00", "2024-03-01", "10:00:00", "2024-13-01T10:00:00Z", "yesterday",
                   "2024-03-01T25:00:00Z", "1709287200"]
NUMBER_PROBES = [0.3, 6.3, 0.05, 16.25, 32]


class Mutation(msgspec.Struct, frozen=True):
    path: tuple
    what: str
    value: Any
    node: dict  # the schema of the node changed
    required: bool  # whether the node is a required property (or not a property at all)


@functools.cache
def library_validator(message_type: int, action: str) -> Draft4Validator:
    """The `ocpp` library's own 1.6 schema file, numbers read as floats.

    Not `ocpp.messages.get_validator`: its cache ignores `parse_float`, so a ChargePoint that
    loaded a schema with Decimal numbers earlier in the session changes what it returns here.
    """
    suffix = "Response" if message_type == ocppj.CALLRESULT else ""
    path = Path(ocpp.__file__).parent / "v16" / "schemas" / f"{action}{suffix}.json"
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    return Draft4Validator(_inlined(schema, schema.get("definitions", {})))


def _inlined(node: Any, definitions: dict) -> Any:
    """The schema with each `$ref` replaced by its definition (the security whitepaper's schemas
    use them; the core 1.6 ones do not), so payloads can be derived from every node."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inlined(definitions[node["$ref"].removeprefix("#/definitions/")], definitions)
        return {k: _inlined(v, definitions) for k, v in node.items() if k != "definitions"}
    if isinstance(node, list):
        return [_inlined(x, definitions) for x in node]
    return node


def library_schema(message_type: int, action: str) -> dict:
    return library_validator(message_type, action).schema


def inlined(schema: dict) -> dict:
    """The schema with its local `$ref`s ("#/definitions/X", as the security whitepaper's schemas
    use) replaced by what they name, so payloads are generated from plain nodes."""
    definitions = schema.get("definitions", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].removeprefix("#/definitions/")])
            return {k: resolve(v) for k, v in node.items() if k != "definitions"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


@dataclass(frozen=True)
class SchemaCases:
    """How payloads are generated; the two sides differ only in these settings."""

    # Property name -> the value a generated payload gives it, where the first enum value or a
    # plain string would make the payload invalid for the 1.6 text.
    sample_overrides: Mapping[str, Any] = field(default_factory=dict)
    # Wrong values tried at every enum node (each one only where the enum does not list it).
    enum_probes: tuple[str, ...] = ("Bogus",)
    # Whether a string of maxLength non-ASCII characters is tried too.
    non_ascii_at_max_length: bool = False

    def sample(self, node: dict, full: bool, name: str = "") -> Any:
        if name in self.sample_overrides:
            return self.sample_overrides[name]
        if "enum" in node:
            return node["enum"][0]
        kind = node.get("type")
        if kind == "object":
            required = node.get("required", [])
            return {k: self.sample(v, full, k) for k, v in node.get("properties", {}).items() if full or k in required}
        if kind == "array":
            return [self.sample(node["items"], full)]
        if kind == "string":
            return "2024-03-01T10:00:00Z" if node.get("format") == "date-time" else "abc"
        if kind == "integer":
            return 1
        if kind == "number":
            return 1.5
        if kind == "boolean":
            return True
        raise AssertionError(node)

    def mutations(self, node: dict, value: Any, path: tuple = (), required: bool = True) -> Iterator[tuple[Mutation, Any]]:
        """(mutation, the node's new value) for every single change at or below this node."""

        def change(what: str, new: Any) -> tuple[Mutation, Any]:
            return Mutation(path, what, new, node, required), new

        for other in SOME_VALUES:
            yield change(f"= {other!r:.20}", other)
        kind = node.get("type")
        if "enum" in node:
            for option in node["enum"]:
                yield change(f"= {option}", option)
            yield change("enum value in lower case", node["enum"][0].lower())
            for probe in self.enum_probes:
                if probe not in node["enum"]:
                    yield change(f"{probe} (not in the enum)", probe)
        elif kind == "string" and "maxLength" in node:
            n = node["maxLength"]
            yield change("at maxLength", "a" * n)
            yield change("past maxLength", "a" * (n + 1))
            if self.non_ascii_at_max_length:
                yield change("at maxLength in non-ASCII", "é" * n)
            yield change("past maxLength in emoji", "😀" * (n + 1))
        elif kind == "string" and node.get("format") == "date-time":
            for text in SOME_TIMESTAMPS:
                yield change(f"timestamp {text}", text)
        elif kind == "number":
            for number in NUMBER_PROBES:
                yield change(f"= {number}", number)
        elif kind == "object":
            for key, child in node.get("properties", {}).items():
                child_required = key in node.get("required", [])
                if key in value:
                    dropped = {k: v for k, v in value.items() if k != key}
                    yield Mutation((*path, key), "dropped", None, child, child_required), dropped
                child_value = value[key] if key in value else self.sample(child, True, key)
                for mutation, new in self.mutations(child, child_value, (*path, key), child_required):
                    yield mutation, {**value, key: new}
            yield Mutation((*path, "unknownField"), "unknown field", 1, {}, False), {**value, "unknownField": 1}
        elif kind == "array":
            yield change("empty array", [])
            yield change("two items", [value[0], value[0]])
            for mutation, new in self.mutations(node["items"], value[0], (*path, 0), True):
                yield mutation, [new, *value[1:]]

    def mutated_payloads(self, message_type: int, action: str) -> Iterator[tuple[Mutation, Any]]:
        """The full and the minimal payload of the action's schema, each followed by its mutations."""
        schema = inlined(library_schema(message_type, action))
        for full in (True, False):
            base = self.sample(schema, full)
            yield Mutation((), "full" if full else "minimal", base, schema, True), base
            yield from self.mutations(schema, base)


def compare_with_library(
    cases: SchemaCases,
    action: str,
    we_accept: Callable[[str, Any], bool],
    why_we_differ: Callable[[str, Mutation, Any, bool], str | None],
) -> tuple[list[str], set[str], int]:
    """Every generated request payload of the action through our decoder (`we_accept`) and the
    library's validator: (unexplained disagreements, explained difference kinds seen, payloads
    compared). `why_we_differ(action, mutation, payload, we)` names a disagreement on purpose."""
    validator = library_validator(ocppj.CALL, action)
    unexplained, explained, count = [], set(), 0
    for mutation, payload in cases.mutated_payloads(ocppj.CALL, action):
        count += 1
        we, they = we_accept(action, payload), validator.is_valid(payload)
        if we == they:
            continue
        reason = why_we_differ(action, mutation, payload, we)
        if reason is None:
            unexplained.append(f"{action} {'/'.join(map(str, mutation.path))} {mutation.what}: we {'accept' if we else 'reject'}")
        else:
            explained.add(reason)
    return unexplained, explained, count
