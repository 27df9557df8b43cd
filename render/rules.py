"""Milvus alert rules as data: `render_rules` returns a PrometheusRule `spec`, `rules_file_yaml` the same as a
rules file for `promtool`.

How scraped series are labelled (the facts every selector below relies on):
- Milvus pods are scraped through the chart's ServiceMonitor (zilliztech/milvus-helm
  charts/milvus/templates/servicemonitor.yaml): `targetLabels: [app.kubernetes.io/name, app.kubernetes.io/instance,
  component]`. The Prometheus Operator writes each as a target label with invalid characters replaced by `_`, so
  series carry `app_kubernetes_io_instance="<release>"` and `component` = the Service's component label
  (`proxy`, `mixcoord`, `querynode`, `datanode`, `streamingnode`; `standalone` outside cluster mode), plus the
  operator's own `namespace`, `pod`, `service`, `container`.
- Pod, Deployment and container names come from the chart's fullname: the release name if it contains `milvus`,
  else `<release>-milvus` (charts/milvus/templates/_helpers.tpl `milvus.fullname`); query-node pods are
  `<fullname>-querynode[-<resource group>]-…` and their container is named `querynode`.
- kube-state-metrics turns a Kubernetes label key into `label_<key>` with invalid characters replaced by `_`
  and camelCase split into snake_case (kube-state-metrics internal/store/utils.go `labelName`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from render.naming import milvus_fullname
from stacks.thresholds import AlertThresholds

DEFAULT_RESOURCE_GROUP = "__default_resource_group"
# One Service (and so one `component` value) per Milvus 2.6 cluster-mode role in chart 5.x.
DEFAULT_COMPONENTS = ("proxy", "mixcoord", "querynode", "datanode", "streamingnode")
# nodeadm `localStorage` mounts the instance-store array under /mnt/k8s-disks and bind-mounts the kubelet and
# containerd directories onto it (awslabs/amazon-eks-ami nodeadm/doc/api.md), so these are the NVMe mountpoints.
NVME_MOUNTPOINT_REGEX = "/var/lib/kubelet|/var/lib/containerd|/mnt/k8s-disks(/.*)?"
# Milvus reports query-node local disk use in MiB (bytes / 1024 / 1024, internal/querynodev2 disk usage fetcher).
MIB = 1024 * 1024

_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")


@dataclass(frozen=True)
class RuleContext:
    """Where Milvus runs and what it should look like; everything a rule selector or threshold needs."""

    milvus_namespace: str
    release: str
    monitoring_namespace: str
    # Planned query nodes per resource group; "" or "__default_resource_group" is the default group.
    expected_query_nodes: Mapping[str, int]
    # (key, value) of the Kubernetes node label that marks NVMe nodes.
    nvme_node_label: tuple[str, str]
    runbook_base_url: str
    components: tuple[str, ...] = DEFAULT_COMPONENTS
    # The scheduled-backup CronJob (in the Milvus namespace) and how old its last success may get; "" = no backups.
    backup_cronjob: str = ""
    backup_stale_after_seconds: int = 0
    planned_by_group: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("milvus_namespace", "release", "monitoring_namespace", "runbook_base_url"):
            if not getattr(self, name):
                raise ValueError(f"RuleContext.{name} must not be empty")
        if len(self.nvme_node_label) != 2 or not self.nvme_node_label[0]:
            raise ValueError(f"RuleContext.nvme_node_label must be (key, value), got {self.nvme_node_label!r}")
        planned: dict[str, int] = {}
        for group, count in self.expected_query_nodes.items():
            if count < 0:
                raise ValueError(f"expected_query_nodes[{group!r}] must be >= 0, got {count}")
            key = group or DEFAULT_RESOURCE_GROUP
            planned[key] = planned.get(key, 0) + count
        object.__setattr__(self, "planned_by_group", dict(sorted(planned.items())))


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str
    description: str
    for_: str = ""
    labels: tuple[tuple[str, str], ...] = ()


# ---- label and selector helpers (shared with dashboards.py) -------------------------------------------------


def target_label_name(key: str) -> str:
    """A Kubernetes label key as the Prometheus Operator writes it as a target label."""
    return _INVALID_LABEL_CHARS.sub("_", key)


def ksm_label_name(key: str) -> str:
    """A Kubernetes label key as kube-state-metrics exports it on `kube_*_labels`."""
    return "label_" + _CAMEL_BOUNDARY.sub(r"\1_\2", _INVALID_LABEL_CHARS.sub("_", key)).lower()


def regex_literal(name: str) -> str:
    """A Kubernetes name as a regex matching itself (names hold only [a-z0-9.-]; `.` is the one metacharacter)."""
    return name.replace(".", r"\.")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(**matchers: str) -> str:
    """`{a="x",b=~"y"}` from keyword arguments; a key ending in `__re` matches a regex, `__ne` excludes."""
    parts = []
    for key, value in matchers.items():
        if key.endswith("__re"):
            parts.append(f"{key[:-4]}=~{_quote(value)}")
        elif key.endswith("__ne"):
            parts.append(f"{key[:-4]}!={_quote(value)}")
        else:
            parts.append(f"{key}={_quote(value)}")
    return "{" + ",".join(parts) + "}"


def milvus_matchers(ctx: RuleContext) -> dict[str, str]:
    """Matchers selecting this release's Milvus series as scraped by the chart's ServiceMonitor."""
    return {"namespace": ctx.milvus_namespace, target_label_name("app.kubernetes.io/instance"): ctx.release}


def querynode_pod_matchers(ctx: RuleContext) -> dict[str, str]:
    """Matchers selecting query-node containers in kube-state-metrics and cAdvisor series."""
    return {
        "namespace": ctx.milvus_namespace,
        "pod__re": f"{regex_literal(milvus_fullname(ctx.release))}-querynode-.*",
        "container": "querynode",
    }


def nvme_node_matchers(ctx: RuleContext) -> dict[str, str]:
    key, value = ctx.nvme_node_label
    return {ksm_label_name(key): value}


def _by(labels: str, expr: str, agg: str = "max") -> str:
    return f"{agg} by ({labels}) ({expr})"


# ---- alert builders --------------------------------------------------------------------------------------------


def _p99_latency_alert(name: str, what: str, bucket_selector: str, threshold_ms: float, t: AlertThresholds) -> Alert:
    return Alert(
        name=name,
        expr=(
            f"histogram_quantile(0.99, sum by (le) (rate({bucket_selector}[5m]))) > {threshold_ms:g}"
        ),
        for_=t.latency_for,
        severity="warning",
        summary=f"Milvus {what} p99 latency is above {threshold_ms:g} ms",
        description=f"Proxy {what} p99 latency has been {{{{ $value | humanize }}}} ms for {t.latency_for}.",
    )


def _pod_ratio_alert(
    name: str, numerator: str, denominator: str, threshold: float, for_: str, summary: str, description: str
) -> Alert:
    return Alert(
        name=name,
        expr=f"{numerator}\n/ on (namespace, pod)\n{denominator}\n> {threshold:g}",
        for_=for_,
        severity="warning",
        summary=summary,
        description=description,
    )


def availability_alerts(t: AlertThresholds, ctx: RuleContext) -> tuple[Alert, ...]:
    milvus = milvus_matchers(ctx)
    pods = {"namespace": ctx.milvus_namespace, "pod__re": f"{regex_literal(milvus_fullname(ctx.release))}-.*"}
    down = tuple(
        Alert(
            name="MilvusComponentDown",
            # absent(... == 1) also fires when the targets vanished altogether (Service deleted, monitor unselected).
            expr=f"absent(up{selector(**milvus, component=component)} == 1)",
            for_=t.component_down_for,
            severity="critical",
            summary=f"No Milvus {component} is up",
            description=f"Prometheus has no healthy {component} scrape target in {ctx.milvus_namespace} "
            f"(release {ctx.release}) for {t.component_down_for}.",
            labels=(("component", component),),
        )
        for component in ctx.components
    )
    not_ready = Alert(
        name="MilvusPodNotReady",
        expr=(
            f"({_by('namespace, pod', 'kube_pod_status_ready' + selector(**pods, condition='true'))} == 0)\n"
            f"and on (namespace, pod)\n"
            f"({_by('namespace, pod', 'kube_pod_status_phase' + selector(**pods, phase__re='Pending|Running|Unknown'))}"
            f" == 1)"
        ),
        for_=t.pod_not_ready_for,
        severity="warning",
        summary="A Milvus pod is not Ready",
        description=f"Pod {{{{ $labels.pod }}}} has not been Ready for {t.pod_not_ready_for}.",
    )
    total = sum(ctx.planned_by_group.values())
    below_plan = [
        Alert(
            name="MilvusQueryNodesBelowPlan",
            expr=f"max(milvus_querycoord_querynode_num{selector(**milvus)}) < {total}",
            for_="10m",
            severity="critical",
            summary="Fewer query nodes than planned",
            description=f"QueryCoord manages {{{{ $value }}}} query nodes; the plan has {total}.",
            labels=(("resource_group", "all"),),
        )
    ]
    # Per-group counts need milvus_querycoord_resource_group_info (Milvus >= 2.4). The `and on ()` guard keeps
    # the rule silent on a Milvus that does not export it instead of reporting every group as empty.
    named_groups = set(ctx.planned_by_group) - {DEFAULT_RESOURCE_GROUP}
    if named_groups:
        info = "milvus_querycoord_resource_group_info"
        for group, planned in ctx.planned_by_group.items():
            if planned == 0:
                continue
            below_plan.append(
                Alert(
                    name="MilvusQueryNodesBelowPlan",
                    expr=(
                        f"(count({info}{selector(**milvus, rg=group)}) or on () vector(0)) < {planned}\n"
                        f"and on () count({info}{selector(**milvus)})"
                    ),
                    for_="10m",
                    severity="critical",
                    summary=f"Resource group {group} has fewer query nodes than planned",
                    description=f"Resource group {group} has {{{{ $value }}}} query nodes; the plan has {planned}.",
                    labels=(("resource_group", group),),
                )
            )
    # A stopping query node (scale-in, rollout, node drain) reports the segments it still has to hand over each second
    # until it holds none (milvus-io/milvus internal/querynodev2/server.go Stop; gauge in pkg/metrics/
    # querynode_metrics.go StoppingBalanceSegmentNum). Still non-zero after minutes: the rest of its replica has no
    # room, and at queryNode.gracefulStopTimeout it exits with them, leaving its replica incomplete until they reload.
    stop_stuck = Alert(
        name="MilvusQueryNodeStopStuck",
        expr=f"{_by('namespace, pod', 'milvus_querynode_stopping_balance_segment_num' + selector(**milvus))} > 0",
        for_=t.query_node_stop_for,
        severity="warning",
        summary="A stopping query node cannot hand its segments over",
        description=f"Query node {{{{ $labels.pod }}}} is stopping and has held {{{{ $value }}}} segments for "
                    f"{t.query_node_stop_for}: the other query nodes of its replica have no room for them.",
    )
    return (*down, not_ready, *below_plan, stop_stuck)


def performance_alerts(t: AlertThresholds, ctx: RuleContext) -> tuple[Alert, ...]:
    milvus = milvus_matchers(ctx)
    fail = selector(**milvus, status="fail")
    window = t.load_failure_window
    return (
        _p99_latency_alert(
            "MilvusSearchLatencyHigh",
            "search",
            "milvus_proxy_sq_latency_bucket" + selector(**milvus, query_type="search"),
            t.search_p99_latency_ms,
            t,
        ),
        _p99_latency_alert(
            "MilvusInsertLatencyHigh",
            "insert",
            "milvus_proxy_mutation_latency_bucket" + selector(**milvus, msg_type="insert"),
            t.insert_p99_latency_ms,
            t,
        ),
        Alert(
            name="MilvusReadTaskBacklog",
            expr=f"{_by('namespace, pod', 'milvus_querynode_read_task_ready_len' + selector(**milvus))}"
            f" > {t.read_task_queue_length}",
            for_="5m",
            severity="warning",
            summary="Search/query tasks are queueing on a query node",
            description=f"Query node {{{{ $labels.pod }}}} has {{{{ $value }}}} ready read tasks waiting "
            f"(threshold {t.read_task_queue_length}).",
        ),
        Alert(
            name="MilvusTimeTickLagHigh",
            expr=f"{_by('namespace, pod', 'milvus_querynode_consume_tt_lag_ms' + selector(**milvus))}"
            f" > {t.time_tick_lag_seconds * 1000:g}",
            for_="5m",
            severity="warning",
            summary="Query node data is stale (time-tick lag)",
            description=f"Query node {{{{ $labels.pod }}}} consumes the message stream {{{{ $value | humanize }}}} ms "
            f"behind (threshold {t.time_tick_lag_seconds:g} s); searches wait or see old data.",
        ),
        Alert(
            name="MilvusCollectionLoadFailed",
            # The `fail` series only appears with the first failure, which increase() cannot see; the `unless`
            # branch catches a series that is new within the window.
            expr=(
                f"(sum(increase(milvus_querycoord_load_req_count{fail}[{window}])) > 0)\n"
                f"or\n(sum(milvus_querycoord_load_req_count{fail}) > 0 "
                f"unless sum(milvus_querycoord_load_req_count{fail} offset {window}))"
            ),
            severity="warning",
            summary="A collection load failed",
            description=f"QueryCoord reported failed load requests in the last {window}.",
        ),
        Alert(
            name="MilvusCollectionLoadSlow",
            expr=(
                "histogram_quantile(0.9, sum by (le) (rate(milvus_querycoord_load_latency_bucket"
                f"{selector(**milvus)}[30m]))) > {t.slow_load_seconds * 1000:g}"
            ),
            severity="warning",
            summary=f"Collection loads take longer than {t.slow_load_seconds:g} s",
            description="The p90 collection load time over 30m is {{ $value | humanize }} ms.",
        ),
    )


def capacity_alerts(t: AlertThresholds, ctx: RuleContext) -> tuple[Alert, ...]:
    qn = querynode_pod_matchers(ctx)
    milvus = milvus_matchers(ctx)
    ns = {"namespace": ctx.milvus_namespace}
    limits = "kube_pod_container_resource_limits"
    quota_ns = "|".join(regex_literal(n) for n in sorted({ctx.milvus_namespace, ctx.monitoring_namespace}))
    quota_keys = "namespace, resourcequota, resource"
    fs = {"fstype__ne": "", "mountpoint__re": NVME_MOUNTPOINT_REGEX}
    fs_keys = "namespace, pod, device, mountpoint"
    nvme = selector(**nvme_node_matchers(ctx))
    return (
        _pod_ratio_alert(
            "MilvusQueryNodeMemoryNearLimit",
            _by("namespace, pod", "container_memory_working_set_bytes" + selector(**qn)),
            _by("namespace, pod", limits + selector(**qn, resource="memory")),
            t.querynode_memory_ratio,
            "5m",
            "A query node is close to its memory limit",
            f"Query node {{{{ $labels.pod }}}} uses {{{{ $value | humanizePercentage }}}} of its memory limit "
            f"(threshold {t.querynode_memory_ratio:.0%}); the next segment load can OOM-kill it.",
        ),
        _pod_ratio_alert(
            "MilvusQueryNodeDiskNearLimit",
            f"{_by('namespace, pod', 'milvus_querynode_disk_used_size' + selector(**milvus))} * {MIB}",
            _by("namespace, pod", limits + selector(**qn, resource="ephemeral_storage")),
            t.querynode_disk_ratio,
            "10m",
            "A query node's local data is close to its ephemeral-storage limit",
            f"Query node {{{{ $labels.pod }}}} local data uses {{{{ $value | humanizePercentage }}}} of its "
            f"ephemeral-storage limit (threshold {t.querynode_disk_ratio:.0%}); the kubelet evicts the pod at 100%.",
        ),
        Alert(
            name="MilvusEtcdDatabaseNearQuota",
            expr=(
                f"{_by('namespace, pod', 'etcd_mvcc_db_total_size_in_bytes' + selector(**ns))}\n"
                f"/ on (namespace, pod)\n"
                f"{_by('namespace, pod', 'etcd_server_quota_backend_bytes' + selector(**ns))}\n"
                f"> {t.etcd_quota_ratio:g}"
            ),
            for_="10m",
            severity="critical",
            summary="Milvus etcd database is close to its quota",
            description=f"etcd {{{{ $labels.pod }}}} uses {{{{ $value | humanizePercentage }}}} of its backend "
            f"quota (threshold {t.etcd_quota_ratio:.0%}); at 100% etcd refuses writes and Milvus stops.",
        ),
        Alert(
            name="MilvusNamespaceQuotaNearlyFull",
            expr=(
                f"{_by(quota_keys, 'kube_resourcequota' + selector(namespace__re=quota_ns, type='used'))}\n"
                f"/ on ({quota_keys})\n"
                f"({_by(quota_keys, 'kube_resourcequota' + selector(namespace__re=quota_ns, type='hard'))} > 0)\n"
                f"> {t.resource_quota_ratio:g}"
            ),
            for_="15m",
            severity="warning",
            summary="A namespace ResourceQuota is almost used up",
            description=f"{{{{ $labels.resource }}}} in {{{{ $labels.namespace }}}} ({{{{ $labels.resourcequota }}}}) "
            f"is at {{{{ $value | humanizePercentage }}}} of its hard limit (threshold "
            f"{t.resource_quota_ratio:.0%}); new or rolling pods will be rejected.",
        ),
        Alert(
            name="MilvusNVMeNodeFilesystemNearlyFull",
            # node-exporter series name the exporter pod, not the node: join through kube_pod_info to reach the
            # node, as kube-prometheus-stack's own node rules do (node_namespace_pod:kube_pod_info:).
            expr=(
                "max by (node, device) (\n"
                f"  (1 - {_by(fs_keys, 'node_filesystem_avail_bytes' + selector(**fs))}\n"
                f"     / on ({fs_keys}) {_by(fs_keys, 'node_filesystem_size_bytes' + selector(**fs))})\n"
                f"  * on (namespace, pod) group_left (node) "
                f"{_by('namespace, pod, node', 'kube_pod_info' + selector(node__ne=''))}\n"
                f"  * on (node) group_left () {_by('node', 'kube_node_labels' + nvme)}\n"
                f") > {t.nvme_filesystem_ratio:g}"
            ),
            for_="10m",
            severity="warning",
            summary="An NVMe node's data filesystem is almost full",
            description=f"{{{{ $labels.device }}}} on node {{{{ $labels.node }}}} is {{{{ $value | "
            f"humanizePercentage }}}} full (threshold {t.nvme_filesystem_ratio:.0%}); the kubelet will report "
            f"DiskPressure and evict query nodes.",
        ),
        Alert(
            name="MilvusNVMeNodeDiskPressure",
            expr=(
                f"{_by('node', 'kube_node_status_condition' + selector(condition='DiskPressure', status='true'))}"
                f" == 1\nand on (node)\n{_by('node', 'kube_node_labels' + nvme)}"
            ),
            for_="5m",
            severity="critical",
            summary="An NVMe node reports DiskPressure",
            description="Node {{ $labels.node }} reports DiskPressure; the kubelet is evicting pods from it.",
        ),
    )


def kubernetes_alerts(t: AlertThresholds, ctx: RuleContext) -> tuple[Alert, ...]:
    ns = selector(namespace=ctx.milvus_namespace)
    keys = "namespace, pod, container"
    restarts = f"kube_pod_container_status_restarts_total{ns}"
    oom = selector(namespace=ctx.milvus_namespace, reason="OOMKilled")
    return (
        Alert(
            name="MilvusPodRestarting",
            expr=f"sum by ({keys}) (increase({restarts}[1h])) > {t.pod_restarts_per_hour}",
            severity="warning",
            summary="A Milvus container keeps restarting",
            description=f"{{{{ $labels.container }}}} in {{{{ $labels.pod }}}} restarted {{{{ $value | humanize }}}} "
            f"times in the last hour (threshold {t.pod_restarts_per_hour}).",
        ),
        Alert(
            name="MilvusContainerOOMKilled",
            expr=(
                f"({_by(keys, 'kube_pod_container_status_last_terminated_reason' + oom)} == 1)\n"
                f"and on ({keys})\n"
                f"(sum by ({keys}) (increase({restarts}[10m])) > 0)"
            ),
            severity="warning",
            summary="A Milvus container was OOMKilled",
            description="{{ $labels.container }} in {{ $labels.pod }} was OOMKilled and restarted in the last 10m.",
        ),
    )


def backup_alerts(t: AlertThresholds, ctx: RuleContext) -> tuple[Alert, ...]:
    """kube-state-metrics exports `kube_cronjob_status_last_successful_time` only once a run has succeeded
    (internal/store/cronjob.go: no sample while `status.lastSuccessfulTime` is nil), so a CronJob that never
    succeeded is measured from `kube_cronjob_created` instead."""
    if not ctx.backup_cronjob:
        return ()
    match = selector(namespace=ctx.milvus_namespace, cronjob=ctx.backup_cronjob)
    keys = "namespace, cronjob"
    limit = ctx.backup_stale_after_seconds
    last = f"kube_cronjob_status_last_successful_time{match}"
    return (
        Alert(
            name="MilvusBackupStale",
            expr=(
                f"(time() - {_by(keys, last)}) > {limit}\n"
                f"or\n"
                f"((time() - {_by(keys, 'kube_cronjob_created' + match)}) > {limit}\n"
                f" unless on ({keys}) {last})"
            ),
            for_="10m",
            severity="warning",
            summary="Milvus has no recent successful backup",
            description=f"The last successful run of {{{{ $labels.namespace }}}}/{{{{ $labels.cronjob }}}} "
            f"(or its creation, if it never succeeded) was {{{{ $value | humanizeDuration }}}} ago; the schedule "
            f"allows {limit / 3600:g}h.",
        ),
    )


GROUPS = (
    ("milvus-availability", availability_alerts),
    ("milvus-performance", performance_alerts),
    ("milvus-capacity", capacity_alerts),
    ("milvus-kubernetes", kubernetes_alerts),
    ("milvus-backup", backup_alerts),
)


def all_alerts(thresholds: AlertThresholds, ctx: RuleContext) -> dict[str, tuple[Alert, ...]]:
    groups = {name: build(thresholds, ctx) for name, build in GROUPS}
    return {name: alerts for name, alerts in groups.items() if alerts}


def runbook_anchor(alert_name: str) -> str:
    """GitHub's anchor for a `## <AlertName>` heading."""
    return alert_name.lower()


