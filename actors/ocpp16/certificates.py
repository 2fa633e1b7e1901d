"""OCPP 1.6 certificate messages (security whitepaper edition 3): SignCertificate from the station; CertificateSigned, InstallCertificate, GetInstalledCertificateIds, DeleteCertificate and ExtendedTriggerMessage from the CSMS.

Typed requests and answers mirroring the whitepaper's JSON schemas (the `ocpp` library's
ocpp/v16/schemas are the reference; tests/test_csms_side.py compares), the SignCertificate
answer, and how each answer folds into the station's certificate part
(actors/station_certificates.py). The tables at the bottom are what protocol.py and
csms_side.py register.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from actors import certificate_authority
from actors.ocpp16.answers import Answer
from actors.ocpp16.messages import ConnectorId, Payload
from actors.protocol import Context
from actors.station_certificates import InstalledCertificate
from actors.station_state import StationState

CertificateUse = Literal["CentralSystemRootCertificate", "ManufacturerRootCertificate"]
HashAlgorithm = Literal["SHA256", "SHA384", "SHA512"]
Hash128 = Annotated[str, msgspec.Meta(max_length=128)]

# ExtendedTriggerMessage's requestedMessage -> the station action it asks for (whitepaper
# section 5.8, MessageTriggerEnumType): only SignChargePointCertificate has another name.
TRIGGERED_ACTIONS = {"SignChargePointCertificate": "SignCertificate"}


# --- SignCertificate (station -> CSMS; use cases A02, A03) -------------------------------------


class SignCertificateRequest(Payload):
    csr: Annotated[str, msgspec.Meta(max_length=5500)]


class SignCertificateResponse(Answer):
    status: str


def answer_sign_certificate(state: StationState, request: SignCertificateRequest, ctx: Context) -> SignCertificateResponse:
    # A02.FR.11 / A02.FR.12: Accepted when we can process the request, Rejected otherwise. What
    # we can check of the CSR is checked here (actors/certificate_authority.py); the CA may still
    # fail later, which the station never learns (A02, error handling) but the operator does.
    refusal = certificate_request_refusal(state, request.csr, ctx)
    return SignCertificateResponse(status="Rejected" if refusal else "Accepted")


def certificate_request_refusal(state: StationState, csr: str, ctx: Context) -> str | None:
    return certificate_authority.signing_refusal(csr, state.station_id, organization=ctx.policy.certificate_organization,
                                                 signing=ctx.policy.certificate_signing)


def apply_sign_certificate(state: StationState, request: SignCertificateRequest,
                           response: SignCertificateResponse, at_us: int) -> None:
    # Accepted: the CA's answer is owed until CertificateIssued / CertificateIssueFailed folds;
    # a Rejected one is folded from its CertificateRequestRefused event.
    if response.status == "Accepted":
        state.certificates_part().pending_csr = request.csr


def certificate_request(action: str, request: Any) -> str | None:
    return request.csr if action == "SignCertificate" else None


# A02 step 1: the Central System asks for a new key and CSR.
RENEWAL = ("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})


def certificate_signed(chain_pem: str) -> tuple[str, str]:
    return "CertificateSigned", msgspec.json.encode({"certificateChain": chain_pem}).decode()


# --- CSMS-initiated requests ----------------------------------------------------------------------


class CertificateHashData(Payload):
    hashAlgorithm: HashAlgorithm
    issuerNameHash: Hash128
    issuerKeyHash: Hash128
    serialNumber: Annotated[str, msgspec.Meta(max_length=40)]


class CertificateSignedRequest(Payload):
    certificateChain: Annotated[str, msgspec.Meta(max_length=10000)]


class InstallCertificateRequest(Payload):
    certificateType: CertificateUse
    certificate: Annotated[str, msgspec.Meta(max_length=5500)]


class GetInstalledCertificateIdsRequest(Payload):
    certificateType: CertificateUse


class DeleteCertificateRequest(Payload):
    certificateHashData: CertificateHashData


class ExtendedTriggerMessageRequest(Payload):
    requestedMessage: Literal[
        "BootNotification", "LogStatusNotification", "FirmwareStatusNotification", "Heartbeat",
        "MeterValues", "SignChargePointCertificate", "StatusNotification",
    ]
    connectorId: ConnectorId | None = None


# --- the stations' answers (lenient: unknown fields ignored, lengths not checked) -------------------


class Response(msgspec.Struct, omit_defaults=True):
    pass


class CertificateSignedResponse(Response):
    status: Literal["Accepted", "Rejected"]


class InstallCertificateResponse(Response):
    status: Literal["Accepted", "Failed", "Rejected"]


class ReportedHashData(Response):
    hashAlgorithm: str
    issuerNameHash: str
    issuerKeyHash: str
    serialNumber: str


class GetInstalledCertificateIdsResponse(Response):
    status: Literal["Accepted", "NotFound"]
    certificateHashData: list[ReportedHashData] | None = None


class DeleteCertificateResponse(Response):
    status: Literal["Accepted", "Failed", "NotFound"]


class ExtendedTriggerMessageResponse(Response):
    status: Literal["Accepted", "Rejected", "NotImplemented"]


# --- how answers fold -------------------------------------------------------------------------------


def _installed(certificate_type: str, data: CertificateHashData | ReportedHashData) -> InstalledCertificate:
    return InstalledCertificate(certificate_type=certificate_type, hash_algorithm=data.hashAlgorithm,
                                issuer_name_hash=data.issuerNameHash, issuer_key_hash=data.issuerKeyHash,
                                serial_number=data.serialNumber)


def apply_certificate_signed_result(state: StationState, request: CertificateSignedRequest,
                                    response: CertificateSignedResponse, at_us: int) -> None:
    # A02.FR.06-07: the station verifies the chain and answers Accepted or Rejected; an
    # Accepted certificate is its client certificate from then on (A02.FR.08).
    leaf = certificate_authority.leaf_facts(request.certificateChain)
    if leaf is not None:
        state.certificates_part().record_delivery(leaf.fingerprint_sha256, response.status, at_us)


def apply_install_certificate_result(state: StationState, request: InstallCertificateRequest,
                                     response: InstallCertificateResponse, at_us: int) -> None:
    if response.status != "Accepted":
        return
    # The station names its certificates by hash data (M03); we keep the SHA-256 form of what
    # it accepted, until its next GetInstalledCertificateIds answer says what it really holds.
    data = certificate_authority.hash_data(request.certificate)
    if data is not None:
        state.certificates_part().add_installed(InstalledCertificate(certificate_type=request.certificateType, **data))


def apply_get_installed_certificate_ids_result(state: StationState, request: GetInstalledCertificateIdsRequest,
                                               response: GetInstalledCertificateIdsResponse, at_us: int) -> None:
    # M03.FR.02-04: NotFound means none of that type; Accepted lists every one.
    reported = [_installed(request.certificateType, d) for d in response.certificateHashData or ()] \
        if response.status == "Accepted" else []
    state.certificates_part().replace_installed(request.certificateType, reported, at_us)


def apply_delete_certificate_result(state: StationState, request: DeleteCertificateRequest,
                                    response: DeleteCertificateResponse, at_us: int) -> None:
    # M04.FR.02 / M04.FR.04: deleted, or it was not there: the station holds it no more either way.
    if response.status in ("Accepted", "NotFound") and state.certificates is not None:
        state.certificates.remove_installed(_installed("", request.certificateHashData))


# --- the tables protocol.py and csms_side.py register -------------------------------------------------

STATION_REQUESTS: dict[str, type[Payload]] = {"SignCertificate": SignCertificateRequest}

COMMANDS: dict[str, type[Payload]] = {
    "CertificateSigned": CertificateSignedRequest,
    "DeleteCertificate": DeleteCertificateRequest,
    "ExtendedTriggerMessage": ExtendedTriggerMessageRequest,
    "GetInstalledCertificateIds": GetInstalledCertificateIdsRequest,
    "InstallCertificate": InstallCertificateRequest,
}
COMMAND_RESPONSES: dict[str, type[Response]] = {
    "CertificateSigned": CertificateSignedResponse,
    "DeleteCertificate": DeleteCertificateResponse,
    "ExtendedTriggerMessage": ExtendedTriggerMessageResponse,
    "GetInstalledCertificateIds": GetInstalledCertificateIdsResponse,
    "InstallCertificate": InstallCertificateResponse,
}
# ExtendedTriggerMessage folds as TriggerMessage does (csms_side.apply_trigger_message_result).
COMMAND_RESULTS = {
    "CertificateSigned": apply_certificate_signed_result,
    "DeleteCertificate": apply_delete_certificate_result,
    "GetInstalledCertificateIds": apply_get_installed_certificate_ids_result,
    "InstallCertificate": apply_install_certificate_result,
}

