"""Payloads derived mechanically from the ocpp library's OCPP 2.x JSON schemas (ocpp/v201/schemas/ and
ocpp/v21/schemas/: <Action>Request.json, <Action>Response.json), to check that our generated decoders accept
exactly what those schemas accept, and answer what they refuse with the right error code.

The cases are tests/ocpp_schema_cases.py's (a full and a minimal payload, then one change at a
time at every node), run on the schema with its `$ref`s inlined, plus the 2.x rules the 1.6
schemas do not have: maxItems, minimum / maximum, and more timestamps (RFC 3339 edge cases,
years outside what we store). Every payload is judged once per session (`judged`): by the
library's validator (Draft4Validator, as `ocpp.messages.get_validator` builds it: no format
checker), by the same schema with `format: date-time` read as RFC 3339, and by our decoder.
"""

from __future__ import annotations

import calendar
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import ocpp
from jsonschema import Draft4Validator

from tests.ocpp_schema_cases import SOME_VALUES, Mutation, SchemaCases

# OCPP-J 2.0.1 and 2.1 (part 4, section 4.3) renamed two of 1.6's codes; actors/ocppj.py names
# the 1.6 spelling. What a 2.x station must get instead.
OCPPJ_201_SPELLING = {
    "FormationViolation": "FormatViolation",
    "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
}

MORE_TIMESTAMPS = [
    "2024-03-01T10:00:00+0100",  # offset without its colon: ISO 8601 basic, not RFC 3339
    "2024-06-30T23:59:60Z",  # a leap second: RFC 3339 allows it, Python's datetime cannot hold it
    "2024-03-01 10:00:00Z",  # RFC 3339 section 5.6 allows a space "by agreement" only
    "2024-03-01t10:00:00z",
    "2024-03-01T10:00:00.123456789Z",
    "1899-12-31T23:59:59Z",  # outside the years we store (actors/ocpp16/messages.py)
    "9000-01-01T00:00:00Z",
]

# RFC 3339 section 5.6, date-time: full-date "T" full-time, T and Z in either case (its note).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)


def is_rfc3339_date_time(text: object) -> bool:
    if not isinstance(text, str):
        return True  # format applies to strings only; the type rule judges the rest
    match = _RFC3339.fullmatch(text)
    if match is None:
        return False
    year, month, day = (int(match.group(k)) for k in (1, 2, 3))
    # Year 0000 is valid RFC 3339 and a leap year, as 2000 is; Python's calendar starts at 1.
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year or 2000, month)[1]


def schema_dir(version: str) -> Path:
    return Path(ocpp.__file__).parent / ("v" + version.replace(".", "")) / "schemas"


@functools.cache
def library_schema(version: str, name: str) -> dict:
    return json.loads((schema_dir(version) / f"{name}.json").read_text(encoding="utf-8-sig"))


@functools.cache
def library_validator(version: str, name: str) -> Draft4Validator:
    """The library's own schema file and validator class (no format checker, like the library),
    its `$ref`s inlined: the same rules, judged twice as fast (jsonschema's reference
    resolution is most of its cost); tests check it agrees with ocpp.messages.get_validator."""
    schema = library_schema(version, name)
    return Draft4Validator(inlined(schema, schema.get("definitions", {})))


DEFINITION = "x-definition"  # marks an inlined definition; validators ignore unknown keywords


