"""Secrets a fresh install makes for itself, once per data root: the operator token (instead of
running an open API) and the balancer-to-gateway identity secret (docs/security.md)."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import msgspec

from actors.config import Config


def data_root_secret(data_path: Path, name: str) -> tuple[str, Path]:
    """The secret in <data_root>/<name>, made (mode 0600) if missing. On a cluster the data root
    is shared, so every node, every builder call and every redeploy finds the same value."""
    path = data_path / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by another process (builder, second app)
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
                f.flush()
                os.fsync(f.fileno())
    # Another process may have created the file and not written it yet.
    deadline = time.monotonic() + 5.0
    while not (value := path.read_text().strip()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} is empty: remove it to have a new secret made")
        time.sleep(0.05)
    return value, path


def with_operator_token(config: Config) -> tuple[Config, Path | None]:
    """With no token configured, use the data root's operator-token; the token is never printed
    or logged, only where it is."""
    if config.api_tokens:
        return config, None
    token, path = data_root_secret(config.data_path, "operator-token")
    return msgspec.structs.replace(config, api_tokens=[token]), path


def with_ingress_secret(config: Config) -> Config:
    """With no ingress_identity_secret configured, use the data root's ingress-secret: the
    balancers and every gateway replica must hold the same one, across deploys and restarts."""
    if config.ingress_identity_secret:
        return config
    secret, _ = data_root_secret(config.data_path, "ingress-secret")
    return msgspec.structs.replace(config, ingress_identity_secret=secret)
