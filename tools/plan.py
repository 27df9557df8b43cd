"""The offline plan: what a stack would create, what it costs, and every file it would render — no cloud.

    python -m tools.plan [STACK|FILE] [--out DIR] [--json] [--today YYYY-MM-DD]

Runs `__main__.py` under the project's recording mocks (`tools.offline.run_program`), then prints the resource
tree per component, the node pools, the capacity plan (whatever the program exports under the plan output), quotas,
the monthly cost estimate and warnings, and writes the artifacts a pull request can diff without secrets:

    helm/<release>.yaml            values passed to each Helm release
    manifests/<source>/<kind>.<namespace>.<name>.yaml
                                   every Kubernetes object of the bundle: the charts as Helm renders them
                                   (source = chart) and the program's own objects (source = program); CRDs
                                   only in objects.json (their YAML is the vendored chart's own file)
    objects.json                   every object, CRDs included, one per line, for tools.plan_diff
    alerts/<name>.yaml             PrometheusRule specs (promtool-ready `groups:` files)
    dashboards/<key>.json          Grafana dashboards from ConfigMaps labelled grafana_dashboard
    topology/<key>                 the topology spec ConfigMap data
    plan.json                      plan output + node pools + quotas + resource counts + cost
    resources.json                 type/name/parent and input hashes per resource (for tools.plan_diff)
    topology.mmd                   Mermaid: pools → components → resource groups → collections

Secret inputs and outputs are written as "[secret]"; so are the data of Kubernetes Secrets.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import ipaddress
import json
import platform
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

SECRET = "[secret]"
COMPONENT_PREFIX = "milvus-eks:"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
KARPENTER_NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
DASHBOARD_LABEL = "grafana_dashboard"
DEFAULT_GROUP = "__default_resource_group"
"""Milvus' name for the resource group that collections without one load into."""


# ------------------------------------------------------------------------------------------------ graph views


def plan_output_key() -> str:
    from components import outputs

    return getattr(outputs, "PLAN", "plan")


def short_id(urn: str) -> str:
    """The URN without stack and project (`parent$type::name`), identical across stacks and runs."""
    return urn.split("::", 2)[2] if urn.count("::") >= 2 else urn


