"""Grafana dashboards and provisioning: loadable JSON, unique ids, panels on the
24-column grid, every query on the Prometheus data source variable."""

from __future__ import annotations

import json

import yaml

from tests.infra.conftest import COMPOSE, GRAFANA

DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def test_both_dashboards_exist_with_unique_uids() -> None:
    uids = {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    assert uids == {"bank-golden-signals", "bank-pipeline"}


def test_panels_are_well_formed() -> None:
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        assert [v["name"] for v in dash["templating"]["list"]] == ["datasource"]
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in dash["panels"]:
            pos = panel["gridPos"]
            assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, (path.name, panel["title"])
            if panel["type"] == "row":
                continue
            assert panel["targets"], (path.name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
                assert target["expr"].strip()


def test_pipeline_dashboard_covers_the_pipeline() -> None:
    dash = json.loads((GRAFANA / "dashboards" / "pipeline.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
    for metric in (
        "bank_cdc_lag_ms",
        "bank_cdc_lag_bytes",
        "kafka_consumer_lag",
        "bank_projection_batch",
        "bank_push_latency",
        "bank_replication_slot_retained_wal_bytes",
    ):
        assert metric in exprs, metric


def test_provisioning_matches_the_compose_mounts() -> None:
    sources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text()
    )
    by_type = {d["type"]: d for d in sources["datasources"]}
    assert by_type["prometheus"]["url"] == "http://prometheus:9090"
    assert by_type["jaeger"]["url"] == "http://jaeger:16686"
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )
    path = providers["providers"][0]["options"]["path"]
    mounts = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{path}:ro" in mounts
