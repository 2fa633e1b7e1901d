"""Generate the msgspec Structs of every OCPP 2.x payload from the `ocpp` library's JSON schemas.

    .venv/bin/python scripts/gen_ocpp_types.py 2.0.1            # writes actors/ocpp201/messages.py
    .venv/bin/python scripts/gen_ocpp_types.py 2.1              # writes actors/ocpp21/messages.py
    .venv/bin/python scripts/gen_ocpp_types.py 2.0.1 --output /tmp/messages.py

One class per schema file (`<Action>Request`, `<Action>Response`) and one per definition
(`MeterValueType`, ...), enums as Literal aliases, maxLength / minimum / maximum / minItems /
maxItems as msgspec Meta constraints, optional fields `X | None = None`, `format: date-time`
as datetime. The schema files repeat their definitions: identical ones (descriptions aside)
become one class; differing ones under the same name keep the name for the variant most
files use and are prefixed with the first file's name otherwise. The output is committed;
tests/test_ocpp201_messages.py fails when it is not what this script writes now.
"""

from __future__ import annotations

import argparse
import html
import importlib.metadata
import json
import keyword
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ocpp

ROOT = Path(__file__).resolve().parent.parent
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
LINE = 110  # longest generated line we aim for


@dataclass(frozen=True)
class Version:
    name: str  # as in the websocket subprotocol: "ocpp" + name
    schema_dir: str  # under the ocpp package
    package: str  # under actors/
    # Which side sends each request. The schemas do not say; the specification's use cases do
    # (OCPP 2.0.1 part 2: each message's section names its sender). DataTransfer goes both ways.
    station_initiated: tuple[str, ...]
    csms_initiated: tuple[str, ...]
    # SEND messages (OCPP-J 2.1 section 4.2.4): one schema, named without a suffix, no answer.
    station_sends: tuple[str, ...] = ()

    @property
    def output(self) -> Path:
        return ROOT / "actors" / self.package / "messages.py"


V201 = Version(
    name="2.0.1",
    schema_dir="v201",
    package="ocpp201",
    station_initiated=(
        "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification",
        "Get15118EVCertificate", "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues",
        "NotifyChargingLimit", "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
        "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
        "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
    ),
    csms_initiated=(
        "CancelReservation", "CertificateSigned", "ChangeAvailability", "ClearCache", "ClearChargingProfile",
        "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated", "CustomerInformation", "DataTransfer",
        "DeleteCertificate", "GetBaseReport", "GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
        "GetInstalledCertificateIds", "GetLocalListVersion", "GetLog", "GetMonitoringReport", "GetReport",
        "GetTransactionStatus", "GetVariables", "InstallCertificate", "PublishFirmware", "RequestStartTransaction",
        "RequestStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage",
        "SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring", "SetVariables",
        "TriggerMessage", "UnlockConnector", "UnpublishFirmware", "UpdateFirmware",
    ),
)

# OCPP 2.1 part 2 keeps every 2.0.1 message and adds these (each section names its sender).
V21 = Version(
    name="2.1",
    schema_dir="v21",
    package="ocpp21",
    station_initiated=tuple(sorted(V201.station_initiated + (
        "BatterySwap", "ClosePeriodicEventStream", "GetCertificateChainStatus", "NotifyDERAlarm", "NotifyDERStartStop",
        "NotifyPriorityCharging", "NotifySettlement", "OpenPeriodicEventStream", "PullDynamicScheduleUpdate",
        "ReportDERControl", "VatNumberValidation",
    ))),
    csms_initiated=tuple(sorted(V201.csms_initiated + (
        "AFRRSignal", "AdjustPeriodicEventStream", "ChangeTransactionTariff", "ClearDERControl", "ClearTariffs",
        "GetDERControl", "GetPeriodicEventStream", "GetTariffs", "NotifyAllowedEnergyTransfer", "NotifyWebPaymentStarted",
        "RequestBatterySwap", "SetDERControl", "SetDefaultTariff", "UpdateDynamicSchedule", "UsePriorityCharging",
    ))),
    station_sends=("NotifyPeriodicEventStream",),
)

