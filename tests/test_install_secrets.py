"""Secrets a fresh install makes for itself: one per data root, shared by every builder call."""

from __future__ import annotations

import stat

from actors.config import Config
from serve_app import app


def test_every_resolve_of_a_data_root_gets_the_same_ingress_secret(tmp_path):
    first = app.resolve(Config(data_root=str(tmp_path), station_hosts=2))
    again = app.resolve(Config(data_root=str(tmp_path), station_hosts=2))
    assert first.ingress_identity_secret and first.ingress_identity_secret == again.ingress_identity_secret
    path = tmp_path / "ingress-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.ingress_identity_secret not in repr(first)


def test_a_configured_ingress_secret_is_used_and_no_file_is_made(tmp_path):
    config = app.resolve(Config(data_root=str(tmp_path), station_hosts=1, ingress_identity_secret="s" * 40))
    assert config.ingress_identity_secret == "s" * 40
    assert not (tmp_path / "ingress-secret").exists()


def test_another_data_root_gets_another_secret(tmp_path):
    a = app.resolve(Config(data_root=str(tmp_path / "a"), station_hosts=1))
    b = app.resolve(Config(data_root=str(tmp_path / "b"), station_hosts=1))
    assert a.ingress_identity_secret != b.ingress_identity_secret
