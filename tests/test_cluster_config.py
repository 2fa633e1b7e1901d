"""cluster.yaml and serve_config.yaml, checked against Ray's own schemas (no Ray started)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.serve.schema import ServeDeploySchema

from actors.config import Config
from serve_app import app

REPO = Path(__file__).resolve().parent.parent
CLUSTER_YAML = REPO / "cluster.yaml"
SERVE_CONFIG = REPO / "serve_config.yaml"
DOCS = REPO / "docs" / "operations.md"


def _cluster() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_is_valid_against_rays_cluster_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(_cluster(), schema)


def test_cluster_yaml_has_an_aws_provider_autoscaling_workers_and_a_shared_data_root():
    cluster = _cluster()
    assert cluster["provider"]["type"] == "aws" and cluster["provider"]["region"]
    workers = cluster["available_node_types"]["station-worker"]
    assert 0 < workers["min_workers"] <= workers["max_workers"] <= cluster["max_workers"]
    for node_type in cluster["available_node_types"].values():
        assert node_type["node_config"]["InstanceType"]
    setup = " ".join(cluster["setup_commands"])
    assert "mount -t nfs4" in setup and "/mnt/csms-data" in setup and "pip install ~/csms" in setup


def test_every_node_starts_ray_with_the_csms_environment():
    cluster = _cluster()
    for commands in (cluster["head_start_ray_commands"], cluster["worker_start_ray_commands"]):
        start = [c for c in commands if "csms ray-start" in c]
        assert len(start) == 1
        assert start[0].startswith("ulimit -n 65536;")
        assert "CSMS_DATA_ROOT=/mnt/csms-data" in start[0]
    assert any("serve_config.yaml" in c for c in cluster["head_start_ray_commands"])


def test_every_placeholder_in_the_cluster_files_is_documented():
    text = CLUSTER_YAML.read_text() + SERVE_CONFIG.read_text()
    placeholders = set(re.findall(r"<<CHANGE_ME: ([^>]*)>>", text))
    assert placeholders, "the files mark what an admin must change"
    docs = DOCS.read_text()
    assert "<<CHANGE_ME" in docs
    for key in ("ImageId", "KeyName", "SubnetIds", "SecurityGroupIds", "ssh_private_key", "auth_token",
                "EFS filesystem id", "data_root"):
        assert key in text and key in docs, key


def test_serve_config_is_valid_and_deploys_both_applications_through_the_builders():
    config = ServeDeploySchema.model_validate(yaml.safe_load(SERVE_CONFIG.read_text()))
    by_name = {a.name: a for a in config.applications}
    assert by_name["ocpp"].import_path == "serve_app.app:build_gateway"
    assert by_name["ocpp"].route_prefix == app.ROUTE_PREFIXES["ocpp"]
    assert by_name["api"].import_path == "serve_app.app:build_api"
    assert by_name["api"].route_prefix == app.ROUTE_PREFIXES["api"]
    gateway = by_name["ocpp"].deployments[0]
    assert gateway.name == "OcppGateway" and gateway.autoscaling_config["min_replicas"] >= 2
    # Serve's idle proxy must not take the balancers' port.
    assert config.http_options.port != by_name["ocpp"].args["port"]
    # The args are Config fields, the same in both applications.
    assert by_name["ocpp"].args == by_name["api"].args
    Config(**{k: v for k, v in by_name["ocpp"].args.items() if k != "data_root"})


def test_builder_args_refuse_an_unset_placeholder():
    args = yaml.safe_load(SERVE_CONFIG.read_text())["applications"][0]["args"]
    with pytest.raises(ValueError, match="data_root"):
        app.config_from_args(args)


def test_builder_args_take_environment_overrides_and_an_absolute_data_root(tmp_path, monkeypatch):
    args = yaml.safe_load(SERVE_CONFIG.read_text())["applications"][0]["args"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CSMS_DATA_ROOT", "relative-data")
    monkeypatch.setenv("CSMS_API_TOKENS", '["from-the-environment-0123456789"]')
    config = app.config_from_args(args)
    # Resolved once, where the builder runs: a host restarted on another node gets the same path.
    assert config.data_root == str(tmp_path / "relative-data")
    assert config.station_hosts == args["station_hosts"] and config.port == args["port"]
    assert config.token_roles() == [("from-the-environment-0123456789", "admin")]


def test_builder_without_tokens_uses_the_data_roots_operator_token(tmp_path, monkeypatch):
    monkeypatch.delenv("CSMS_API_TOKENS", raising=False)
    first = app.config_from_args({"data_root": str(tmp_path)})
    second = app.config_from_args({"data_root": str(tmp_path)})
    token_file = tmp_path / "operator-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert first.api_tokens == second.api_tokens == [token_file.read_text().strip()]


def _defined_metrics() -> dict[str, str]:
    """name -> kind, from the one module that defines them."""
    source = (REPO / "actors" / "metrics.py").read_text()
    return dict((name, kind) for kind, name in re.findall(r"_ray_metrics\.(Counter|Gauge|Histogram)\(\s*\"(csms_\w+)\"", source))


def test_the_dashboard_and_the_docs_chart_every_metric_and_no_other():
    defined = _defined_metrics()
    assert len(defined) >= 14
    exported = {f"ray_{name}" + {"Counter": "_total", "Gauge": "", "Histogram": "_bucket"}[kind]
                for name, kind in defined.items()}
    dashboard = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text())
    used = {m for panel in dashboard["panels"] for t in panel["targets"] for m in re.findall(r"ray_csms_\w+", t["expr"])}
    assert used == exported
    docs = DOCS.read_text()
    for name, kind in defined.items():
        assert f"ray_{name}" in docs, name