VERSIONS = {version.name: version for version in (V201, V21)}


def schema_path(version: Version) -> Path:
    return Path(ocpp.__file__).parent / version.schema_dir / "schemas"


def load_schemas(directory: Path) -> dict[str, dict]:
    """File stem -> schema (the 2.x files start with a byte order mark)."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8-sig")) for p in sorted(directory.glob("*.json"))}


# --- descriptions -----------------------------------------------------------------------------


def one_line(description: str | None, limit: int) -> str | None:
    """The first sentence of a schema description, without its data-dictionary header
    ("Meter_ Value. Timestamp. Date_ Time" and the "urn:x-oca:..." line under it), cut to fit."""
    if not description:
        return None
    lines = [line.strip() for line in html.unescape(description).replace("\r", "").split("\n")]
    kept: list[str] = []
    for line in lines:
        if line.startswith("urn:"):
            if kept:
                kept.pop()
            continue
        kept.append(line)
    text = " ".join(line.removesuffix(" +").strip() for line in kept if line.strip())
    text = re.sub(r"\s+", " ", text).strip()
    end = re.search(r"[.!?](\s|$)", text)
    if end:
        text = text[: end.start() + 1]
    if len(text) > limit:
        text = text[: text.rfind(" ", 0, limit - 3)].rstrip(",;:") + "..."
    return text or None


def docstring(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').rstrip('"') + '"""'


# --- the model: one entry per distinct definition -----------------------------------------------


def strip_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_docs(v) for k, v in node.items() if k not in ("description", "javaType", "comment")}
    if isinstance(node, list):
        return [strip_docs(x) for x in node]
    return node


def ref_name(node: dict) -> str:
    ref = node["$ref"]
    assert ref.startswith("#/definitions/"), ref
    return ref.removeprefix("#/definitions/")


