"""Kubernetes manifests: every object validates against the Kubernetes schemas
(strict: unknown fields rejected), and the deployment invariants hold."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import K8S, k8s_manifests

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install '.[infra]' (kubernetes-validate)"
)

# Oldest still-supported EKS/GKE minor and the newest schema the package ships.
K8S_VERSIONS = ("1.30.0", "1.37.0")
# Custom resources: no upstream schema; checked structurally below.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

MANIFESTS = k8s_manifests()
BASE = [(p, d) for p, d in MANIFESTS if p.parent.name == "base"]


def objects(kind: str, docs: list[tuple[Path, dict[str, Any]]] = BASE) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in docs if d["kind"] == kind}


def component(name: str) -> dict[str, Any]:
    return objects("Deployment")[f"bank-{name}"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schema(version: str) -> None:
    assert len(MANIFESTS) >= 25
    checked = 0
    for path, doc in MANIFESTS:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{path.relative_to(K8S)} {doc['kind']}/{doc['metadata']['name']}: {exc.message}"
            )
        checked += 1
    assert checked >= 25


def test_kustomizations_list_exactly_the_files_beside_them() -> None:
    for kfile in K8S.rglob("kustomization.yaml"):
        listed = set(yaml.safe_load(kfile.read_text())["resources"])
        present = {p.name for p in kfile.parent.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == present, kfile


def test_no_secret_values_are_committed() -> None:
    assert not objects("Secret", MANIFESTS), "Secrets come from the environment, never the repo"
    for _, doc in MANIFESTS:
        if doc["kind"] != "Deployment":
            continue
        for c in (
            doc["spec"]["template"]["spec"].get("initContainers", [])
            + doc["spec"]["template"]["spec"]["containers"]
        ):
            for env in c.get("env", []):
                if (
                    any(w in env["name"] for w in ("URL", "SECRET", "PASSWORD", "TOKEN"))
                    and env["name"] != "BANK_API_URL"
                ):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    assert ref and ref["name"] == "bank-secrets", (doc["metadata"]["name"], env)


def test_cdc_runs_exactly_one_replica_recreated_not_rolled() -> None:
    cdc = component("cdc")
    assert cdc["spec"]["replicas"] == 1
    assert cdc["spec"]["strategy"]["type"] == "Recreate"
    for hpa in objects("HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] != "bank-cdc", (
            "the CDC connector must not autoscale"
        )


def test_api_probes_use_the_health_endpoints() -> None:
    api = component("api")["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert api["ports"][0]["containerPort"] == 8000


def test_pipeline_processes_are_restarted_when_stalled_not_only_when_dead() -> None:
    # Pipeline health contract: GET /health on the metrics port is 503 when stalled.
    for name in ("cdc", "projections", "notifications", "scheduler"):
        probe = component(name)["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
        assert probe["httpGet"] == {"path": "/health", "port": "metrics"}, name


def test_api_scales_on_cpu_and_projections_on_consumer_lag() -> None:
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in objects("HorizontalPodAutoscaler").values()
    }
    deployments = objects("Deployment")
    for target in hpas:
        assert target in deployments
    api_metrics = hpas["bank-api"]["spec"]["metrics"]
    assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in api_metrics)
    external = [m for m in hpas["bank-projections"]["spec"]["metrics"] if m["type"] == "External"]
    assert external and external[0]["external"]["metric"]["name"] == "bank_projection_consumer_lag"
    # The adapter rule that serves that external metric exists and reads kafka_consumer_lag.
    adapter = objects("ConfigMap", MANIFESTS)["bank-prometheus-adapter"]
    config = yaml.safe_load(adapter["data"]["config.yaml"])
    rule = config["externalRules"][0]
    assert rule["name"]["as"] == "bank_projection_consumer_lag"
    assert "kafka_consumer_lag" in rule["seriesQuery"]


def test_every_workload_is_hardened_and_bounded() -> None:
    for name, dep in objects("Deployment").items():
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), (name, c["name"])
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), (name, c["name"])
        for c in pod["containers"]:
            assert c.get("ports"), (name, c["name"])  # every process serves a probe
            assert "livenessProbe" in c and "readinessProbe" in c, (name, c["name"])


def test_selectors_match_pods() -> None:
    pods = {
        n: d["spec"]["template"]["metadata"]["labels"] for n, d in objects("Deployment").items()
    }
    for name, dep in objects("Deployment").items():
        assert selects(dep["spec"]["selector"]["matchLabels"], pods[name]), name
    for kind in ("Service", "PodDisruptionBudget"):
        for name, obj in objects(kind).items():
            sel = obj["spec"]["selector"]
            sel = sel.get("matchLabels", sel)
            matched = [d for d, labels in pods.items() if selects(sel, labels)]
            assert len(matched) == 1, f"{kind}/{name} selects {matched}"
    covered = {
        d
        for pdb in objects("PodDisruptionBudget").values()
        for d, labels in pods.items()
        if selects(pdb["spec"]["selector"]["matchLabels"], labels)
    }
    assert covered == set(pods), "every Deployment needs a PodDisruptionBudget"


def test_services_and_ingresses_point_at_named_ports_that_exist() -> None:
    ports_by_pod: dict[str, set[str]] = defaultdict(set)
    deps = objects("Deployment")
    for name, dep in deps.items():
        for c in dep["spec"]["template"]["spec"]["containers"]:
            ports_by_pod[name] |= {p["name"] for p in c.get("ports", [])}
    services = objects("Service")
    for name, svc in services.items():
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports_by_pod[name], (name, port)
    for ing in objects("Ingress").values():
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                svc_ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in svc_ports
    for sm in objects("ServiceMonitor", MANIFESTS).values():
        targets = [
            s
            for s in services.values()
            if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert len(targets) == 1, sm["metadata"]["name"]
        assert sm["spec"]["endpoints"][0]["port"] in {
            p["name"] for p in targets[0]["spec"]["ports"]
        }


def test_network_policies_deny_by_default_and_cover_every_workload() -> None:
    policies = objects("NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    pods = {
        n: d["spec"]["template"]["metadata"]["labels"] for n, d in objects("Deployment").items()
    }
    for name, labels in pods.items():
        own = [
            p
            for p in policies.values()
            if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"]["matchLabels"], labels)
        ]
        assert own, f"{name} has no NetworkPolicy of its own"
        ports = {
            pt["port"] for p in own for rule in p["spec"].get("ingress", []) for pt in rule["ports"]
        }
        container_ports = {
            p["containerPort"]
            for c in objects("Deployment")[name]["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        assert container_ports <= ports, f"{name}: ports {container_ports - ports} unreachable"


def test_everything_lives_in_the_bank_namespace() -> None:
    for path, doc in BASE:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "bank", (path.name, doc["metadata"]["name"])
