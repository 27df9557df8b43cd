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

# Karpenter: both charts Helm-packaged (helm-python-sdk 0.2.2 `package`) from aws/karpenter-provider-aws at the
# `chore: Release v1.14.0` commit, whose chart tree is the v1.14.0 tag's with the release version stamped in; the
# CRD symlinks under charts/karpenter/crds/ resolved to pkg/apis/crds/. Karpenter 1.14 supports Kubernetes
# 1.30-1.36 (website/content/en/docs/upgrading/compatibility.md).
KARPENTER_SOURCE_REPOSITORY = "aws/karpenter-provider-aws"
KARPENTER_SOURCE_COMMIT = "692ccdd0629e488300821443f0fa0bc3c3e08047"


class _KarpenterChart:
    """Archive pin, shaped like the other charts' pins (name, version, archive, sha256, source)."""

    def __init__(self, name: str, sha256: str, path: str):
        self.name, self.version, self.sha256 = name, "1.14.0", sha256
        self.archive = f"charts/{name}-{self.version}.tgz"
        self.source = (KARPENTER_SOURCE_REPOSITORY, KARPENTER_SOURCE_COMMIT, path)


KARPENTER = _KarpenterChart("karpenter", "cb75ff3e9751bd1ebca3de466646925d31f38add688aa1f6593c66f369843e17",
                            "charts/karpenter")
KARPENTER_CRD = _KarpenterChart("karpenter-crd", "d249d268213e3d04d78db81c5e8647a2ebdf8d547c8574d2d6dda45f70fa0b4e",
                                "charts/karpenter-crd")
