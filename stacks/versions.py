"""Every chart and image version the program deploys, pinned in one place.

Stack files may override the chart/image versions through settings; these are the defaults and the versions the
committed key lists (render/data/*_keys.txt) and golden files were made from.
"""

# zilliztech/milvus-helm charts/milvus/Chart.yaml
MILVUS_CHART = "5.0.19"
MILVUS_CHART_REPO = "https://zilliztech.github.io/milvus-helm/"
MILVUS_IMAGE_REPOSITORY = "milvusdb/milvus"
MILVUS_IMAGE_TAG = "v2.6.15"

# prometheus-community/helm-charts charts/kube-prometheus-stack/Chart.yaml
KUBE_PROMETHEUS_STACK_CHART = "88.5.3"
KUBE_PROMETHEUS_STACK_REPO = "https://prometheus-community.github.io/helm-charts"

# The topology Job runs the reconciler with this image and the same pymilvus as uv.lock.
RECONCILER_IMAGE = "python:3.11.14-slim-bookworm"
RECONCILER_PYMILVUS = "pymilvus==3.0.2"

KUBERNETES_VERSION = "1.33"

# zilliztech/milvus-backup: newest release (tag v0.5.16, 2026-05-29). Its README's compatibility table: backups from
# Milvus 2.2+, restores into 2.4+, a 2.6 backup restores only into 2.6. The release workflow
# (.github/workflows/release.yaml) pushes `milvusdb/milvus-backup:<git describe>` = the tag. No digest is pinned:
# none could be read offline; pin `@sha256:` here once `docker buildx imagetools inspect` has been run.
MILVUS_BACKUP_VERSION = "v0.5.16"
MILVUS_BACKUP_IMAGE = f"milvusdb/milvus-backup:{MILVUS_BACKUP_VERSION}"
