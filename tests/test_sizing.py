"""Sizing balancers and gateway replicas for station_capacity under the open-file limit (issue 15 item 7)."""

from __future__ import annotations

from serve_app.sizing import RESERVED_FILES, size_ingress


def sized(**overrides):
    values = dict(station_capacity=20_000, balancers=0, gateway_replicas=0, max_stations_per_gateway=50_000,
                  open_files=20_000, direct_ingress=True)
    return size_ingress(**{**values, **overrides})


def test_defaults_on_a_20000_file_limit_start_enough_balancers_and_replicas_for_20000_stations():
    plan = sized()
    assert (plan.balancers, plan.gateway_replicas, plan.warnings) == (3, 2, ())
    assert plan.balancers * (20_000 - RESERVED_FILES) // 2 >= 20_000


def test_a_high_limit_needs_one_of_each():
    assert (sized(open_files=1_048_576).balancers, sized(open_files=1_048_576).gateway_replicas) == (1, 1)


def test_explicit_counts_too_small_are_kept_with_a_warning_naming_the_setting():
    plan = sized(balancers=1, gateway_replicas=1)
    assert (plan.balancers, plan.gateway_replicas) == (1, 1)
    assert any("balancers = 1" in w and "balancers = 3" in w for w in plan.warnings)
    assert any("gateway_replicas = 1" in w and "gateway_replicas = 2" in w for w in plan.warnings)


def test_explicit_counts_that_suffice_give_no_warning():
    assert sized(balancers=4, gateway_replicas=2).warnings == ()


def test_proxy_ingress_starts_no_balancers():
    assert sized(direct_ingress=False).balancers == 0
