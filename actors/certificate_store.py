"""Where the CSMS's station CA lives: the operator's files (config), or one made once per data root (`<data_root>/station-ca/`, key 0600).

Every StationHost signs with it and every balancer trusts it for client certificates
(serve_app/tls.py), so all of them must find the same CA: on a cluster the data root is
shared, and the first process to need it makes it with one atomic rename, so two creators
racing leave one CA, never a key of one with the certificate of the other. The key is never
logged or put in an event; only its path appears in messages.
"""

from __future__ import annotations

import datetime
import logging
import os
import secrets
from pathlib import Path

from actors.certificate_authority import CertificateAuthority, check_authority, new_authority
from actors.config import Config
from actors.durable_file import fsync_dir, fsync_path

log = logging.getLogger("csms.certificates")

CA_DIRECTORY = "station-ca"
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
# The CA made for a data root: long-lived, as a root is (rotate it: docs/security.md).
OWN_CA_VALIDITY_DAYS = 3650


def own_ca_directory(config: Config) -> Path:
    return config.data_path / CA_DIRECTORY


def load_authority(config: Config) -> CertificateAuthority | None:
    """The CA this CSMS signs station certificates with: the operator's files, or the data
    root's (made on first use); None when the CSMS does not sign itself (`station_ca` is
    "external" or "off"). Raises ValueError for operator files that do not make a CA."""
    if config.station_ca == "external" and not config.station_ca_url:
        raise ValueError('station_ca = "external" needs station_ca_url')
    if config.station_ca != "own":
        return None
    if config.station_ca_cert_file or config.station_ca_key_file:
        if not (config.station_ca_cert_file and config.station_ca_key_file):
            raise ValueError("station_ca_cert_file and station_ca_key_file are set together, or neither")
        ca = CertificateAuthority(Path(config.station_ca_cert_file).read_text(),
                                  Path(config.station_ca_key_file).read_text())
        check_authority(ca)
        return ca
    directory = own_ca_directory(config)
    if not (directory / CA_KEY).exists():
        _create(config, directory)
    return CertificateAuthority((directory / CA_CERT).read_text(), (directory / CA_KEY).read_text())


def trusted_certificate_pem(config: Config) -> str:
    """The CA certificate the balancer adds to its client-CA list (own CA only: an external
    CA's root goes into `tls_client_ca_file`, docs/security.md); "" for none."""
    ca = load_authority(config)
    return ca.certificate_pem if ca is not None else ""


def _create(config: Config, directory: Path) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    organization = config.station_certificate_organization
    ca = new_authority(common_name=f"{organization or 'CSMS'} station CA", organization=organization,
                       validity_days=OWN_CA_VALIDITY_DAYS, now=datetime.datetime.now(datetime.timezone.utc))
    staging = directory.with_name(f".{directory.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    staging.mkdir(mode=0o700)
    key_path = staging / CA_KEY
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(ca.key_pem)
    (staging / CA_CERT).write_text(ca.certificate_pem)
    for path in (key_path, staging / CA_CERT):
        fsync_path(path)
    fsync_dir(staging)
    try:
        # A directory renames atomically onto a name that does not exist yet; if another
        # process made the CA meanwhile the rename fails and we use theirs.
        os.rename(staging, directory)
    except OSError:
        for path in (key_path, staging / CA_CERT):
            path.unlink(missing_ok=True)
        staging.rmdir()
        if not (directory / CA_KEY).exists():
            raise
        return
    fsync_dir(directory.parent)
    log.info("station CA created", extra={"certificate": str(directory / CA_CERT)})