def normalize(value: Any) -> Any:
    """Numbers arrive from the engine as floats; write 3, not 3.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def redacted_inputs(resource: Any) -> dict[str, Any]:
    inputs = {k: (SECRET if k in resource.secret_inputs else v) for k, v in normalize(resource.inputs).items()}
    if inputs.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(resource.inputs.get(key), Mapping):
                inputs[key] = {k: SECRET for k in resource.inputs[key]}
    return inputs


def input_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resource_records(graph: Any) -> list[dict[str, Any]]:
    """Per resource: its input hashes, the hashes one level inside object inputs (`launchTemplate.id`: some
    providers force a replacement on a nested field only), which resources feed each input (a replacement
    propagates along them), and for node groups the Milvus roles they host (tools.destructive reads them)."""
    from render.naming import ROLE_LABEL_PREFIX

    by_urn = {r.urn: r for r in graph.resources}
    records = []
    for r in graph.resources:
        inputs = redacted_inputs(r)
        parent = by_urn.get(r.parent)
        record = {
            "id": short_id(r.urn),
            "type": r.type,
            "name": r.name,
            "parent": f"{parent.type}::{parent.name}" if parent else "",
            "inputsHash": input_hash(inputs),
            "inputs": {k: input_hash(v) for k, v in sorted(inputs.items())},
            "fields": {f"{k}.{sub}": input_hash(v) for k, value in sorted(inputs.items())
                       if isinstance(value, Mapping) for sub, v in sorted(value.items())},
            "dependsOn": {k: sorted(short_id(urn) for urn in urns)
                          for k, urns in sorted(getattr(r, "property_dependencies", {}).items())},
        }
        if r.aliases:
            # What the resource was called before: tools.plan_diff pairs it with the base's record (a move).
            record["aliases"] = sorted({short_id(a) for a in r.aliases})
        if r.type in (NODE_GROUP, KARPENTER_NODEPOOL):
            labels = (r.inputs.get("labels") if r.type == NODE_GROUP else
                      (((r.inputs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels"))
            record["roles"] = sorted(k.removeprefix(ROLE_LABEL_PREFIX) for k in labels or {}
                                     if k.startswith(ROLE_LABEL_PREFIX))
        records.append(record)
    return sorted(records, key=lambda rec: rec["id"])


def owning_component(graph: Any, resource: Any) -> Any | None:
    for ancestor in graph.ancestors(resource):
        if ancestor.type.startswith(COMPONENT_PREFIX):
            return ancestor
    return None


@dataclass(frozen=True)
class ComponentNode:
    type: str
    name: str
    counts: tuple[tuple[str, int], ...]
    children: tuple["ComponentNode", ...]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts) + sum(c.total + 1 for c in self.children)


def component_tree(graph: Any) -> ComponentNode:
    """Components (`milvus-eks:*`) nested as registered, each with the counts of its own resources by type."""
    counts: dict[str, dict[str, int]] = {}
    nested: dict[str, list[Any]] = {}
    for r in graph.resources:
        owner = owning_component(graph, r)
        key = owner.urn if owner else ""
        if r.type.startswith(COMPONENT_PREFIX):
            nested.setdefault(key, []).append(r)
        else:
            counts.setdefault(key, {}).setdefault(r.type, 0)
            counts[key][r.type] += 1

    def node(urn: str, type_: str, name: str) -> ComponentNode:
        children = sorted(nested.get(urn, []), key=lambda c: (c.type, c.name))
        return ComponentNode(type_, name, tuple(sorted(counts.get(urn, {}).items())),
                             tuple(node(c.urn, c.type, c.name) for c in children))

    return node("", "pulumi:pulumi:Stack", f"{graph.stack}")


def render_tree(root: ComponentNode) -> list[str]:
    lines = []

    def emit(n: ComponentNode, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{n.name}  [{n.type}]  {n.total} resources")
        for type_, count in n.counts:
            lines.append(f"{pad}  {count:>3} × {type_}")
        for child in n.children:
            emit(child, depth + 1)

    emit(root, 0)
    return lines


def node_pools(graph: Any) -> dict[str, dict[str, Any]]:
    """Per pool, from the node groups as registered: types, capacity, sizes, roles and what one node offers."""
    from reports.cost import KARPENTER_NODE_POOL, PLANNED_NODES_ANNOTATION
    from render.naming import NVME_LABEL, POOL_LABEL, ROLE_LABEL_PREFIX
    from stacks.catalog import load_catalog

    catalog = load_catalog()
    pools = {}
    for ng in graph.of_type(NODE_GROUP):
        labels = ng.inputs.get("labels") or {}
        scaling = normalize(ng.inputs.get("scalingConfig") or {})
        first = catalog.get(ng.inputs["instanceTypes"][0])
        desired = scaling.get("desiredSize", scaling.get("minSize", 0))
        per_node = ({"cpu": first.alloc_cpu, "memoryGiB": round(first.alloc_memory_mib / 1024, 1),
                     "nvmeGB": first.local_nvme_gb, "maxPods": first.max_pods} if first else {})
        pools[labels.get(POOL_LABEL, ng.name)] = {
            "instanceTypes": list(ng.inputs["instanceTypes"]),
            "capacityType": ng.inputs.get("capacityType", "ON_DEMAND"),
            "nvme": labels.get(NVME_LABEL) == "true",
            "minSize": scaling.get("minSize"), "desiredSize": desired, "maxSize": scaling.get("maxSize"),
            "roles": sorted(k.removeprefix(ROLE_LABEL_PREFIX) for k in labels if k.startswith(ROLE_LABEL_PREFIX)),
            "allocatablePerNode": per_node,
            "allocatable": {k: round(v * desired, 1) for k, v in per_node.items() if k != "maxPods"},
        }
    for np in graph.of_type(KARPENTER_NODE_POOL):
        metadata, spec = np.inputs.get("metadata") or {}, np.inputs.get("spec") or {}
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        requirements = {r["key"]: r.get("values") or [] for r in (template.get("spec") or {}).get("requirements", [])}
        types = requirements.get("node.kubernetes.io/instance-type") or []
        first = catalog.get(types[0]) if types else None
        desired = int((metadata.get("annotations") or {}).get(PLANNED_NODES_ANNOTATION, 0))
        per_node = ({"cpu": first.alloc_cpu, "memoryGiB": round(first.alloc_memory_mib / 1024, 1),
                     "nvmeGB": first.local_nvme_gb, "maxPods": first.max_pods} if first else {})
        pools[labels.get(POOL_LABEL, metadata.get("name", np.name))] = {
            "instanceTypes": list(types),
            "capacityType": "SPOT" if requirements.get("karpenter.sh/capacity-type") == ["spot"] else "ON_DEMAND",
            "nvme": labels.get(NVME_LABEL) == "true",
            # Karpenter keeps no floor: nodes exist while pods need them, up to the NodePool's node limit.
            "minSize": 0, "desiredSize": desired, "maxSize": int((spec.get("limits") or {}).get("nodes", 0)),
            "provisioner": "karpenter",
            "roles": sorted(k.removeprefix(ROLE_LABEL_PREFIX) for k in labels if k.startswith(ROLE_LABEL_PREFIX)),
            "allocatablePerNode": per_node,
            "allocatable": {k: round(v * desired, 1) for k, v in per_node.items() if k != "maxPods"},
        }
    return dict(sorted(pools.items()))


def quotas(graph: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for q in graph.of_type(RESOURCE_QUOTA):
        meta = q.inputs.get("metadata") or {}
        hard = normalize((q.inputs.get("spec") or {}).get("hard") or {})
        found[f"{meta.get('namespace', 'default')}/{meta.get('name', q.name)}"] = hard
    return dict(sorted(found.items()))


# ------------------------------------------------------------------------------------------------ artifacts


# libyaml's emitter: the plan writes a few hundred manifests, and PyYAML's pure-Python one took most of its time.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml(value: Any) -> str:
    """Keys sorted below the top level: the engine does not keep map order, and a diff must not see noise."""
    top = normalize(value)
    if not isinstance(top, Mapping):
        return yaml.dump(top, Dumper=_DUMPER, default_flow_style=False, width=120)
    return "".join(yaml.dump({k: v}, Dumper=_DUMPER, sort_keys=True, default_flow_style=False, width=120)
                   for k, v in top.items())


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def masked(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object with a Secret's values replaced by "[secret]" (keys stay: a reviewer sees what is set)."""
    obj = dict(obj)
    if obj.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(obj.get(key), Mapping):
                obj[key] = {k: SECRET for k in obj[key]}
    return obj


