"""Configuration: defaults, TOML file, CSMS_* environment overrides, clear errors."""

from __future__ import annotations

import pytest

from actors.config import ApiToken, Config, load_config


def test_defaults_need_no_file_and_no_environment():
    config = load_config(env={})
    assert config == Config()
    assert config.port == 8000 and config.ingress == "direct"


def test_environment_overrides_every_kind_of_field():
    config = load_config(env={
        "CSMS_PORT": "9000",
        "CSMS_INGRESS": "proxy",
        "CSMS_DATA_ROOT": "/srv/csms",
        "CSMS_API_TOKENS": '["admin-token", {"token": "v", "role": "viewer"}]',
    })
    assert config.port == 9000 and config.ingress == "proxy" and config.data_root == "/srv/csms"
    assert config.token_roles() == [("admin-token", "admin"), ("v", "viewer")]
    assert config.api_tokens[1] == ApiToken(token="v", role="viewer")


def test_toml_file_then_environment(tmp_path):
    path = tmp_path / "csms.toml"
    path.write_text('port = 7000\nstation_hosts = 4\ningress = "proxy"\n')
    config = load_config(path, env={"CSMS_STATION_HOSTS": "8"})
    assert (config.port, config.station_hosts, config.ingress) == (7000, 8, "proxy")


@pytest.mark.parametrize(
    "env",
    [{"CSMS_INGRESS": "sideways"}, {"CSMS_PORT": "eighty"}, {"CSMS_API_TOKENS": '[{"token": "t", "role": "god"}]'},
     {"CSMS_PORT": "not json {"}],
)
def test_bad_values_are_refused_with_a_clear_error(env):
    with pytest.raises(ValueError, match="invalid CSMS configuration"):
        load_config(env=env)


def test_unknown_keys_in_the_file_are_refused(tmp_path):
    path = tmp_path / "csms.toml"
    path.write_text("prot = 7000\n")
    with pytest.raises(ValueError, match="prot"):
        load_config(path, env={})
