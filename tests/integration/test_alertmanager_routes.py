"""The Alertmanager configuration the program writes, loaded and routed by the real `amtool` (Debian
prometheus-alertmanager): severities reach the receivers that list them, the rest and Watchdog go to `unrouted`.

Debian's amtool is 0.25, older than the cluster's Alertmanager (v0.34, kube-prometheus-stack 88.5.3): it knows
Slack's `api_url_file` and PagerDuty's `routing_key_file` but not the webhook's `url_file` (prometheus/alertmanager
config/notifiers.go has it in later releases), so the webhook receiver is not part of this check.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from render import monitoring_values as mon
from tests.unit.test_alerting import RECEIVERS, _settings

AMTOOL = shutil.which("amtool")
pytestmark = pytest.mark.skipif(AMTOOL is None, reason="amtool (Debian prometheus-alertmanager) is not installed; "
                                                       "./scripts/test installs it")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(mon.alertmanager_config(_settings(RECEIVERS))))
    return path


def _routes(config_file: Path, *labels: str) -> str:
    result = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={config_file}", *labels],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_amtool_accepts_the_configuration(config_file: Path):
    result = subprocess.run([AMTOOL, "check-config", str(config_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 receivers" in result.stdout


@pytest.mark.parametrize("labels, receivers", [
    (("alertname=MilvusComponentDown", "severity=critical", "namespace=milvus"), "oncall,team-chat"),
    (("alertname=MilvusSearchLatencyHigh", "severity=warning"), "team-chat"),
    (("alertname=KubeletTooManyPods", "severity=info"), mon.UNROUTED),
    (("alertname=Watchdog", "severity=none"), mon.UNROUTED),
])
def test_alerts_reach_the_receivers_of_their_severity(config_file: Path, labels: tuple, receivers: str):
    assert _routes(config_file, *labels) == receivers


def test_the_default_configuration_routes_everything_to_unrouted(tmp_path: Path):
    from tests.unit.test_milvus_values import settings_for
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(mon.alertmanager_config(settings_for("prod"))))
    assert _routes(path, "alertname=MilvusComponentDown", "severity=critical") == mon.UNROUTED