def object_path(source: str, obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return (f"manifests/{_safe(source)}/{obj['kind'].lower()}.{_safe(meta.get('namespace') or '_')}."
            f"{_safe(meta['name'])}.yaml")


def artifacts(graph: Any, plan_document: Mapping[str, Any], mermaid: str) -> dict[str, str]:
    """Every file the plan writes, by relative path (pure: the caller writes them). Manifests come from the bundle
    the program built: every object the charts render and the program writes, as Kubernetes will receive it."""
    files: dict[str, str] = {}
    for release in graph.of_type(HELM_RELEASE):
        inputs = redacted_inputs(release)
        name = inputs.get("name") or release.name
        chart = " ".join(str(part) for part in (inputs.get("chart"), inputs.get("version")) if part)
        header = f"# Helm release {name}: chart {chart}, namespace {inputs.get('namespace', 'default')}\n"
        values = inputs.get("values") or {}
        files[f"helm/{_safe(name)}.yaml"] = header + _yaml(dict(sorted(values.items())) if isinstance(values, Mapping)
                                                          else values)
    bundle = graph.program["bundle"]
    objects = []
    for item in bundle.objects:
        obj = masked(item.obj)
        objects.append({"source": item.source, "object": obj})
        if not item.crd:
            # A CRD's YAML is the vendored chart's file, unchanged; objects.json carries it for the diff, and writing
            # its 4.5 MB again as YAML would double the plan's time.
            files[object_path(item.source, obj)] = _yaml(obj)
        meta = obj["metadata"]
        if item.source != "program":
            continue
        if obj["kind"] == "PrometheusRule":
            files[f"alerts/{_safe(meta['name'])}.yaml"] = _yaml(obj.get("spec") or {})
        if obj["kind"] == "ConfigMap":
            data = obj.get("data") or {}
            if DASHBOARD_LABEL in (meta.get("labels") or {}):
                for key, text in data.items():
                    files[f"dashboards/{_safe(key if key.endswith('.json') else key + '.json')}"] = \
                        _pretty_json(text)
            if item.owner == "topology":
                for key, text in data.items():
                    files[f"topology/{_safe(key)}"] = text
    # One object per line: written at C speed (an indented dump of ~150 objects and their CRDs is pure Python), and
    # still a one-line change per changed object for a text diff; tools.plan_diff compares them field by field.
    lines = ",\n".join(json.dumps(o, sort_keys=True, separators=(",", ":")) for o in objects)
    files["objects.json"] = f'{{"objects": [\n{lines}\n]}}\n'
    files["plan.json"] = json.dumps(plan_document, indent=2, sort_keys=False, default=str) + "\n"
    files["resources.json"] = json.dumps(resource_records(graph), indent=1) + "\n"
    files["topology.mmd"] = mermaid
    return files


def _pretty_json(text: Any) -> str:
    if text == SECRET:
        return json.dumps(SECRET)
    try:
        return json.dumps(json.loads(text), indent=2) + "\n"
    except (TypeError, ValueError):
        return str(text)


def topology_mermaid(settings: Any) -> str:
    """Pools host components; query nodes serve resource groups; collections load into groups."""
    lines = ["flowchart LR"]

    def node_id(*parts: str) -> str:
        return "_".join(_safe(p).replace("-", "_").replace(".", "_") for p in parts)

    groups = [g.name for g in settings.topology.resource_groups] or [DEFAULT_GROUP]
    for pool_name, pool in settings.node_pools.items():
        kind = f"{pool.instance_types[0]}{' NVMe' if pool.nvme else ''}"
        lines.append(f'  subgraph {node_id("pool", pool_name)}["pool {pool_name} ({kind})"]')
        for role in pool.roles:
            lines.append(f'    {node_id("role", role)}["{role}"]')
        lines.append("  end")
    for group in groups:
        lines.append(f'  {node_id("rg", group)}(["resource group {group}"])')
        lines.append(f'  {node_id("role", "queryNode")} --> {node_id("rg", group)}')
    for c in settings.topology.collections:
        cid = node_id("col", c.database, c.name)
        label = f"{c.database}.{c.name}<br/>{c.vectors:,} × {c.dim}d {c.index.type}<br/>{c.shards} shards, " \
                f"{c.replicas} replicas"
        lines.append(f'  {cid}[("{label}")]')
        for group in c.resource_groups or (DEFAULT_GROUP,):
            lines.append(f'  {node_id("rg", group)} --> {cid}')
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ printing


def _human(key: str, value: Any) -> str:
    lowered = key.lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and lowered.endswith("bytes"):
        return f"{value / 2**30:,.1f} GiB"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render_data(value: Any, depth: int = 1, key: str = "") -> list[str]:
    """Any plan dict as an indented outline; list items are labelled by their `name` when they have one."""
    pad = "  " * depth
    lines: list[str] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, (Mapping, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.extend(render_data(v, depth + 1, str(k)))
            else:
                lines.append(f"{pad}{k}: {_human(str(k), v)}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                label = item.get("name") or item.get("key") or f"[{i}]"
                lines.append(f"{pad}- {label}")
                lines.extend(render_data({k: v for k, v in item.items() if k != "name"}, depth + 1))
            else:
                lines.append(f"{pad}- {_human(key, item)}")
    else:
        lines.append(f"{pad}{_human(key, value)}")
    return lines


def render_capacity(capacity: Mapping[str, Any]) -> list[str]:
    """Per namespace planned (and with rolling-update surge) vs quota; per pool requested vs allocatable."""
    out = ["", "Namespace quotas vs plan (planned / with surge / quota)"]
    for ns, keys in capacity.get("namespaces", {}).items():
        out.append(f"  {ns}")
        out += [f"    {key:<27} {v['planned']:>12} {v['withSurge']:>12} {v['quota']:>12}"
                f"{'  (pinned)' if v.get('pinned') else ''}" for key, v in keys.items()]
    out += ["", "Node pools at max size (requested incl. surge and DaemonSets / allocatable)"]
    out += [f"  {name:<12} {p['maxNodes']:>3} × {p['instanceType']:<14} CPU {p['requestedCpu']:>9} / "
            f"{p['allocatableCpu']:<9} memory {p['requestedMemory']:>10} / {p['allocatableMemory']}"
            for name, p in capacity.get("pools", {}).items()]
    return out


ZONE_FAILURE_MODES = ("fullCapacity", "replicaPerZone")


def zone_failure_modes(settings: Any, monthly: Callable[[Mapping[str, int]], float]) -> dict[str, dict[str, Any]]:
    """The stack planned under each `topology.zoneFailure` mode that guarantees a replica after a zone loss (and
    under the stack's own mode): node counts, memory use, what losing a zone leaves, and the monthly estimate
    (`monthly` prices the stack's inventory with the pools resized to that plan)."""
    from stacks import sizing

    found = {}
    for mode in dict.fromkeys((*ZONE_FAILURE_MODES, settings.topology.zone_failure)):
        variant = settings.model_copy(update={"topology": settings.topology.model_copy(update={"zone_failure": mode})})
        p = sizing.plan(variant)
        entry: dict[str, Any] = {"current": mode == settings.topology.zone_failure}
        if p.problems:
            entry["unavailable"] = "; ".join(str(problem) for problem in p.problems)
        else:
            worst = min(p.zone_loss, key=lambda z: (z.replicas_left / z.replicas, z.qps_share), default=None)
            entry.update({
                "queryNodes": p.query_nodes, "nodes": sum(pool.desired_size for pool in p.pools),
                "queryMemoryUtilisation": round(p.memory_utilisation, 3),
                "zoneLossWorst": ({"collection": worst.collection, "replicasLeft": worst.replicas_left,
                                   "of": worst.replicas, "qpsShare": round(worst.qps_share, 3)} if worst else None),
                "azFailureTolerant": p.az_failure_tolerant,
                "monthlyUsd": monthly({pool.name: pool.desired_size for pool in p.pools}),
            })
        found[mode] = entry
    return found


def elasticity(graph: Any) -> dict[str, Any]:
    """What grows and shrinks on its own, as registered: each Karpenter NodePool (planned nodes, node limit, when it
    removes nodes and how many at once) and each HPA the Helm values turn on."""
    from reports.cost import KARPENTER_NODE_POOL, PLANNED_NODES_ANNOTATION

    pools = {}
    for np in graph.of_type(KARPENTER_NODE_POOL):
        metadata, spec = np.inputs.get("metadata") or {}, normalize(np.inputs.get("spec") or {})
        disruption = spec.get("disruption") or {}
        template = (spec.get("template") or {}).get("spec") or {}
        zones = next((r.get("values") for r in template.get("requirements") or []
                      if r.get("key") == "topology.kubernetes.io/zone"), [])
        pools[metadata.get("name", np.name)] = {
            "plannedNodes": int((metadata.get("annotations") or {}).get(PLANNED_NODES_ANNOTATION, 0)),
            "nodeLimit": int((spec.get("limits") or {}).get("nodes", 0)),
            "zones": list(zones or []),
            "consolidation": disruption.get("consolidationPolicy"),
            "disruptedAtOnce": [b.get("nodes") for b in disruption.get("budgets") or []],
            "expireAfter": template.get("expireAfter", "720h (Karpenter default)"),
        }
    autoscalers = {}
    for release in graph.of_type(HELM_RELEASE):
        values = normalize(release.inputs.get("values") or {})
        for component, block in (values.items() if isinstance(values, Mapping) else ()):
            hpa = block.get("hpa") if isinstance(block, Mapping) else None
            if isinstance(hpa, Mapping) and hpa.get("enabled"):
                autoscalers[f"{release.inputs.get('name') or release.name}/{component}"] = {
                    "min": hpa.get("minReplicas"), "max": hpa.get("maxReplicas"),
                    "cpuUtilization": hpa.get("cpuUtilization")}
    # By name: the graph lists resources in the order the engine answered, which varies from run to run.
    return {"karpenterPools": dict(sorted(pools.items())), "autoscalers": dict(sorted(autoscalers.items()))}


def render_elasticity(elastic: Mapping[str, Any]) -> list[str]:
    if not elastic["karpenterPools"] and not elastic["autoscalers"]:
        return []
    out = ["", "Elastic capacity (Karpenter launches nodes for pending pods in the zone they ask for; HPAs on CPU)"]
    for name, p in elastic["karpenterPools"].items():
        out.append(f"  pool {name}: planned {p['plannedNodes']}, limit {p['nodeLimit']} nodes in "
                   f"{', '.join(p['zones'])}; removes nodes {p['consolidation']}, at most "
                   f"{'/'.join(p['disruptedAtOnce'])} at once; expireAfter {p['expireAfter']}")
    for name, a in elastic["autoscalers"].items():
        out.append(f"  hpa {name}: {a['min']}..{a['max']} pods at {a['cpuUtilization']}% CPU")
    return out


def render_modes(modes: Mapping[str, Any]) -> list[str]:
    out = ["", "Zone-failure modes (topology.zoneFailure; * = this stack's; cost with the pools resized to each plan)"]
    out.append(f"    {'mode':<15} {'query nodes':>11} {'all nodes':>9} {'memory use':>10}  {'after losing the worst zone':<34}"
               f" {'monthly USD':>11}")
    for mode, m in modes.items():
        mark = "*" if m["current"] else " "
        if "unavailable" in m:
            out.append(f"  {mark} {mode:<15} not available: {m['unavailable']}")
            continue
        worst = m["zoneLossWorst"]
        loss = (f"{worst['replicasLeft']} of {worst['of']} replicas, {worst['qpsShare']:.0%} QPS" if worst
                else "no collections")
        out.append(f"  {mark} {mode:<15} {m['queryNodes']:>11} {m['nodes']:>9} {m['queryMemoryUtilisation']:>10.2f}  "
                   f"{loss:<34} {m['monthlyUsd']:>11,.2f}")
    return out


def render_backup(backup: Mapping[str, Any]) -> list[str]:
    if not backup.get("enabled"):
        return ["  off (milvus.backup.enabled: false): nothing to restore from"]
    out = [f"  schedule {backup['schedule']}, keep {backup['retentionDays']} days, to the {backup['destination']}",
           f"  CronJob {backup['cronJob']} ({backup['image']}); MilvusBackupStale after {backup['staleAfterHours']:g}h "
           f"without a success"]
    if "storageGiB" in backup:
        out.append(f"  {backup['copiesKept']} full copies kept ≈ {backup['storageGiB']:,.1f} GiB in S3 "
                   f"({backup['storageBasis']})")
    return out


DOCUMENTATION_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
"""RFC 5737 TEST-NET-1..3: fine in examples, unreachable as an allow-list."""


def cluster_summary(settings: Any, today: Any) -> tuple[dict[str, Any], list[str]]:
    """The cluster facts a reviewer checks before an upgrade or a destroy, and the warnings they raise."""
    from stacks import versions

    c = settings.cluster
    end = versions.EKS_END_OF_STANDARD_SUPPORT.get(c.kubernetes_version)
    summary = {
        "kubernetesVersion": c.kubernetes_version,
        "supportType": c.support_type,
        "endOfStandardSupport": end.isoformat() if end else None,
        "addonVersions": dict(versions.ADDON_VERSIONS.get(c.kubernetes_version, {})),
        "storageReclaimPolicy": c.storage_reclaim_policy,
        "adminPrincipals": list(c.admin_principals),
        "serviceAccountBinding": settings.service_account_binding,
        "workloadRoles": [role for role, present in (
            ("Milvus S3", settings.milvus.object_storage == "s3"), ("backup", settings.milvus.backup.enabled),
            ("restore", settings.milvus.backup.enabled),
            ("Karpenter controller", any(p.provisioner == "karpenter" for p in settings.node_pools.values())))
            if present],
    }
    summary["endpoint"] = {"privateAccessCidrs": list(c.endpoint.private_access_cidrs),
                           "publicAccessCidrs": list(c.endpoint.public_access_cidrs) if c.endpoint.public_access
                           else []}
    found = versions.support_problem(c.kubernetes_version, c.support_type, today)
    if found and found[0] == "error":  # a version past its support on the judged day is refused, as validation does
        from stacks.errors import ConfigError, Problem

        raise ConfigError([Problem("cluster.kubernetesVersion", found[1])])
    warnings = [found[1]] if found else []
    warnings += [f"cluster.endpoint.publicAccessCidrs: {cidr} is a documentation range (RFC 5737) no client comes "
                 f"from; put the egress CIDR of your CI runner and administrators there, or nothing outside the "
                 f"VPC reaches the Kubernetes API" for cidr in summary["endpoint"]["publicAccessCidrs"]
                 if any(ipaddress.IPv4Network(cidr).subnet_of(doc) for doc in DOCUMENTATION_RANGES)]
    if settings.milvus.service_account_binding is not None:
        warnings.append(f"milvus.serviceAccountBinding: is where older stack files set cluster.serviceAccountBinding; "
                        f"{settings.milvus.service_account_binding!r} now binds every workload role, the Karpenter "
                        f"controller's too; move it to cluster.serviceAccountBinding")
    return summary, warnings


BINDINGS = {"irsa": "IRSA: web identity from the cluster's one IAM OIDC provider, each role limited to its service "
                    "account",
            "podIdentity": "EKS Pod Identity associations"}


def render_cluster(cluster: Mapping[str, Any]) -> list[str]:
    reclaim = cluster["storageReclaimPolicy"]
    fate = ("kept when their claims go, and after `pulumi destroy` (delete them by hand)" if reclaim == "Retain"
            else "deleted when their claims go, including when `pulumi destroy` deletes the namespaces")
    return [
        "", "Cluster",
        f"  Kubernetes {cluster['kubernetesVersion']} ({cluster['supportType']} support, standard support ends "
        f"{cluster['endOfStandardSupport']}); node groups follow the control plane",
        "  add-ons: " + ", ".join(f"{k} {v}" for k, v in cluster["addonVersions"].items()),
        f"  gp3 StorageClass reclaimPolicy {reclaim}: etcd, Prometheus and Grafana volumes are {fate}",
        "  cluster admins (access entries, no implicit creator admin): " + ", ".join(cluster["adminPrincipals"]),
        "  Kubernetes API reachable from: private "
        + (", ".join(cluster["endpoint"]["privateAccessCidrs"]) or "cluster nodes only")
        + "; public " + (", ".join(cluster["endpoint"]["publicAccessCidrs"]) or "off"),
        f"  workload roles ({', '.join(cluster.get('workloadRoles') or ['none'])}) bound through "
        + BINDINGS[cluster.get("serviceAccountBinding", "irsa")],
    ]


def render_report(stack: str, region: str, tree: ComponentNode, pools: Mapping[str, Any], plan: Any,
                  quota: Mapping[str, Any], cost: Mapping[str, Any],
                  capacity: Mapping[str, Any] | None = None, cluster: Mapping[str, Any] | None = None,
                  warnings: Iterable[str] = (), backup: Mapping[str, Any] | None = None,
                  modes: Mapping[str, Any] | None = None, elastic: Mapping[str, Any] | None = None) -> str:
    out = [f"Offline plan for stack {stack} (region {region}): {tree.total} resources", "", "Resources"]
    out += ["  " + line for line in render_tree(tree)]
    if cluster:
        out += render_cluster(cluster)
    out += ["", "Node pools (allocatable per node of the first type: what sizing assumes; the scheduling check below "
                "tries every type)"]
    for name, p in pools.items():
        per = p["allocatablePerNode"]
        karpenter = p.get("provisioner") == "karpenter"
        sizes = (f"Karpenter, planned {p['desiredSize']}, limit {p['maxSize']}" if karpenter
                 else f"min {p['minSize']}, max {p['maxSize']}")
        out.append(f"  {name}: {p['desiredSize']} × {', '.join(p['instanceTypes'])} {p['capacityType']}"
                   f"{' NVMe' if p['nvme'] else ''} ({sizes}); per node "
                   f"{per.get('cpu')} CPU, {per.get('memoryGiB')} GiB, {per.get('nvmeGB')} GB NVMe; "
                   f"roles {', '.join(p['roles'])}")
    out += ["", "Capacity plan"]
    out += render_data(plan) if plan else ["  (the program exports no capacity plan yet: node pools above are from "
                                           "the registered node groups)"]
    if capacity:
        out += render_capacity(capacity)
    elif quota:
        out += ["", "Namespace quotas (ResourceQuota hard limits)"]
        out += render_data(quota)
    if backup is not None:
        out += ["", "Backups (milvus-backup CronJob)"] + render_backup(backup)
    out += ["", f"Monthly cost estimate (USD, {cost['pricedRegion']} list prices, {cost['hoursPerMonth']} h/month)"]
    for item in cost["lineItems"]:
        note = f"  ({item['note']})" if item["note"] else ""
        out.append(f"  {item['monthly_usd']:>10,.2f}  {item['item']}{note}")
    out.append(f"  {cost['total']:>10,.2f}  total")
    out.append("  by category: " + ", ".join(f"{k} {v:,.2f}" for k, v in cost["byCategory"].items()))
    out.append("  prices: " + "; ".join(f"{s['what']} ({s['date']})" for s in cost["sources"]))
    if modes:
        out += render_modes(modes)
    if elastic:
        out += render_elasticity(elastic)
    warnings = [*warnings, *cost["warnings"]]
    if warnings:
        out += ["", "Warnings"] + [f"  - {w}" for w in warnings]
    return "\n".join(out) + "\n"


def scheduling_report(bundle: Any) -> str:
    counts = ", ".join(f"{source} {n}" for source, n in sorted(bundle.counts().items()))
    return f"\nRendered objects: {counts}\n\n{bundle.scheduling.text()}"


# ------------------------------------------------------------------------------------------------ command


@dataclass(frozen=True)
class PlanResult:
    stack: str
    report: str
    document: dict[str, Any]
    files: dict[str, str]


def _stack_config(stack: str | Path) -> tuple[dict[str, Any], Any]:
    """The stack file's config map and its settings, validated as the engine would see them (raises ConfigError
    for any problem)."""
    from stacks.stack_file import read_stack_file, stack_file, stack_name
    from stacks.validation import load_stack_config

    config = read_stack_file(stack_file(stack))
    return config, load_stack_config(config, stack_name(stack))


def _stack_settings(stack: str | Path) -> Any:
    return _stack_config(stack)[1]


def build(stack: str | Path, progress: Callable[[str], None] = lambda _: None, graph: Any = None,
          settings: Any = None, today: Any = None,
          validated: tuple[Mapping[str, Any], Any] | None = None) -> PlanResult:
    """Plan a stack; `graph` is an already recorded run of the same stack (tests share one per stack), `settings`
    its already validated settings; `today` is the date Kubernetes version support is judged on (UTC today by
    default); `validated` is the stack file's config map and the settings validated from it, which the program
    takes instead of validating the same map again."""
    from stacks.validation import utc_today

    from render.backup import summary as backup_summary
    from reports.cost import estimate, inventory_from_resources, with_pool_sizes
    from reports.pricing import load_price_table
    from components import outputs as output_names
    from tools.offline import run_program

    if graph is None:
        progress("running the program under mocks")
        graph = run_program(stack, validated=validated)
    progress(f"registered {len(graph.resources)} resources; planning")
    settings = settings or graph.program["settings"]
    cluster, cluster_warnings = cluster_summary(settings, today or utc_today())
    key = plan_output_key()
    plan = graph.outputs.get(key)
    if key in graph.secret_outputs:
        plan = SECRET
    plan = normalize(plan) if isinstance(plan, Mapping) else plan
    bundle = graph.program["bundle"]
    inventory = inventory_from_resources(graph.resources, settings.region,
                                         plan if isinstance(plan, Mapping) else None,
                                         settings.topology.collections,
                                         [*(o.obj for o in bundle.objects), *bundle.operated])
    backup = backup_summary(settings, inventory.object_storage_gib)
    if backup.get("storageGiB"):
        inventory = dataclasses.replace(inventory, backup_storage_gib=backup["storageGiB"],
                                        backup_storage_source=backup["storageBasis"])
    prices = load_price_table()
    cost = estimate(inventory, prices).to_dict()
    modes = zone_failure_modes(settings, lambda sizes: estimate(with_pool_sizes(inventory, sizes), prices).total)
    tree = component_tree(graph)
    pools, quota = node_pools(graph), quotas(graph)
    counts: dict[str, int] = {}
    for r in graph.resources:
        counts[r.type] = counts.get(r.type, 0) + 1
    outputs = {k: (SECRET if k in graph.secret_outputs else normalize(v)) for k, v in sorted(graph.outputs.items())}
    document = {
        "stack": graph.stack,
        "region": settings.region,
        "plan": plan,
        "nodePools": pools,
        "quotas": quota,
        "resourceCount": len(graph.resources),
        "resourceCounts": dict(sorted(counts.items())),
        "objectCounts": graph.program["bundle"].counts(),
        "scheduling": normalize(graph.outputs.get(output_names.SCHEDULING)),
        "outputs": {k: v for k, v in outputs.items() if k != key},
        "backup": backup,
        "cost": cost,
        "cluster": cluster,
        "zoneFailureModes": modes,
        "elasticity": elasticity(graph),
        "warnings": [*cluster_warnings, *cost["warnings"]],
    }
    files = artifacts(graph, document, topology_mermaid(settings))

    capacity = graph.outputs.get(output_names.CAPACITY)
    report = render_report(graph.stack, settings.region, tree, pools, plan, quota, cost,
                           normalize(capacity) if isinstance(capacity, Mapping) else None, cluster, cluster_warnings,
                           backup, modes, document["elasticity"])
    report += scheduling_report(graph.program["bundle"])
    return PlanResult(graph.stack, report, document, files)


def write(files: Mapping[str, str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # A stale file from an earlier run would show up as a phantom in the diff.
    for old in sorted(out.rglob("*"), reverse=True):
        if old.is_file() and old.relative_to(out).as_posix() not in files:
            old.unlink()
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", nargs="?", default="dev", help="stack name (dev, prod) or a Pulumi.<stack>.yaml file")
    parser.add_argument("--out", type=Path, help="artifact folder (default out/plan-<stack>)")
    parser.add_argument("--json", action="store_true", help="print plan.json instead of the text report")
    parser.add_argument("--today", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="judge the Kubernetes version's EKS support as of this date (default: today, UTC)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    from stacks.errors import ConfigError
    from stacks.stack_file import stack_file, stack_name

    path = stack_file(args.stack)
    if not path.exists() and not path.is_dir():
        print(f"error: no stack file {path}", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f}s] {message}", file=sys.stderr, flush=True)

    try:
        # Validate before the program runs: a bad file fails in a fraction of a second, and once (the program
        # takes these settings for this same config map).
        config, settings = _stack_config(args.stack)
        result = build(args.stack, progress, settings=settings, today=args.today, validated=(config, settings))
    except ConfigError as err:
        print(f"error: {path.name}: {err}", file=sys.stderr)
        return 1
    out = args.out or Path("out") / f"plan-{stack_name(args.stack)}"
    progress(f"writing {len(result.files)} files to {out}")
    write(result.files, out)
    print(json.dumps(result.document, indent=2, default=str) if args.json else result.report, end="")
    progress("done")
    return 0


def command(argv: Iterable[str] | None = None) -> int:
    """`main` as its own process, with the cyclic garbage collector set for one: the run builds a large heap that
    lives until exit (the SDKs' classes, the bundle), so at CPython's default thresholds it spent 0.8-1 s in ~780
    collections, five of them full ones over ~270k objects, to free ~45k objects (~0.1 s at these thresholds, the
    same peak memory); mypy runs its builds with the same setting for the same reason (python/mypy mypy/build.py,
    `gc.set_threshold(200 * 1000, 30, 30)`). At exit, the interpreter's final collections walked that whole heap
    again (1.2-2 s wall on a shared 2-core machine): frozen first, it is left to the OS with the rest of the
    process memory (0.1 s). atexit handlers, file flushes and the finalisers of objects outside reference cycles
    still run."""
    if platform.python_implementation() == "CPython":
        gc.set_threshold(200_000, 30, 30)
    code = main(argv)
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(command())
