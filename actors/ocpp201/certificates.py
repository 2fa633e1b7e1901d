"""OCPP 2.0.1 certificates (Part 2 A02/A03 and M03-M05): the SignCertificate answer from the CSMS's CA, CertificateSigned to deliver the chain, and how InstallCertificate, GetInstalledCertificateIds and DeleteCertificate answers fold.

The same CA and the same CSR rules as 1.6 (actors/certificate_authority.py: the 2.0.1
security block's A00.FR.4xx/5xx are the whitepaper's). Only ChargingStationCertificate
requests are signed here: a V2GCertificate (ISO 15118) belongs to the V2G PKI, which this
CSMS does not reach. A feature module of csms_side.py (actors/ocpp201/feature.py).
"""

from __future__ import annotations

from typing import Any

import msgspec

from actors import certificate_authority
from actors.ocpp201 import messages as m
from actors.ocpp201 import secrets
from actors.ocpp201.station_side import apply_keep_latest
from actors.protocol import Context
from actors.station_certificates import InstalledCertificate
from actors.station_state import StationState

CHARGING_STATION = "ChargingStationCertificate"


def _signs(request: m.SignCertificateRequest) -> bool:
    return request.certificateType in (None, CHARGING_STATION)


def answer_sign_certificate(state: StationState, req: m.SignCertificateRequest, ctx: Context) -> m.SignCertificateResponse:
    # A02 / A03 (as the 1.6 whitepaper's A02.FR.11-12): Accepted when we can process the request,
    # which promises a CertificateSigned; Rejected says why in statusInfo.
    if not _signs(req):
        return m.SignCertificateResponse(status="Rejected", statusInfo=m.StatusInfoType(
            reasonCode="NotSupported", additionalInfo="this CSMS signs ChargingStationCertificate requests only"))
    refusal = certificate_authority.signing_refusal(req.csr, state.station_id,
                                                    organization=ctx.policy.certificate_organization,
                                                    signing=ctx.policy.certificate_signing)
    if refusal is None:
        return m.SignCertificateResponse(status="Accepted")
    reason_code = "InvalidCSR" if ctx.policy.certificate_signing else "NotConfigured"
    return m.SignCertificateResponse(status="Rejected", statusInfo=m.StatusInfoType(
        reasonCode=reason_code, additionalInfo=refusal[:512]))


def apply_sign_certificate(state: StationState, req: m.SignCertificateRequest, res: m.SignCertificateResponse,
                           at_us: int) -> None:
    apply_keep_latest(state, req, res, at_us)
    if res.status == "Accepted" and _signs(req):
        state.certificates_part().pending_csr = req.csr  # owed until CertificateIssued / ...Failed


def certificate_request(action: str, request: Any) -> str | None:
    return request.csr if action == "SignCertificate" and _signs(request) else None


# A02 (F06): the CSMS asks for a new key and CSR with TriggerMessage.
RENEWAL = ("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})


def certificate_signed(chain_pem: str) -> tuple[str, str]:
    return "CertificateSigned", msgspec.json.encode({"certificateChain": chain_pem,
                                                      "certificateType": CHARGING_STATION}).decode()


def requested_security_profile(action: str, request_json: str) -> int | None:
    """The profile a SetVariables of SecurityCtrlr.SecurityProfile asks the station to move to
    (A05): a raise to 3 waits for a client certificate (actors/security_profiles.py)."""
    if action != "SetVariables":
        return None
    try:
        request = msgspec.json.decode(request_json, type=m.SetVariablesRequest)
    except msgspec.DecodeError:
        return None
    for data in request.setVariableData:
        if secrets.names(data.component.name, data.variable.name, secrets.SECURITY_CTRLR, secrets.SECURITY_PROFILE):
            try:
                return int(data.attributeValue.strip())
            except ValueError:
                return None
    return None


# --- how answers fold (feature.Fold) ------------------------------------------------------------


def _installed(certificate_type: str, data: m.CertificateHashDataType) -> InstalledCertificate:
    return InstalledCertificate(certificate_type=certificate_type, hash_algorithm=data.hashAlgorithm,
                                issuer_name_hash=data.issuerNameHash, issuer_key_hash=data.issuerKeyHash,
                                serial_number=data.serialNumber)


def fold_certificate_signed(state: StationState, req: m.CertificateSignedRequest, res: m.CertificateSignedResponse,
                            at_us: int) -> None:
    # A02: the station verifies the chain; Accepted makes it its client certificate.
    if req.certificateType not in (None, CHARGING_STATION):
        return
    leaf = certificate_authority.leaf_facts(req.certificateChain)
    if leaf is not None:
        state.certificates_part().record_delivery(leaf.fingerprint_sha256, res.status, at_us)


def fold_install_certificate(state: StationState, req: m.InstallCertificateRequest, res: m.InstallCertificateResponse,
                             at_us: int) -> None:
    if res.status != "Accepted":  # M05: Rejected / Failed: not installed
        return
    data = certificate_authority.hash_data(req.certificate)
    if data is not None:
        state.certificates_part().add_installed(InstalledCertificate(certificate_type=req.certificateType, **data))


def fold_get_installed_certificate_ids(state: StationState, req: m.GetInstalledCertificateIdsRequest,
                                       res: m.GetInstalledCertificateIdsResponse, at_us: int) -> None:
    # M03: the station lists every certificate of the types asked (all types when none was).
    part = state.certificates_part()
    reported: dict[str, list[InstalledCertificate]] = {}
    for chain in (res.certificateHashDataChain or ()) if res.status == "Accepted" else ():
        reported.setdefault(chain.certificateType, []).append(_installed(chain.certificateType, chain.certificateHashData))
    asked = list(req.certificateType or ()) or sorted(set(part.installed) | set(reported))
    for kind in asked:
        part.replace_installed(kind, reported.get(kind, []), at_us)
    for kind in set(reported) - set(asked):
        part.replace_installed(kind, reported[kind], at_us)


def fold_delete_certificate(state: StationState, req: m.DeleteCertificateRequest, res: m.DeleteCertificateResponse,
                            at_us: int) -> None:
    # M04: deleted, or not found: the station holds it no more either way.
    if res.status in ("Accepted", "NotFound") and state.certificates is not None:
        state.certificates.remove_installed(_installed("", req.certificateHashData))


COMMAND_RESULTS = {
    "CertificateSigned": fold_certificate_signed,
    "InstallCertificate": fold_install_certificate,
    "GetInstalledCertificateIds": fold_get_installed_certificate_ids,
    "DeleteCertificate": fold_delete_certificate,
}