def shape(node: Any, definitions: dict, memo: dict) -> Any:
    """The node without descriptions, every $ref replaced by the shape of its target: two
    definitions generate the same type exactly when their shapes are equal."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = ref_name(node)
            if name not in memo:
                memo[name] = None  # a cycle would show up as None; OCPP schemas have none
                memo[name] = shape(definitions[name], definitions, memo)
            return {"$ref": memo[name]}
        return {k: shape(v, definitions, memo) for k, v in strip_docs(node).items()}
    if isinstance(node, list):
        return [shape(x, definitions, memo) for x in node]
    return node


@dataclass
class Definition:
    name: str  # the generated name
    node: dict  # the definition as one file (the representative) has it
    file: str  # that file's stem, whose names its $refs resolve to


def collect_definitions(schemas: dict[str, dict]) -> tuple[list[Definition], dict[str, dict[str, str]]]:
    """(every distinct definition, file -> {definition name in that file -> generated name})."""
    variants: dict[str, dict[str, list[str]]] = {}  # name -> shape key -> files
    for stem, schema in schemas.items():
        definitions = schema.get("definitions", {})
        memo: dict = {}
        for name, node in definitions.items():
            key = json.dumps(shape(node, definitions, memo), sort_keys=True)
            variants.setdefault(name, {}).setdefault(key, []).append(stem)
    names: dict[str, dict[str, str]] = {stem: {} for stem in schemas}
    result = []
    for name in sorted(variants, key=str.casefold):
        ranked = sorted(variants[name].values(), key=lambda files: (-len(files), files[0]))
        for rank, files in enumerate(ranked):
            generated = name if rank == 0 else files[0] + name
            for stem in files:
                names[stem][name] = generated
            # Descriptions differ between copies: take the most frequent text (ties: first file).
            texts = Counter(json.dumps(schemas[stem]["definitions"][name], sort_keys=True) for stem in files)
            text = texts.most_common(1)[0][0]
            file = next(stem for stem in files if json.dumps(schemas[stem]["definitions"][name], sort_keys=True) == text)
            result.append(Definition(generated, schemas[file]["definitions"][name], file))
    return result, names


# --- rendering --------------------------------------------------------------------------------


def number_name(value: float) -> str:
    text = f"{int(value)}" if float(value).is_integer() else f"{value}".replace(".", "_")
    return text.replace("-", "Minus")


def number_literal(value: float, integer: bool) -> str:
    return str(int(value)) if integer or float(value).is_integer() else repr(float(value))


class Renderer:
    def __init__(self, names: dict[str, dict[str, str]]):
        self.names = names
        self.aliases: dict[str, str] = {}  # alias name -> its definition

    def alias(self, name: str, definition: str) -> str:
        assert self.aliases.get(name, definition) == definition, name
        self.aliases[name] = definition
        return name

    def type_of(self, node: dict, file: str) -> str:
        if "$ref" in node:
            return self.names[file][ref_name(node)]
        kind = node.get("type")
        if "enum" in node:
            raise ValueError(f"inline enum in {file}: give it a definition")
        if kind == "string":
            if node.get("format") == "date-time":
                return "datetime"
            if "maxLength" in node:
                n = node["maxLength"]
                return self.alias(f"String{n}", f"Annotated[str, msgspec.Meta(max_length={n})]")
            return "str"
        if kind == "integer":
            # OCPP 2.0.1 and 2.1 part 2, primitive datatypes: integer is 32-bit signed.
            low = max(node.get("minimum", INT32_MIN), INT32_MIN)
            high = min(node.get("maximum", INT32_MAX), INT32_MAX)
            name = "Int32" + self.bounds_name(low if low != INT32_MIN else None, high if high != INT32_MAX else None)
            return self.alias(name, f"Annotated[int, msgspec.Meta(ge={number_literal(low, True)}, le={number_literal(high, True)})]")
        if kind == "number":
            low, high = node.get("minimum"), node.get("maximum")
            if low is None and high is None:
                return "float"
            meta = ", ".join(f"{k}={number_literal(v, False)}" for k, v in (("ge", low), ("le", high)) if v is not None)
            return self.alias("Float" + self.bounds_name(low, high), f"Annotated[float, msgspec.Meta({meta})]")
        if kind == "boolean":
            return "bool"
        if kind is None:
            return "Any"  # DataTransfer.data: "without specified length or format"
        if kind == "array":
            item = self.type_of(node["items"], file)
            meta = ", ".join(f"{k}={node[s]}" for k, s in (("min_length", "minItems"), ("max_length", "maxItems")) if s in node)
            return f"Annotated[list[{item}], msgspec.Meta({meta})]" if meta else f"list[{item}]"
        raise ValueError(f"no type for {node} in {file}")

    @staticmethod
    def bounds_name(low: float | None, high: float | None) -> str:
        if low is not None and high is not None:
            return f"From{number_name(low)}To{number_name(high)}"
        if low is not None:
            return f"AtLeast{number_name(low)}"
        if high is not None:
            return f"AtMost{number_name(high)}"
        return ""

    def enum(self, name: str, node: dict) -> list[str]:
        lines = []
        comment = one_line(node.get("description"), LINE - 2)
        if comment:
            lines.append(f"# {comment}")
        values = [json.dumps(v) for v in node["enum"]]
        single = f"{name} = Literal[{', '.join(values)}]"
        if len(single) <= LINE:
            return [*lines, single]
        lines.append(f"{name} = Literal[")
        row = "   "
        for value in values:
            if len(row) + len(value) + 2 > LINE:
                lines.append(row.rstrip())
                row = "   "
            row += f" {value},"
        lines.append(row.rstrip())
        lines.append("]")
        return lines

    def struct(self, name: str, node: dict, file: str, doc: str | None) -> list[str]:
        assert node.get("type") == "object", name
        base = "Payload" if node.get("additionalProperties") is False else "ExtensiblePayload"
        lines = [f"class {name}({base}):"]
        if doc:
            lines.append(f"    {docstring(doc)}")
        properties = node.get("properties", {})
        required = node.get("required", [])
        unknown = set(required) - set(properties)
        assert not unknown, (name, unknown)
        # Required fields first (msgspec wants them before defaulted ones), customData last.
        order = [k for k in properties if k in required] + sorted(
            (k for k in properties if k not in required), key=lambda k: k == "customData"
        )
        times = []
        if properties and doc:
            lines.append("")
        for key in order:
            if keyword.iskeyword(key):
                raise ValueError(f"field {name}.{key} is a Python keyword")
            child = properties[key]
            annotation = self.type_of(child, file)
            comment = one_line(child.get("description"), LINE - 6)
            if comment:
                lines.append(f"    # {comment}")
            if key in required:
                lines.append(f"    {key}: {annotation}")
            else:
                lines.append(f"    {key}: {annotation} | None = None")
            if annotation == "datetime":
                times.append(key)
        if not properties:
            lines.append("    pass")
        if times:
            lines.append("")
            lines.append("    def __post_init__(self) -> None:")
            for key in times:
                lines.append(f'        _check_station_time(self.{key}, "{key}")')
        return lines


HEADER = '''"""OCPP {version} payloads of both directions, as msgspec Structs generated from the ocpp library's JSON schemas.

