"""The fixed context the golden files and the promtool cases are rendered from."""

from render.rules import RuleContext

EXAMPLE_CONTEXT = RuleContext(
    milvus_namespace="milvus",
    release="milvus",
    monitoring_namespace="monitoring",
    # Two named groups plus the default one, so both the total and the per-group rules are rendered.
    expected_query_nodes={"": 1, "rg-hot": 2, "rg-cold": 1},
    nvme_node_label=("milvus-eks.io/nvme", "true"),
    runbook_base_url="https://github.com/example/milvus-eks/blob/main/docs/runbook.md",
    # A daily schedule: 24h between runs + 1h starting deadline + 6h run deadline (render/backup.py).
    backup_cronjob="milvus-backup",
    backup_stale_after_seconds=31 * 3600,
)

# Planned loading memory per resource group, bytes (what the sizing planner hands the capacity dashboard).
EXAMPLE_PLANNED_MEMORY = {"__default_resource_group": 16 * 2**30, "rg-hot": 96 * 2**30, "rg-cold": 48 * 2**30}