def _rule(alert: Alert, ctx: RuleContext) -> dict:
    rule: dict = {"alert": alert.name, "expr": alert.expr}
    if alert.for_:
        rule["for"] = alert.for_
    rule["labels"] = {"severity": alert.severity, **dict(alert.labels)}
    rule["annotations"] = {
        "summary": alert.summary,
        "description": alert.description,
        "runbook_url": f"{ctx.runbook_base_url}#{runbook_anchor(alert.name)}",
    }
    return rule


def render_rules(thresholds: AlertThresholds, ctx: RuleContext) -> dict:
    """The PrometheusRule `spec`: `{"groups": [{"name", "rules"}]}`."""
    return {
        "groups": [
            {"name": name, "rules": [_rule(alert, ctx) for alert in alerts]}
            for name, alerts in all_alerts(thresholds, ctx).items()
        ]
    }


def alert_names(spec: Mapping) -> list[str]:
    """Distinct alert names of a rendered spec, in order of first appearance."""
    names = (rule["alert"] for group in spec["groups"] for rule in group["rules"] if "alert" in rule)
    return list(dict.fromkeys(names))


class _LiteralDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_LiteralDumper.add_representer(str, _str_presenter)


def to_yaml(document: Mapping) -> str:
    """YAML with multi-line PromQL as literal blocks, so golden files and reviews read like the queries."""
    return yaml.dump(dict(document), Dumper=_LiteralDumper, sort_keys=False, width=120, allow_unicode=True)


def rules_file_yaml(thresholds: AlertThresholds, ctx: RuleContext) -> str:
    """The rules as a Prometheus rules file (what `promtool check rules` and `promtool test rules` read)."""
    return to_yaml(render_rules(thresholds, ctx))
