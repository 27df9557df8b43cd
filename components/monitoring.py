"""Monitoring: kube-prometheus-stack, monitors that select Milvus and etcd, the Milvus alert rules and dashboards.
What it registers comes from the bundle (render/monitoring_objects.py, render/monitoring_values.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kube import register
from components.options import inherited_dependencies
from render import bundle as b, monitoring_values as mon
from render.bundle import Bundle
from render.monitoring_values import GRAFANA_ADMIN_SECRET, RELEASE
from stacks.settings import Settings
from render.charts import crds_file
from stacks.versions import chart_pin


@dataclass(frozen=True)
class MonitoringArgs:
    settings: Settings
    bundle: Bundle
    """The chart values and the objects this component registers (owner `monitoring`)."""


class Monitoring(pulumi.ComponentResource):
    namespace: str
    grafana_admin_secret: str
    grafana_password: pulumi.Output[str]
    namespace_resource: pulumi.CustomResource

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:monitoring:Monitoring", name, None, opts)
        m = args.settings.monitoring
        child = pulumi.ResourceOptions(parent=self)
        owned = args.bundle.owned

        namespaces = {n["metadata"]["name"]: n for n in owned("monitoring", "Namespace")}
        ns = register(f"{name}-ns", namespaces[m.namespace], child)
        # node-exporter's own namespace (mon.namespace_manifests), which Pod Security lets use the host.
        nodes_ns = register(f"{name}-nodes-ns", namespaces[mon.node_exporter_namespace(args.settings)], child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        for manifest in owned("monitoring", "NetworkPolicy"):
            register(f"{name}-netpol-{manifest['metadata']['name']}", manifest, in_ns)
        secrets = {s["metadata"]["name"]: s for s in owned("monitoring", "Secret")}
        # Explicit keepers, as for Milvus' root password: only a different Grafana identity replaces it.
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                         keepers={"grafanaAdmin": f"{m.namespace}/{GRAFANA_ADMIN_SECRET}"},
                                         opts=child)
        # A rotated password (docs/runbook.md) lives in the Secret; `pulumi up` must not put the first one back.
        secret = register(f"{name}-grafana-admin",
                          b.deploy_time_values(secrets[GRAFANA_ADMIN_SECRET], {b.PASSWORD: password.result}),
                          pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(
                              ignore_changes=["stringData", "data"])))
        warning = mon.delivery_warning(args.settings)
        if warning:
            pulumi.log.warn(warning, resource=self)
        receivers: list[pulumi.Resource] = []
        if mon.RECEIVERS_SECRET in secrets:
            # The receivers' URLs and keys, as the Pulumi secrets the stack file holds (offline: empty).
            leaves = {b.RECEIVER_SECRET + key: pulumi.Output.secret(value or "")
                      for key, value in mon.receiver_secret_values(args.settings).items()}
            receivers.append(register(f"{name}-alert-receivers",
                                      b.deploy_time_values(secrets[mon.RECEIVERS_SECRET], leaves), in_ns))

        # The chart's CRDs, applied by Pulumi (server-side apply) from the file extracted from the vendored archive
        # (tools/vendor_crds.py), not by Helm: Helm installs a chart's crds/ once and never upgrades them (Helm docs,
        # "Custom Resource Definitions"), so a chart bump would run a new operator against old CRDs. Kept on delete
        # (the option reaches every CRD): deleting a CRD deletes every resource of it.
        crds = k8s.yaml.v2.ConfigFile(f"{name}-crds", file=crds_file(chart_pin(RELEASE, m.chart_version)),
                                      opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True,
                                                                  depends_on=inherited_dependencies(opts)))
        release = k8s.helm.v3.Release(
            f"{name}-kps",
            name=RELEASE,
            chart=chart_pin(RELEASE, m.chart_version).archive,
            namespace=m.namespace,
            values=args.bundle.monitoring_values,
            skip_crds=True,
            timeout=900,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, nodes_ns, secret, *receivers, crds,
                                                                 *inherited_dependencies(opts)]),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
            for manifest in owned("monitoring", kind):
                register(f"{name}-{kind.lower()}-{manifest['metadata']['name']}", manifest, after_crds)
        for manifest in owned("monitoring", "ConfigMap"):
            register(f"{name}-{manifest['metadata']['name'].removeprefix('dashboard-')}", manifest, in_ns)

        self.namespace = m.namespace
        self.namespace_resource = ns
        self.grafana_admin_secret = GRAFANA_ADMIN_SECRET
        self.grafana_password = pulumi.Output.secret(password.result)
        self.register_outputs({"namespace": self.namespace, "grafanaAdminSecret": self.grafana_admin_secret})
