"""Every PromQL expression in the rules and dashboards, run by a real Prometheus scraping a real Milvus 2.3.5.

Each expression must parse and evaluate (an error status from /api/v1/query fails the test), and every metric
name it uses must exist in Milvus' real /metrics, unless it is in one of the two hand-checked lists in
render/metrics_26_only.py (names only Milvus 2.6 exports; Kubernetes/node/etcd exporters).
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from render.dashboards import render_capacity, render_overview
from render.metrics_26_only import EXTERNAL_METRICS, MILVUS_26_ONLY
from render.rules import render_rules, target_label_name
from stacks.thresholds import AlertThresholds
from tests.monitoring.example import EXAMPLE_CONTEXT, EXAMPLE_PLANNED_MEMORY
from tests.monitoring.promql import dashboard_exprs, metric_names, substitute_grafana_variables

pytestmark = [
    pytest.mark.milvus,
    pytest.mark.prometheus,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed"),
]

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
READY_TIMEOUT_S = 30.0
SCRAPE_TIMEOUT_S = 60.0
COLLECTION = "monitoring_probe"
DIM = 8
GRAFANA_VARIABLES = {
    "namespace": EXAMPLE_CONTEXT.milvus_namespace,
    "resource_group": ".*",
    "__rate_interval": "1m",
    "datasource": "prometheus",
}
# Panels a healthy Milvus that just served traffic must fill: proves the selectors match real, relabelled series.
PANELS_WITH_DATA = (
    "Requests per second by method",
    "Search / query latency",
    "Vectors searched and inserted per second",
    "Entities loaded by collection",
    "Segments loaded by state",
    "Time-tick lag (data freshness)",
)
# Alerts a healthy, lightly used Milvus must not fire (the rest need Kubernetes series or a different plan).
SILENT_ON_HEALTHY_MILVUS = (
    "MilvusSearchLatencyHigh",
    "MilvusInsertLatencyHigh",
    "MilvusReadTaskBacklog",
    "MilvusTimeTickLagHigh",
    "MilvusCollectionLoadFailed",
    "MilvusCollectionLoadSlow",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, timeout: float = 5) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def _query(base: str, expr: str) -> dict:
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(f"{base}/api/v1/query", data=data, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:  # 400/422 carry the PromQL error in the body
        return json.loads(err.read())


def _send_traffic(uri: str) -> None:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    try:
        if client.has_collection(COLLECTION):
            client.drop_collection(COLLECTION)
        client.create_collection(COLLECTION, dimension=DIM)  # also indexes and loads it
        rng = random.Random(7)
        rows = [{"id": i, "vector": [rng.random() for _ in range(DIM)]} for i in range(200)]
        client.insert(COLLECTION, rows)
        for _ in range(3):
            client.search(COLLECTION, data=[[rng.random() for _ in range(DIM)]], limit=5)
            client.query(COLLECTION, filter="id >= 0", limit=5)
    finally:
        client.close()


def _drop_collection(uri: str) -> None:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    try:
        client.drop_collection(COLLECTION)
    finally:
        client.close()


@pytest.fixture(scope="module")
def milvus_with_traffic(milvus_server):
    _send_traffic(milvus_server.uri)
    yield milvus_server
    _drop_collection(milvus_server.uri)


@pytest.fixture(scope="module")
def prometheus(milvus_with_traffic, tmp_path_factory) -> Iterator[str]:
    metrics = urllib.parse.urlparse(milvus_with_traffic.metrics_url)
    work = tmp_path_factory.mktemp("prometheus")
    # Static labels stand in for what the Operator adds from the chart's ServiceMonitor, so the project's
    # selectors match the real series.
    labels = {
        "namespace": EXAMPLE_CONTEXT.milvus_namespace,
        target_label_name("app.kubernetes.io/instance"): EXAMPLE_CONTEXT.release,
        target_label_name("app.kubernetes.io/name"): "milvus",
        "component": "standalone",
        "pod": "milvus-standalone-0",
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "milvus",
                "metrics_path": metrics.path,
                "static_configs": [{"targets": [metrics.netloc], "labels": labels}],
            }
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(work / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(lambda: _ready(base), READY_TIMEOUT_S, proc, work, "Prometheus ready")
        scraped_twice = 'count_over_time(up{job="milvus"}[5m]) >= 2 and up{job="milvus"} == 1'
        _wait(lambda: bool(_query(base, scraped_twice)["data"]["result"]), SCRAPE_TIMEOUT_S, proc, work,
              "two successful scrapes of Milvus")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _ready(base: str) -> bool:
    try:
        _get(f"{base}/-/ready", timeout=1)
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _wait(check, timeout_s: float, proc: subprocess.Popen, work: Path, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited ({proc.returncode}):\n{(work / 'prometheus.log').read_text()}")
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"no {what} after {timeout_s:.0f}s:\n{(work / 'prometheus.log').read_text()[-4000:]}")


@pytest.fixture(scope="module")
def real_metric_names(milvus_with_traffic) -> set[str]:
    text = _get(milvus_with_traffic.metrics_url).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def _rule_exprs() -> list[tuple[str, str]]:
    spec = render_rules(AlertThresholds(), EXAMPLE_CONTEXT)
    return [(rule["alert"], rule["expr"]) for group in spec["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[tuple[str, str]]:
    dashboards = (render_overview(EXAMPLE_CONTEXT), render_capacity(EXAMPLE_CONTEXT, EXAMPLE_PLANNED_MEMORY))
    return [
        (f"{d['title']} / {title}", substitute_grafana_variables(expr, GRAFANA_VARIABLES))
        for d in dashboards
        for title, expr in dashboard_exprs(d)
    ]


def test_every_expression_evaluates_on_real_prometheus(prometheus):
    exprs = _rule_exprs() + _dashboard_exprs()
    assert len(exprs) > 40
    errors = []
    for where, expr in exprs:
        answer = _query(prometheus, expr)
        if answer.get("status") != "success":
            errors.append(f"{where}: {answer.get('errorType')}: {answer.get('error')}\n  {expr}")
    assert not errors, "\n".join(errors)


def test_every_metric_name_exists_in_real_milvus_or_a_checked_list(real_metric_names):
    assert {"milvus_proxy_req_count", "milvus_querynode_entity_num"} <= real_metric_names
    unknown = {}
    used: set[str] = set()
    for where, expr in _rule_exprs() + _dashboard_exprs():
        for name in metric_names(expr):
            used.add(name)
            if name not in real_metric_names and name not in EXTERNAL_METRICS and name not in MILVUS_26_ONLY:
                unknown.setdefault(name, where)
    print("\nMilvus 2.6-only metric names (not checked against the 2.3.5 server):")
    for name, source in sorted(MILVUS_26_ONLY.items()):
        print(f"  {name}  ({source}; exported by 2.3.5: {name in real_metric_names})")
    assert not unknown, f"metric names neither in Milvus 2.3.5 /metrics nor in a checked list: {unknown}"
    assert not {n for n in used if n.startswith("milvus_")} & set(EXTERNAL_METRICS)


def test_dashboard_panels_show_real_milvus_data(prometheus):
    by_title: dict[str, list[str]] = {}
    for where, expr in _dashboard_exprs():
        by_title.setdefault(where.split(" / ", 1)[1], []).append(expr)
    empty = [t for t in PANELS_WITH_DATA if not any(_query(prometheus, e)["data"]["result"] for e in by_title[t])]
    assert not empty, f"panels without data on a Milvus that served traffic: {empty}"


def test_healthy_milvus_fires_none_of_the_milvus_alerts(prometheus):
    firing = {
        name: _query(prometheus, expr)["data"]["result"]
        for name, expr in _rule_exprs()
        if name in SILENT_ON_HEALTHY_MILVUS
    }
    assert set(firing) == set(SILENT_ON_HEALTHY_MILVUS)
    assert not {name: r for name, r in firing.items() if r}
