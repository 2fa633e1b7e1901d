"""Turns a station's accepted CSR into a certificate chain: signed by the CSMS's own CA, or by the external CA through its HTTP hook.

One per StationHost. The CSR was checked when the station's SignCertificate was answered
(actors/certificate_authority.py); here it is checked again against the CA in use, because
what reaches the CA must be what the checks passed, and an external CA's answer is checked
too: its leaf must hold the CSR's key and name the station.
"""

from __future__ import annotations

import asyncio
import datetime

import aiohttp
import msgspec

from actors import certificate_authority, external_ca
from actors.certificate_store import load_authority
from actors.config import Config
from actors.station_certificates import IssuedCertificate


class Issued(msgspec.Struct, frozen=True):
    chain_pem: str
    certificate: IssuedCertificate


class CertificateIssuer:
    def __init__(self, config: Config) -> None:
        self.config = config
        # Loaded (or made) once: every host of the data root finds the same CA (certificate_store).
        self.authority = load_authority(config)
        self._session: aiohttp.ClientSession | None = None

    async def issue(self, station_id: str, csr_pem: str, now_us: int) -> Issued | str:
        """The chain for the station's CSR and what we keep of it, or why there is none."""
        config = self.config
        checked = certificate_authority.check_csr(csr_pem, station_id, config.station_certificate_organization)
        if checked.refusal is not None:
            return checked.refusal
        now = datetime.datetime.fromtimestamp(now_us / 1_000_000, tz=datetime.timezone.utc)
        if self.authority is not None:
            # Off the event loop: a signature costs about a millisecond, and a mass renewal
            # brings thousands at once while the host's frames must keep flowing.
            chain, facts = await asyncio.to_thread(certificate_authority.sign, checked, self.authority,
                                                   validity_days=config.station_certificate_validity_days, now=now)
            return Issued(chain, _issued(facts, now_us, "own"))
        if config.station_ca != "external" or not config.station_ca_url:
            return 'this CSMS signs no station certificates (station_ca = "off")'
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            chain = await external_ca.request_chain(self._session, config.station_ca_url, station_id, csr_pem,
                                                    config.station_ca_timeout_s)
        except external_ca.ExternalCaFailed as exc:
            return str(exc)
        mismatch = certificate_authority.chain_matches(chain, checked, station_id)
        if mismatch is not None:
            return mismatch
        facts = certificate_authority.leaf_facts(chain)
        assert facts is not None  # chain_matches parsed it
        return Issued(chain, _issued(facts, now_us, "external"))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _issued(facts: certificate_authority.CertificateFacts, now_us: int, source: str) -> IssuedCertificate:
    return IssuedCertificate(serial=facts.serial, subject_cn=facts.subject_cn, issuer=facts.issuer,
                             not_before_us=facts.not_before_us, not_after_us=facts.not_after_us,
                             fingerprint_sha256=facts.fingerprint_sha256, issued_at_us=now_us, source=source)
