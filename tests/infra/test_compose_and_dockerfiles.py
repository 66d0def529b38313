"""Dockerfiles and the production-like compose stack. Docker cannot run here,
so these parse the files and check every reference and the stated topology."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.infra.conftest import COMPOSE, DOCKER, PROCESSES, PROMETHEUS, REPO

EXPECTED = {
    "api": (8000, "/health/live", "server.api"),
    "cdc": (9101, "/metrics", "cdc"),
    "projections": (9102, "/metrics", "server.projections"),
    "client": (8550, "/", "client"),
}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(text: str) -> str:
    """Compose variable substitution: ${X:-default} takes the default, a required
    ${X:?message} (or plain ${X}) takes a placeholder."""

    def value(m: re.Match[str]) -> str:
        return m.group(3) if m.group(2) in (":-", "-") else "placeholder-value"

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", value, text)


def test_compose_file_matches_the_compose_specification() -> None:
    compose_spec = pytest.importorskip(
        "compose_spec", reason="pip install '.[infra]' (compose-spec)"
    )
    doc = yaml.safe_load(interpolate(COMPOSE.read_text()))  # resolves anchors and << merges
    doc = {k: v for k, v in doc.items() if not k.startswith("x-")}
    compose_spec.PyCompose.from_json(json.dumps(doc))  # raises on any spec violation
    # The validator is strict: a wrong type is refused, not ignored.
    doc["services"]["cdc"]["deploy"]["replicas"] = "one"
    with pytest.raises(ValueError):
        compose_spec.PyCompose.from_json(json.dumps(doc))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


@pytest.mark.parametrize("process", PROCESSES)
def test_dockerfile_is_multistage_nonroot_with_healthcheck(process: str) -> None:
    text = (DOCKER / f"{process}.Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    assert all(image == "python:3.11-slim" for image, _ in stages), stages
    runtime = text.split("FROM python:3.11-slim AS runtime", 1)[1]
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    user = re.search(r"^USER\s+(\S+)", runtime, re.M)
    assert user and user.group(1).split(":")[0] not in {"0", "root"}
    port, path, entry = EXPECTED[process]
    assert re.search(rf"^EXPOSE\s+{port}\b", runtime, re.M)
    health = re.search(r"^HEALTHCHECK .*\n(?:\s+.*\n)*", runtime, re.M)
    assert health and f"127.0.0.1:{port}{path}" in health.group(0)
    cmd = re.search(r"^CMD\s+(\[.*\])", runtime, re.M)
    assert cmd and entry in yaml.safe_load(cmd.group(1))
    # Installs the project (pyproject.toml) and copies only what exists.
    assert re.search(r"^RUN pip install .*\.", text, re.M)
    for src in re.findall(r"^COPY\s+(?!--)(\S+)\s", text, re.M):
        assert (REPO / src).exists(), f"COPY source {src} missing"
    assert (DOCKER / f"{process}.Dockerfile.dockerignore").exists()


def test_api_image_carries_the_sql_migrations() -> None:
    """server.adapters.migrations reads server/migrations/*.sql next to its package."""
    text = (DOCKER / "api.Dockerfile").read_text()
    assert (
        "COPY server/migrations/ /opt/venv/lib/python3.11/site-packages/server/migrations/" in text
    )
    assert sorted((REPO / "server" / "migrations").glob("*.sql"))


def test_compose_references_resolve() -> None:
    doc = compose()
    services = doc["services"]
    volumes = set(doc.get("volumes", {}))
    for name, svc in services.items():
        assert "image" in svc, f"{name}: pin an image tag"
        assert not svc["image"].endswith(":latest"), name
        deps = svc.get("depends_on", {})
        for dep in deps if isinstance(deps, list) else deps.keys():
            assert dep in services, f"{name} depends on unknown {dep}"
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).resolve().exists(), f"{name}: {source} missing"
            elif source.startswith("/"):  # the host's files (Filebeat reads Docker's logs)
                assert vol.endswith(":ro"), f"{name}: host path {source} must be read-only"
            else:
                assert source in volumes, f"{name}: volume {source} not declared"
        if "build" in svc:
            context = (COMPOSE.parent / svc["build"]["context"]).resolve()
            assert context == REPO
            assert (context / svc["build"]["dockerfile"]).exists()
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_kafka_is_three_kraft_brokers_rf3_min_isr2() -> None:
    services = compose()["services"]
    brokers = {n: env_of(s) for n, s in services.items() if n.startswith("kafka-")}
    assert len(brokers) == 3
    voters = {e["KAFKA_CONTROLLER_QUORUM_VOTERS"] for e in brokers.values()}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {e["KAFKA_NODE_ID"] for e in brokers.values()} == {"1", "2", "3"}
    for env in brokers.values():
        assert "controller" in env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    assert (
        env_of(services["cdc"])["BANK_KAFKA_BOOTSTRAP"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    )


def test_compose_postgres_is_logical_with_a_streaming_replica() -> None:
    services = compose()["services"]
    command = " ".join(services["postgres-primary"]["command"])
    assert "wal_level=logical" in command
    replica = services["postgres-replica"]
    script = (COMPOSE.parent / replica["volumes"][1].split(":")[0]).read_text()
    assert "pg_basebackup" in script and "--write-recovery-conf" in script
    assert "postgres-primary" in replica["depends_on"]
    init = (COMPOSE.parent / "postgres" / "init-primary.sh").read_text()
    assert "REPLICATION" in init and "replica_1" in script and "replica_1" in init


def test_compose_runs_each_process_with_the_right_replicas() -> None:
    services = compose()["services"]
    for process in PROCESSES:
        assert services[process]["build"]["dockerfile"] == f"infra/docker/{process}.Dockerfile"
    assert services["cdc"]["deploy"]["replicas"] == 1
    assert services["api"]["deploy"]["replicas"] >= 2
    for name in ("redis", "prometheus", "grafana", "jaeger"):
        assert name in services
    assert env_of(services["jaeger"])["COLLECTOR_OTLP_ENABLED"] == "true"
    assert env_of(services["api"])["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"


def test_compose_runs_the_processes_that_share_an_image() -> None:
    # The notification consumer and the scheduler have no Dockerfile of their own: they
    # run the projection worker's and the API's images with their own command.
    services = compose()["services"]
    images = {name: svc.get("image", "").split(":")[0] for name, svc in services.items()}
    notifications, scheduler = services["notifications"], services["scheduler"]
    assert images["notifications"] == images["projections"]
    assert notifications["command"] == ["python", "-m", "server.notifications"]
    assert env_of(notifications)["BANK_NOTIFICATIONS_METRICS_PORT"] == "9103"
    assert "9103/health" in " ".join(notifications["healthcheck"]["test"])
    assert images["scheduler"] == images["api"]
    assert scheduler["command"] == ["python", "-m", "server.scheduler"]
    # Its own probe, not the API image's: the pipeline health contract on its metrics port.
    assert env_of(scheduler)["BANK_SCHEDULER_METRICS_PORT"] == "9104"
    assert "9104/health" in " ".join(scheduler["healthcheck"]["test"])


def test_compose_commits_no_secret_values() -> None:
    text = COMPOSE.read_text()
    doc = compose()
    for name, svc in doc["services"].items():
        for key, value in env_of(svc).items():
            if re.search(r"(PASSWORD|SECRET|TOKEN|_AUTH)$", key):
                assert str(value).startswith("${") and ":?" in str(value), (name, key)
    for match in re.finditer(r"://[^:/@\s]+:([^@\s]+)@", text):
        assert match.group(1).startswith("${"), f"literal password in URL: {match.group(0)}"


def test_prometheus_scrapes_compose_services_on_their_ports() -> None:
    services = compose()["services"]
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    expected = {
        "api": 8000,
        "cdc": 9101,
        "projections": 9102,
        "notifications": 9103,
        "scheduler": 9104,
    }
    assert expected.keys() <= {job["job_name"] for job in config["scrape_configs"]}
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name not in expected:
            continue
        targets: list[tuple[str, int]] = []
        for sc in job.get("static_configs", []):
            targets += [(t.split(":")[0], int(t.split(":")[1])) for t in sc["targets"]]
        for dns in job.get("dns_sd_configs", []):
            targets += [(n, dns["port"]) for n in dns["names"]]
        assert targets == [(name, expected[name])], job
        assert name in services
    mounts = " ".join(services["prometheus"]["volumes"])
    assert "../prometheus/rules:/etc/prometheus/rules" in mounts