GENERATED by `.venv/bin/python scripts/gen_ocpp_types.py {version}` from ocpp {library}'s
ocpp/{schema_dir}/schemas: do not edit; change the generator and run it again
(tests/test_ocpp201_messages.py fails when this file is not what it writes).

Field names are the wire names, so a Struct encodes back to its payload. `REQUESTS` are the
actions a station initiates, `CSMS_REQUESTS` the ones we initiate, `RESPONSES` the answers to
both; `decode_request` / `decode_response` raise msgspec.ValidationError, which
actors.ocppj.constraint_error_code maps to the OCPP-J error code.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import msgspec

from actors.timestamps import EARLIEST_STATION_TIME, LATEST_STATION_TIME
'''

BASES = '''

class Payload(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base of every object the schemas close with additionalProperties false."""


class ExtensiblePayload(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base of an object open to any extra property (CustomDataType): extras are accepted and dropped."""


def _check_station_time(value: datetime | None, field: str) -> None:
    """Refuse a time outside EARLIEST/LATEST_STATION_TIME, as 1.6 does: views and reports
    convert every time to a UTC date, and Python's datetime overflows at the edges."""
    if value is None:
        return
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)  # naive: UTC
    if not EARLIEST_STATION_TIME <= aware < LATEST_STATION_TIME:
        raise ValueError(f"{field} outside years 1900-8999")
'''

FOOTER = '''
_request_decoders = {action: msgspec.json.Decoder(cls) for action, cls in (REQUESTS | CSMS_REQUESTS).items()}
_response_decoders = {action: msgspec.json.Decoder(cls) for action, cls in RESPONSES.items()}


def decode_request(action: str, payload: bytes | msgspec.Raw) -> Payload:
    """Decode and validate a CALL payload of either direction; raises msgspec.ValidationError."""
    return _request_decoders[action].decode(payload)


def decode_response(action: str, payload: bytes | msgspec.Raw) -> Payload:
    """Decode and validate the CALLRESULT payload answering `action`; raises msgspec.ValidationError."""
    return _response_decoders[action].decode(payload)
