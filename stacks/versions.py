"""Every chart and image version the program deploys, pinned in one place.

The charts are vendored as Helm-packaged archives under charts/ (how they were built and how to bump one:
charts/README.md). The Helm Releases install these archives and the offline render reads the same bytes, so each
pin records the archive, its digest and the upstream commit it was packaged from; tests/unit/test_charts.py
recomputes the digests. The committed key lists (render/data/*_keys.txt) and golden files were made from these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartSource:
    """Where a chart's files came from: a GitHub repository, the commit, the chart's folder in it."""
    repository: str
    commit: str
    path: str


@dataclass(frozen=True)
class Subchart:
    """A dependency packaged into the archive from a source other than its parent's."""
    name: str
    version: str
    source: ChartSource


@dataclass(frozen=True)
class ChartPin:
    name: str
    version: str
    archive: str
    """Path of the .tgz relative to the project root; also the `chart=` the Helm Release installs."""
    sha256: str
    source: ChartSource
    subcharts: tuple[Subchart, ...] = ()


# Packaged with its subchart archives as committed in charts/milvus/charts/ (etcd 8.12.0, minio 8.0.17,
# pulsarv2 2.7.8, pulsar 3.3.0, kafka 15.5.1, tei 1.6.0). appVersion 2.6.15.
MILVUS = ChartPin(
    name="milvus", version="5.0.19", archive="charts/milvus-5.0.19.tgz",
    sha256="cb2fbfad9caf26b3aea9c302f80e045359b27bf39ca5c3ecfdbee6010df2212e",
    source=ChartSource("zilliztech/milvus-helm", "98324768aeb70ebfea91f9968853e0fa29838639", "charts/milvus"))

# Every dependency Chart.yaml declares is packaged (Helm refuses to install a chart with one missing, enabled or
# not); `crds` 0.0.0 is in the chart's own tree. prometheus-windows-exporter is declared as `0.12.*`: 0.12.8 is the
# newest 0.12 release and the one in the same tree as kube-prometheus-stack 88.5.3.
_PROMETHEUS_COMMUNITY = "prometheus-community/helm-charts"
KUBE_PROMETHEUS_STACK = ChartPin(
    name="kube-prometheus-stack", version="88.5.3", archive="charts/kube-prometheus-stack-88.5.3.tgz",
    sha256="a878c3c86998645b40e5b7e04b2b940374daa4246f59d7c2780ec5653e8fe960",
    source=ChartSource(_PROMETHEUS_COMMUNITY, "ea930baeebeba39f56d6b44e351f23b2a072a600",
                       "charts/kube-prometheus-stack"),
    subcharts=(
        Subchart("kube-state-metrics", "8.4.0", ChartSource(
            _PROMETHEUS_COMMUNITY, "1982f1c5828920f5d4ea5d04956169e81f8c5129", "charts/kube-state-metrics")),
        Subchart("prometheus-node-exporter", "4.56.1", ChartSource(
            _PROMETHEUS_COMMUNITY, "8b8e639cac80a3001412f187060068978f649a55", "charts/prometheus-node-exporter")),
        Subchart("grafana", "12.11.1", ChartSource(
            "grafana-community/helm-charts", "864f7794683680e5100a38670e103c4fa6e37e29", "charts/grafana")),
        Subchart("prometheus-windows-exporter", "0.12.8", ChartSource(
            _PROMETHEUS_COMMUNITY, "43a82e944bf3ca3aab1703613ca5cf09851b23ec", "charts/prometheus-windows-exporter")),
    ))

CHARTS = (MILVUS, KUBE_PROMETHEUS_STACK)

MILVUS_CHART = MILVUS.version
MILVUS_IMAGE_REPOSITORY = "milvusdb/milvus"
MILVUS_IMAGE_TAG = "v2.6.15"

KUBE_PROMETHEUS_STACK_CHART = KUBE_PROMETHEUS_STACK.version

# The topology Job runs the reconciler with this image and the same pymilvus as uv.lock.
RECONCILER_IMAGE = "python:3.11.14-slim-bookworm"
RECONCILER_PYMILVUS = "pymilvus==3.0.2"

KUBERNETES_VERSION = "1.33"


def chart_pin(name: str, version: str) -> ChartPin:
    """The vendored chart `name` at `version`; LookupError names the versions that are vendored."""
    for pin in CHARTS:
        if pin.name == name and pin.version == version:
            return pin
    vendored = ", ".join(p.version for p in CHARTS if p.name == name) or "none"
    raise LookupError(f"chart {name} {version} is not vendored in charts/ (vendored: {vendored}); "
                      f"see charts/README.md to add it")


# zilliztech/milvus-backup: newest release (tag v0.5.16, 2026-05-29). Its README's compatibility table: backups from
# Milvus 2.2+, restores into 2.4+, a 2.6 backup restores only into 2.6. The release workflow
# (.github/workflows/release.yaml) pushes `milvusdb/milvus-backup:<git describe>` = the tag. No digest is pinned:
# none could be read offline; pin `@sha256:` here once `docker buildx imagetools inspect` has been run.
MILVUS_BACKUP_VERSION = "v0.5.16"
MILVUS_BACKUP_IMAGE = f"milvusdb/milvus-backup:{MILVUS_BACKUP_VERSION}"
