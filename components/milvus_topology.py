"""MilvusTopology: resource groups, databases and collections, reconciled inside the cluster by a Job (rendered by
render/topology_job.py into the bundle). A Pulumi dynamic provider was rejected: the machine running `pulumi up`
cannot reach a proxy inside a private VPC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components.kube import register
from render.bundle import Bundle
from render.topology_job import AWAIT_TIMEOUT


@dataclass(frozen=True)
class MilvusTopologyArgs:
    bundle: Bundle
    """The spec ConfigMap and the Job this component registers (owner `topology`)."""
    release: pulumi.Resource
    """The Milvus Helm release the Job runs after (a component's depends_on does not reach its children)."""


class MilvusTopology(pulumi.ComponentResource):
    job_name: str
    spec: dict[str, Any]

    def __init__(self, name: str, args: MilvusTopologyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("milvus-eks:milvus:MilvusTopology", name, None, opts)
        cm = args.bundle.owned("topology", "ConfigMap")[0]
        configmap = register(f"{name}-spec", cm, pulumi.ResourceOptions(parent=self))
        job = args.bundle.owned("topology", "Job")[0]
        register(f"{name}-job", job, pulumi.ResourceOptions(
            parent=self, depends_on=[configmap, args.release],
            custom_timeouts=pulumi.CustomTimeouts(create=AWAIT_TIMEOUT, update=AWAIT_TIMEOUT)))
        self.spec = json.loads(cm["data"]["spec.json"])
        self.job_name = job["metadata"]["name"]
        self.register_outputs({"jobName": self.job_name, "spec": self.spec})
