"""The operator token of a fresh install: made once per data root instead of running an open API."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import msgspec

from actors.config import Config


def with_operator_token(config: Config) -> tuple[Config, Path | None]:
    """With no token configured, make one in <data_root>/operator-token (mode 0600) and use it;
    the token is never printed or logged, only where it is. On a cluster the data root is
    shared, so every node and every deploy finds the same one."""
    if config.api_tokens:
        return config, None
    path = config.data_path / "operator-token"
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
    return msgspec.structs.replace(config, api_tokens=[path.read_text().strip()]), path
