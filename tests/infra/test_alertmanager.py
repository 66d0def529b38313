"""Alert routing (infra/alertmanager) and runbooks (docs/runbooks): amtool accepts
the configuration and routes each severity and team where it should; every alert
rule carries team, severity and a runbook that says what it means, how to
confirm it and what to do; inhibition rules name alerts that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import INFRA, REPO

AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None,
    reason="amtool not installed (Debian: apt-get install -y --no-install-recommends "
    "prometheus-alertmanager)",
)
CONFIG = INFRA / "alertmanager" / "alertmanager.yml"
RUNBOOKS = REPO / "docs" / "runbooks"
TEAMS = {"api", "pipeline", "database"}
SECTIONS = ("## What it means", "## How to confirm", "## What to do")


def alert_rules() -> dict[str, dict[str, Any]]:
    rules = {}
    for path in sorted((INFRA / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules |= {r["alert"]: r for r in group["rules"] if "alert" in r}
    return rules


@pytest.fixture(scope="module")
def config_here(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config with its template path pointing into the repository, so the
    templates are parsed too."""
    text = CONFIG.read_text().replace(
        "/etc/alertmanager/templates", str(INFRA / "alertmanager" / "templates")
    )
    path = tmp_path_factory.mktemp("am") / "alertmanager.yml"
    path.write_text(text)
    return path


@needs_amtool
def test_amtool_accepts_the_configuration(config_here: Path) -> None:
    result = subprocess.run(
        [AMTOOL, "check-config", str(config_here)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"severity": "page", "team": "api"}, "api-pager"),
        ({"severity": "page", "team": "pipeline"}, "pipeline-pager"),
        ({"severity": "page", "team": "database"}, "database-pager"),
        ({"severity": "page", "team": "nobody"}, "api-pager"),
        ({"severity": "ticket", "team": "pipeline"}, "pipeline-queue"),
        ({"severity": "ticket", "team": "database"}, "database-queue"),
        ({"severity": "page", "team": "api", "environment": "development"}, "null"),
        ({"alertname": "Watchdog"}, "default-queue"),
    ],
)
def test_alerts_route_by_severity_and_team(
    config_here: Path, labels: dict[str, str], receiver: str
) -> None:
    result = subprocess.run(
        [AMTOOL, "config", "routes", "test", f"--config.file={config_here}"]
        + [f"{k}={v}" for k, v in labels.items()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == receiver, result.stdout + result.stderr


def test_every_alert_names_its_team_and_a_runbook_that_says_what_to_do() -> None:
    rules = alert_rules()
    assert len(rules) >= 25
    for name, rule in rules.items():
        assert rule["labels"]["team"] in TEAMS, name
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks/{name}.md", name
        runbook = RUNBOOKS / f"{name}.md"
        assert runbook.is_file(), f"{name}: no {runbook.relative_to(REPO)}"
        text = runbook.read_text()
        assert text.startswith(f"# {name}"), name
        for section in SECTIONS:
            assert section in text, f"{runbook.name} lacks '{section}'"


def test_every_runbook_belongs_to_an_alert() -> None:
    rules = alert_rules()
    for path in RUNBOOKS.glob("*.md"):
        if path.stem != "README":
            assert path.stem in rules, f"{path.name}: no alert of that name"


def test_the_required_alerts_exist() -> None:
    rules = alert_rules()
    for name in (
        "BankCdcLagBytesHigh",  # CDC slot lag
        "BankReplicationSlotWalRetainedHigh",  # WAL growth
        "BankConsumerLagHigh",  # projection lag
        "BankProjectionDeadLetters",  # DLQ growth
        "BankCdcDeadLetters",
        "BankKafkaBrokerDown",
        "BankErrorBudgetBurnFast",
        "BankAuditAppendFailures",
        "BankPipelineStalled",
        "BankProjectionPartitionFailed",
    ):
        assert name in rules, name
    stalled = rules["BankPipelineStalled"]["expr"]
    assert "bank_pipeline_stalled" in stalled


def _names_in(matchers: list[str]) -> list[str]:
    out = []
    for m in matchers:
        found = re.match(r'alertname(=~|=)"(.*)"', m)
        if found:
            out.append(found.group(2))
    return out


def test_inhibitions_name_alerts_that_exist() -> None:
    rules = set(alert_rules())
    config = yaml.safe_load(CONFIG.read_text())
    for rule in config["inhibit_rules"]:
        for pattern in _names_in(rule["source_matchers"]) + _names_in(rule["target_matchers"]):
            matched = [r for r in rules if re.fullmatch(pattern, r)]
            assert matched, f"inhibit pattern {pattern!r} matches no alert"
    for receiver in config["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            assert "routing_key" not in pd, "secrets are files, never in the config"
