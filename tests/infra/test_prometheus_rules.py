"""The SLO alert and recording rules: promtool checks and unit-tests them, and
every metric they (and the dashboards) read is in the metrics contract."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.conftest import GRAFANA, PROMETHEUS, metrics_contract

RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian: apt-get install -y --no-install-recommends prometheus)",
)

_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "Inf", "NaN"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (functions, labels, keywords removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if e[m.end() :].lstrip().startswith("(") or m.group(0) in _KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def rule_docs() -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in RULES]


def all_rules() -> list[dict]:
    return [r for doc in rule_docs() for g in doc["groups"] for r in g["rules"]]


def known_series() -> set[str]:
    contract = metrics_contract()
    names = set(contract["standard"])
    for m in contract["metrics"]:
        if m["type"] == "histogram":
            names |= {m["name"] + s for s in ("_bucket", "_sum", "_count")}
        else:
            names.add(m["name"])
    return names | {r["record"] for r in all_rules() if "record" in r}


def dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
    return out


@needs_promtool
def test_promtool_accepts_the_rule_files() -> None:
    result = promtool("check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_slo_alerts_pass_their_unit_tests() -> None:
    tests = sorted((PROMETHEUS / "tests").glob("*_test.yml"))
    assert tests, "no promtool unit tests found"
    result = promtool("test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    # The config names the in-container path; point it at the repo's rule files.
    config["rule_files"] = [str(p) for p in RULES]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {s["job_name"] for s in config["scrape_configs"]}
    assert {"api", "cdc", "projections"} <= jobs


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "5m")}
                    for i, (_, e) in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboards.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_and_dashboards_read_only_contract_metrics() -> None:
    known = known_series()
    used = [(r.get("alert") or r["record"], r["expr"]) for r in all_rules()] + dashboard_exprs()
    unknown = {(where, n) for where, expr in used for n in metric_names(expr) - known}
    assert not unknown, f"series not in infra/prometheus/metrics-contract.yml: {sorted(unknown)}"


def test_every_contract_metric_is_alerted_or_charted() -> None:
    used = set()
    for _, expr in [("", r["expr"]) for r in all_rules()] + dashboard_exprs():
        used |= metric_names(expr)
    missing = []
    for m in metrics_contract()["metrics"]:
        forms = {m["name"], m["name"] + "_bucket", m["name"] + "_sum", m["name"] + "_count"}
        if not forms & used:
            missing.append(m["name"])
    assert not missing, f"contract metrics nobody reads: {missing}"


def test_slo_alerts_exist_and_are_routable() -> None:
    alerts = {r["alert"]: r for r in all_rules() if "alert" in r}
    for name in (
        "BankErrorBudgetBurnFast",
        "BankErrorBudgetBurnSlow",
        "BankCommandErrorRateHigh",
        "BankApiLatencyP99High",
        "BankCdcLagHigh",
        "BankCdcLagBytesHigh",
        "BankConsumerLagHigh",
        "BankReplicationSlotWalRetainedHigh",
    ):
        assert name in alerts, f"missing SLO alert {name}"
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name


def test_metric_name_extraction_ignores_functions_labels_and_numbers() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{route!~"/health/.*"}[5m]))) > 1e-5 and on() absent(up{job="cdc"} == 1)'
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up"}