def inlined(node: Any, definitions: dict) -> Any:
    """The schema with every `$ref` replaced by its definition (OCPP schemas have no cycles),
    marked with the definition's name and text: files repeat the same definitions."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/definitions/")
            definition = definitions[name]
            return {**inlined(definition, definitions), DEFINITION: name + json.dumps(definition, sort_keys=True)}
        return {k: inlined(v, definitions) for k, v in node.items() if k != "definitions"}
    if isinstance(node, list):
        return [inlined(x, definitions) for x in node]
    return node


@dataclass(frozen=True)
class Schema201Cases(SchemaCases):
    """tests/ocpp_schema_cases.py's mutations plus the rules the 2.x schemas add.

    A definition's inner changes are tried in the first payload that holds it (`covered`); later
    payloads change only the node itself (every JSON type, dropped): the same generated class
    decodes it wherever it appears, and the 2.1 schemas repeat their definitions so often that
    trying them everywhere took minutes of jsonschema.
    """

    covered: set = field(default_factory=set, compare=False, hash=False)

    def sample(self, node: dict, full: bool, name: str = "") -> Any:
        if "type" not in node and "enum" not in node:
            return "abc"  # DataTransfer's `data` has no type at all ("without specified length or format")
        return super().sample(node, full, name)

    def mutations(self, node: dict, value: Any, path: tuple = (), required: bool = True) -> Iterator[tuple[Mutation, Any]]:
        def change(what: str, new: Any) -> tuple[Mutation, Any]:
            return Mutation(path, what, new, node, required), new

        definition = node.get(DEFINITION)
        if definition in self.covered:
            for other in SOME_VALUES:
                yield change(f"= {other!r:.20}", other)
            return
        if definition is not None:
            self.covered.add(definition)
        yield from super().mutations(node, value, path, required)

        kind = node.get("type")
        if kind == "array" and "maxItems" in node:
            n = node["maxItems"]
            yield change("at maxItems", [value[0]] * n)
            yield change("past maxItems", [value[0]] * (n + 1))
        if kind in ("integer", "number"):
            for bound, step in (("minimum", -1), ("maximum", 1)):
                if bound in node:
                    limit = int(node[bound]) if kind == "integer" else node[bound]
                    yield change(f"at {bound}", limit)
                    yield change(f"past {bound}", limit + step)
        if kind == "string" and node.get("format") == "date-time":
            for text in MORE_TIMESTAMPS:
                yield change(f"timestamp {text}", text)

    def payloads(self, version: str, name: str) -> Iterator[tuple[Mutation, Any]]:
        """The full and the minimal payload of the schema, each followed by its mutations."""
        schema = library_validator(version, name).schema
        for full in (True, False):
            base = self.sample(schema, full)
            yield Mutation((), "full" if full else "minimal", base, schema, True), base
            yield from self.mutations(schema, base)




class Judged(msgspec.Struct, frozen=True):
    mutation: Mutation
    payload: Any
    library_errors: tuple  # the library validator's errors (jsonschema ValidationError)
    rfc3339_valid: bool  # valid with date-time enforced as RFC 3339
    decoded: Any  # our Struct, or None when we refused
    error: msgspec.ValidationError | None  # why we refused

    @property
    def we_accept(self) -> bool:
        return self.error is None

    @property
    def library_accepts(self) -> bool:
        return not self.library_errors


def decoder_for(messages: Any, name: str) -> Callable[[bytes], Any]:
    """The decoder of a schema file: <Action>Response, <Action>Request, or a SEND's <Action>."""
    if name.endswith("Response"):
        return functools.partial(messages.decode_response, name.removesuffix("Response"))
    return functools.partial(messages.decode_request, name.removesuffix("Request"))


def judged(messages: Any, version: str, name: str) -> tuple[Judged, ...]:
    """Every generated payload of the schema, judged by the library, by RFC 3339 and by us."""
    return judged_version(messages, version)[name]


@functools.cache
def judged_version(messages: Any, version: str) -> dict[str, tuple[Judged, ...]]:
    # All files at once, in one order: which file tries a shared definition's inner changes
    # must not depend on which test asks first.
    cases = Schema201Cases(non_ascii_at_max_length=True)
    return {p.stem: _judged(cases, messages, version, p.stem) for p in sorted(schema_dir(version).glob("*.json"))}


def _judged(cases: Schema201Cases, messages: Any, version: str, name: str) -> tuple[Judged, ...]:
    decode = decoder_for(messages, name)
    validator = library_validator(version, name)
    out = []
    for mutation, payload in cases.payloads(version, name):
        try:
            decoded, error = decode(msgspec.json.encode(payload)), None
        except msgspec.ValidationError as exc:
            decoded, error = None, exc
        errors = tuple(validator.iter_errors(payload))
        # One change per payload, every other timestamp valid: RFC 3339 decides exactly when the
        # library accepts and the changed node, if a date-time, is one. (A second validator with
        # a format checker would say the same at twice the cost: jsonschema is the slow part.)
        dated = mutation.node.get("format") == "date-time" and mutation.what != "dropped"
        rfc3339_valid = not errors and (not dated or is_rfc3339_date_time(mutation.value))
        out.append(Judged(mutation, payload, errors, rfc3339_valid, decoded, error))
    return tuple(out)


def disagreements(
    cases: tuple[Judged, ...], they_accept: Callable[[Judged], bool], why_we_differ: Callable[[Judged], str | None]
) -> tuple[list[str], set[str]]:
    """(unexplained disagreements, explained difference kinds seen) between us and `they_accept`."""
    unexplained, explained = [], set()
    for case in cases:
        if case.we_accept == they_accept(case):
            continue
        reason = why_we_differ(case)
        if reason is None:
            mutation = case.mutation
            unexplained.append(f"{'/'.join(map(str, mutation.path))} {mutation.what}: we {'accept' if case.we_accept else 'reject'}")
        else:
            explained.add(reason)
    return unexplained, explained
