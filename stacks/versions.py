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

# The topology Job runs the reconciler with this image, pinned by digest: the multi-platform index of
# python:3.11.15-slim-bookworm as docker-library/repo-info records it (repos/python/remote/3.11.15-slim-bookworm.md
# @ 3effc3ea). The packages come from topology/requirements.txt (uv.lock's pymilvus, hash-pinned).
RECONCILER_IMAGE = ("python:3.11.15-slim-bookworm"
                    "@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3")
RECONCILER_PYMILVUS = "pymilvus==3.0.2"

KUBERNETES_VERSION = "1.33"