'''


def mapping(name: str, doc: str, classes: dict[str, str]) -> list[str]:
    lines = [f"# {doc}", f"{name}: dict[str, type[Payload]] = {{"]
    lines += [f'    "{action}": {cls},' for action, cls in sorted(classes.items())]
    return [*lines, "}"]


def render(version: Version, schemas: dict[str, dict]) -> str:
    actions = sorted({stem.removesuffix("Request") for stem in schemas if stem.endswith("Request")})
    responses = sorted({stem.removesuffix("Response") for stem in schemas if stem.endswith("Response")})
    sends = sorted(stem for stem in schemas if not stem.endswith(("Request", "Response")))
    station, csms = set(version.station_initiated), set(version.csms_initiated)
    if actions != responses or set(actions) != station | csms or sends != sorted(version.station_sends):
        raise ValueError(
            f"schemas and the direction table disagree: without a direction {sorted(set(actions) - station - csms)}, "
            f"without a schema {sorted((station | csms) - set(actions))}, unpaired {sorted(set(actions) ^ set(responses))}, "
            f"sends {sends}"
        )
    definitions, names = collect_definitions(schemas)
    messages = sorted(schemas, key=str.casefold)
    taken = [d.name for d in definitions] + messages
    if len(set(taken)) != len(taken):
        raise ValueError(f"names used twice: {sorted(n for n, c in Counter(taken).items() if c > 1)}")
    renderer = Renderer(names)
    enums = [d for d in definitions if "enum" in d.node]
    structs = [d for d in definitions if "enum" not in d.node]
    enum_lines: list[str] = []
    for d in enums:
        enum_lines += ["", *renderer.enum(d.name, d.node)]
    struct_lines: list[str] = []
    for d in structs:
        doc = one_line(d.node.get("description"), LINE - 10)
        struct_lines += ["", "", *renderer.struct(d.name, d.node, d.file, doc)]
    for stem in messages:
        action = stem.removesuffix("Request").removesuffix("Response")
        if stem in sends:
            doc = "Sent by the station as a SEND: it gets no answer."
        elif stem.endswith("Response"):
            doc = f"The answer to {action}Request."
        elif action in station and action in csms:
            doc = "Sent by either side."
        else:
            doc = "Sent by the station." if action in station else "Sent by the CSMS."
        struct_lines += ["", "", *renderer.struct(stem, schemas[stem], stem, doc)]
    # msgspec resolves a class's annotations with its fields in scope: a field named like a
    # type the annotations use would shadow it.
    module_names = {*taken, *renderer.aliases, "datetime", "str", "int", "float", "bool", "list", "msgspec", "Annotated", "Any", "Literal"}
    for node in [d.node for d in structs] + [schemas[stem] for stem in messages]:
        shadowing = module_names & set(node.get("properties", {}))
        if shadowing:
            raise ValueError(f"fields shadow names the annotations use: {sorted(shadowing)}")

    alias_lines = [f"{name} = {renderer.aliases[name]}" for name in sorted(renderer.aliases, key=alias_order)]
    out = [
        HEADER.format(version=version.name, library=importlib.metadata.version("ocpp"), schema_dir=version.schema_dir),
        "# Scalars with the schemas' bounds (maxLength, minimum, maximum); integers are 32-bit signed.",
        *alias_lines,
        "",
        "# --- enumerations ----------------------------------------------------------------------------",
        *enum_lines,
        "",
        "",
        "# --- datatypes -------------------------------------------------------------------------------",
        BASES.rstrip("\n"),
        *struct_lines,
        "",
        "",
        "# --- actions by direction --------------------------------------------------------------------",
        "",
        *mapping(
            "REQUESTS",
            "Requests a station sends" + (", and its SENDs (no answer)." if sends else "."),
            {action: f"{action}Request" for action in station} | {stem: stem for stem in sends},
        ),
        "",
        *mapping("CSMS_REQUESTS", "Requests the CSMS sends.", {action: f"{action}Request" for action in csms}),
        "",
        *mapping("RESPONSES", "The answer to every request, whichever side sent it.", {a: f"{a}Response" for a in actions}),
        "",
        FOOTER.rstrip("\n"),
        "",
    ]
    return "\n".join(out)


def alias_order(name: str) -> str:
    """String8 before String16: numbers compared as numbers."""
    return re.sub(r"\d+", lambda digits: digits.group().zfill(8), name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", choices=sorted(VERSIONS))
    parser.add_argument("--output", type=Path, help="default: actors/<package>/messages.py")
    args = parser.parse_args(argv)
    version = VERSIONS[args.version]
    text = render(version, load_schemas(schema_path(version)))
    output = args.output or version.output
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output} ({text.count(chr(10))} lines)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
