"""Alert thresholds, embedded in the stack settings as `monitoring.alerts`.

Users write the camelCase aliases in `Pulumi.<stack>.yaml`; code uses the snake_case names. Durations are
Prometheus durations (`30s`, `5m`, `1h`) because they go into rule `for:` clauses and range selectors verbatim.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

PROMETHEUS_DURATION = r"^[0-9]+(ms|s|m|h|d|w|y)$"


def _ratio(default: float, alias: str, doc: str):
    return Field(default, alias=alias, gt=0, le=1, description=doc)


def _duration(default: str, alias: str, doc: str):
    return Field(default, alias=alias, pattern=PROMETHEUS_DURATION, description=doc)


@dataclass(frozen=True, config=ConfigDict(extra="forbid", populate_by_name=True))
class AlertThresholds:
    """Every number an alert compares against; defaults are what a production Milvus should page on."""

    component_down_for: str = _duration("2m", "componentDownFor", "duration: no ready scrape target of a component")
    pod_not_ready_for: str = _duration("10m", "podNotReadyFor", "duration: a Milvus pod stays not Ready")
    query_node_stop_for: str = _duration(
        "15m", "queryNodeStopFor", "duration: a stopping query node still holds segments it must hand over")
    search_p99_latency_ms: float = Field(
        1000.0, alias="searchP99LatencyMs", gt=0, description="milliseconds: proxy search p99 latency"
    )
    insert_p99_latency_ms: float = Field(
        2000.0, alias="insertP99LatencyMs", gt=0, description="milliseconds: proxy insert p99 latency"
    )
    latency_for: str = _duration("10m", "latencyFor", "duration: latency stays above its threshold")
    querynode_memory_ratio: float = _ratio(
        0.85, "querynodeMemoryRatio", "fraction: query-node working set over its memory limit"
    )
    querynode_disk_ratio: float = _ratio(
        0.80, "querynodeDiskRatio", "fraction: query-node local data over its ephemeral-storage limit"
    )
    read_task_queue_length: int = Field(
        100, alias="readTaskQueueLength", gt=0, description="tasks: ready read tasks queued on one query node"
    )
    time_tick_lag_seconds: float = Field(
        60.0, alias="timeTickLagSeconds", gt=0, description="seconds: query-node consume time-tick lag"
    )
    load_failure_window: str = _duration("15m", "loadFailureWindow", "duration: window counting failed loads")
    slow_load_seconds: float = Field(
        600.0, alias="slowLoadSeconds", gt=0, description="seconds: p90 duration of a collection load"
    )
    etcd_quota_ratio: float = _ratio(0.80, "etcdQuotaRatio", "fraction: etcd database size over its backend quota")
    pod_restarts_per_hour: int = Field(
        3, alias="podRestartsPerHour", gt=0, description="restarts: container restarts within one hour"
    )
    resource_quota_ratio: float = _ratio(0.90, "resourceQuotaRatio", "fraction: ResourceQuota used over hard")
    nvme_filesystem_ratio: float = _ratio(
        0.85, "nvmeFilesystemRatio", "fraction: NVMe-node filesystem space used"
    )
