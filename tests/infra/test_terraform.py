"""Terraform module (AWS: RDS PostgreSQL, MSK, ElastiCache). `terraform validate`
needs provider downloads, impossible here; python-hcl2 parses every file and the
checks below cover what validate would: declared variables, module inputs."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import TERRAFORM

hcl2 = pytest.importorskip("hcl2", reason="pip install '.[infra]' (python-hcl2)")

MODULE = TERRAFORM / "modules" / "bank-data-aws"
EXAMPLE = TERRAFORM / "examples" / "production"


def clean(node: Any) -> Any:
    """python-hcl2 keeps HCL quoting ('"name"'); strip it and its bookkeeping keys."""
    if isinstance(node, dict):
        return {unquote(k): clean(v) for k, v in node.items() if not k.startswith("__")}
    if isinstance(node, list):
        return [clean(v) for v in node]
    return unquote(node)


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.cache
def parse_dir(folder: Path) -> tuple[dict[str, list[Any]], str]:
    merged: dict[str, list[Any]] = {}
    text = ""
    files = sorted(folder.glob("*.tf"))
    assert files, folder
    for path in files:
        source = path.read_text()
        text += source
        for key, value in clean(hcl2.loads(source)).items():
            merged.setdefault(key, []).extend(value)
    return merged, text


def names(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: v for block in blocks for k, v in block.items()}


def resources(tf: dict[str, list[Any]], rtype: str) -> dict[str, dict[str, Any]]:
    return {
        n: body
        for block in tf.get("resource", [])
        for t, items in block.items()
        if t == rtype
        for n, body in items.items()
    }


@pytest.mark.parametrize("folder", [MODULE, EXAMPLE], ids=["module", "example"])
def test_every_file_parses_and_every_variable_is_declared_and_documented(folder: Path) -> None:
    tf, text = parse_dir(folder)
    declared = names(tf.get("variable", []))
    used = set(re.findall(r"\bvar\.([a-zA-Z_][a-zA-Z0-9_]*)", text))
    assert used <= set(declared), f"undeclared: {used - set(declared)}"
    assert set(declared) <= used, f"unused: {set(declared) - used}"
    for name, body in declared.items():
        assert body.get("description") and body.get("type"), name
    for name, body in names(tf.get("output", [])).items():
        assert body.get("description"), name


def test_example_passes_every_required_module_input() -> None:
    module_vars = names(parse_dir(MODULE)[0]["variable"])
    required = {n for n, body in module_vars.items() if "default" not in body}
    call = names(parse_dir(EXAMPLE)[0]["module"])["bank_data"]
    given = set(call) - {"source"}
    assert required <= given, f"missing inputs: {required - given}"
    assert given <= set(module_vars), f"unknown inputs: {given - set(module_vars)}"


def test_module_outputs_reference_existing_resources() -> None:
    tf, _ = parse_dir(MODULE)
    defined = {f"{t}.{n}" for block in tf["resource"] for t, items in block.items() for n in items}
    for name, body in names(tf["output"]).items():
        for ref in re.findall(r"\b(aws_[a-z0-9_]+\.[a-z0-9_]+)", str(body["value"])):
            assert ref in defined, (name, ref)


def test_postgres_has_logical_replication_and_a_read_replica() -> None:
    tf, _ = parse_dir(MODULE)
    params = {
        p["name"]: p["value"] for p in resources(tf, "aws_db_parameter_group")["this"]["parameter"]
    }
    assert params["rds.logical_replication"] == "1"
    assert params["rds.force_ssl"] == "1"
    assert "max_slot_wal_keep_size" in params
    dbs = resources(tf, "aws_db_instance")
    assert dbs["primary"]["multi_az"] is True and dbs["primary"]["storage_encrypted"] is True
    assert "aws_db_instance.primary.identifier" in str(dbs["replica"]["replicate_source_db"])
    assert dbs["primary"]["manage_master_user_password"] is True


def test_kafka_has_three_brokers_rf3_min_isr2() -> None:
    tf, _ = parse_dir(MODULE)
    cluster = resources(tf, "aws_msk_cluster")["this"]
    assert cluster["number_of_broker_nodes"] == 3
    props = dict(
        line.strip().split("=", 1)
        for line in str(
            resources(tf, "aws_msk_configuration")["this"]["server_properties"]
        ).splitlines()
        if "=" in line and not line.strip().startswith("<<")
    )
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["auto.create.topics.enable"] == "false"


def test_redis_is_replicated_and_encrypted() -> None:
    tf, _ = parse_dir(MODULE)
    redis = resources(tf, "aws_elasticache_replication_group")["this"]
    assert redis["automatic_failover_enabled"] is True
    assert (
        redis["at_rest_encryption_enabled"] is True and redis["transit_encryption_enabled"] is True
    )
    assert redis["num_cache_clusters"] >= 2
