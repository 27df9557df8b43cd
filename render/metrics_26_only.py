"""Metric names the rules and dashboards use that a real Milvus 2.3.5 `/metrics` cannot vouch for.

The integration test checks every other name against the live 2.3.5 server; these two lists are checked by hand
against the upstream sources named beside each entry.
"""

# Exported by Milvus 2.6 but not by 2.3.5. Checked in milvus-io/milvus pkg/metrics (stored snapshots:
# querycoord_metrics.go @24bb32b7 and @10cb599d, querynode_metrics.go @00422f55, module path pkg/v2, i.e. the
# 2.5/2.6-and-later tree).
MILVUS_26_ONLY: dict[str, str] = {
    # QueryCoordResourceGroupInfo, gauge labelled (rg, node_id): one series per query node in each group.
    "milvus_querycoord_resource_group_info": "pkg/metrics/querycoord_metrics.go QueryCoordResourceGroupInfo",
    # QueryNodeSQLatencyInQueue gained the `rg` and `db_name` labels after 2.3; 2.3.5 does not export it under load.
    "milvus_querynode_sq_queue_latency_bucket": "pkg/metrics/querynode_metrics.go QueryNodeSQLatencyInQueue",
    # StoppingBalanceSegmentNum, gauge labelled (node_id): a series only once a query node stops (set in
    # internal/querynodev2/server.go Stop), so no running test server shows it.
    "milvus_querynode_stopping_balance_segment_num": "pkg/metrics/querynode_metrics.go StoppingBalanceSegmentNum",
}

# Not Milvus at all: each name with the upstream file that defines it.
EXTERNAL_METRICS: dict[str, str] = {
    "up": "Prometheus itself, one per scrape target",
    # kubernetes/kube-state-metrics @c92fe0c5 (v2.20.0-11), internal/store/*.go
    "kube_pod_status_ready": "kube-state-metrics internal/store/pod.go",
    "kube_pod_status_phase": "kube-state-metrics internal/store/pod.go",
    "kube_pod_info": "kube-state-metrics internal/store/pod.go",
    "kube_pod_labels": "kube-state-metrics internal/store/pod.go",
    "kube_pod_container_resource_limits": "kube-state-metrics internal/store/pod.go",
    "kube_pod_container_resource_requests": "kube-state-metrics internal/store/pod.go",
    "kube_pod_container_status_restarts_total": "kube-state-metrics internal/store/pod.go",
    "kube_pod_container_status_last_terminated_reason": "kube-state-metrics internal/store/pod.go",
    "kube_resourcequota": "kube-state-metrics internal/store/resourcequota.go",
    "kube_node_labels": "kube-state-metrics internal/store/node.go",
    # kubernetes/kube-state-metrics docs/metrics/workload/cronjob-metrics.md (both STABLE) and
    # internal/store/cronjob.go (last_successful_time has no sample until a run has succeeded)
    "kube_cronjob_status_last_successful_time": "kube-state-metrics internal/store/cronjob.go",
    "kube_cronjob_created": "kube-state-metrics internal/store/cronjob.go",
    "kube_node_status_condition": "kube-state-metrics internal/store/node.go",
    "kube_node_status_allocatable": "kube-state-metrics internal/store/node.go",
    # google/cadvisor @6a0c4f25, docs/storage/prometheus.md
    "container_memory_working_set_bytes": "cAdvisor docs/storage/prometheus.md",
    # prometheus/node_exporter, collector/filesystem_common.go (namespace node, subsystem filesystem)
    "node_filesystem_avail_bytes": "node_exporter collector/filesystem_common.go",
    "node_filesystem_size_bytes": "node_exporter collector/filesystem_common.go",
    # etcd-io/etcd @c34dc7ee
    "etcd_mvcc_db_total_size_in_bytes": "etcd server/storage/mvcc/metrics.go",
    "etcd_server_quota_backend_bytes": "etcd server/storage/metrics.go",
}
