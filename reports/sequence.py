"""What one `pulumi up` does, in order, when the query tier grows or shrinks: the steps a pull request's plan diff
prints above the object changes.

Read from two plan folders (`tools.plan --out`): the query-node Deployments and their zones, the Karpenter
NodePools and the reconciler's spec (its ConfigMap) from `objects.json`; node pools and cost from `plan.json`. The
order is the program's dependency order, not a guess: node pools and NodePools come before the Milvus release (it
depends on them, `__main__.py`), the topology Job after it (components/milvus_topology.py). What happens inside
each step is Milvus' and Karpenter's behaviour, cited where the program relies on it:

- a removed query node stops gracefully: QueryCoord moves its segments to the rest of its replica before it exits
  (render/helm_postrender.py, `QUERY_NODE_STOP_SECONDS`);
- a new query node joins its resource group by its label (Milvus >= 2.6.8, topology/reconcile.py
  `LABEL_RG_VERSION`) and QueryCoord balances segments onto it;
- a replica-number change is made in place (topology/reconcile.py `ChangeReplicas`);
- Karpenter launches nodes for pending pods and removes a node once it has been empty for its NodePool's
  `consolidateAfter`, one serving node at a time (render/karpenter.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from render.helm_postrender import GROUP_LABEL, QUERY_NODE_STOP_SECONDS, ZONE_LABEL

ObjectKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class QueryGroup:
    deployment: str
    group: str
    pods: int
    zone: str | None


@dataclass(frozen=True)
class Shape:
    """What the sequence needs from one plan folder."""

    groups: Mapping[str, QueryGroup]
    """By Deployment name."""
    collections: Mapping[str, tuple[int, tuple[str, ...]]]
    """`db.name` → (replicas, resource groups) as the reconciler's spec declares them."""
    requests: Mapping[str, int]
    """Resource group → declared query nodes."""
    pools: Mapping[str, Mapping[str, Any]]
    """plan.json nodePools."""
    node_limits: Mapping[str, str]
    """Karpenter NodePool → its `limits.nodes`."""
    empty_after: Mapping[str, str]
    """Karpenter NodePool → how long a node must be empty before it is removed (`disruption.consolidateAfter`)."""
    cost: float | None


def shape(document: Mapping[str, Any], objects: Mapping[ObjectKey, Mapping[str, Any]] | None) -> Shape:
    groups: dict[str, QueryGroup] = {}
    spec: Mapping[str, Any] = {}
    limits: dict[str, str] = {}
    empty_after: dict[str, str] = {}
    for obj in (objects or {}).values():
        kind = obj.get("kind")
        if kind == "Deployment":
            template = (obj.get("spec") or {}).get("template") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            if labels.get("component") == "querynode":
                name = obj["metadata"]["name"]
                zone = ((template.get("spec") or {}).get("nodeSelector") or {}).get(ZONE_LABEL)
                groups[name] = QueryGroup(name, labels.get(GROUP_LABEL, ""), int(obj["spec"].get("replicas", 1)),
                                          zone)
        elif kind == "ConfigMap" and "reconcile.py" in (obj.get("data") or {}):
            spec = json.loads(obj["data"]["spec.json"])
        elif kind == "NodePool":
            limits[obj["metadata"]["name"]] = str((obj["spec"].get("limits") or {}).get("nodes", ""))
            empty_after[obj["metadata"]["name"]] = str((obj["spec"].get("disruption") or {}).get("consolidateAfter"))
    collections = {f"{c['database']}.{c['name']}": (int(c["replicas"]), tuple(c.get("resourceGroups") or ()))
                   for c in spec.get("collections", [])}
    requests = {g["name"]: int(g["nodes"]) for g in spec.get("resourceGroups", [])}
    return Shape(groups, collections, requests, document.get("nodePools") or {}, limits, empty_after,
                 (document.get("cost") or {}).get("total"))


def _query_pool(s: Shape) -> tuple[str, Mapping[str, Any]] | None:
    return next(((n, p) for n, p in s.pools.items() if "queryNode" in (p.get("roles") or [])), None)


def _where(g: QueryGroup) -> str:
    return f" in {g.zone}" if g.zone else ""


def _group_text(g: QueryGroup) -> str:
    return f"resource group {g.group}" if g.group else "the default resource group"


def _helm(lines: list[str]) -> str:
    return "Helm upgrade of the Milvus release:\n" + "\n".join(f"   - {line};" for line in lines[:-1]) + \
        f"\n   - {lines[-1]}."


def sequence(base: Shape, head: Shape) -> list[str]:
    """Markdown: the scale-out steps and the scale-in steps of this change, each numbered in the order `pulumi up`
    takes them; empty when neither the query nodes, the declared replicas nor the node pools change."""
    pool = _query_pool(head) or _query_pool(base)
    pool_name, pool_doc = pool if pool else ("", {})
    karpenter = pool_doc.get("provisioner") == "karpenter"
    instance = (pool_doc.get("instanceTypes") or ["?"])[0]
    stop = f"up to {QUERY_NODE_STOP_SECONDS} s"

    grown = [(base.groups.get(n), g) for n, g in head.groups.items()
             if g.pods > (base.groups[n].pods if n in base.groups else 0)]
    shrunk = [(g, head.groups.get(n)) for n, g in base.groups.items()
              if g.pods > (head.groups[n].pods if n in head.groups else 0)]
    more = {k: (base.collections.get(k), v) for k, v in head.collections.items()
            if k not in base.collections or v[0] > base.collections[k][0]}
    fewer = {k: (v, head.collections[k]) for k, v in base.collections.items()
             if k in head.collections and v[0] > head.collections[k][0]}
    dropped = sorted(set(base.collections) - set(head.collections))
    raised = {g: (base.requests.get(g, 0), n) for g, n in head.requests.items() if n > base.requests.get(g, 0)}
    lowered = {g: (n, head.requests.get(g, 0)) for g, n in base.requests.items() if n > head.requests.get(g, 0)}
    pools_up = {n: (base.pools.get(n, {}).get("desiredSize", 0), p.get("desiredSize", 0)) for n, p in
                head.pools.items() if p.get("provisioner") != "karpenter"
                and p.get("desiredSize", 0) > base.pools.get(n, {}).get("desiredSize", 0)}
    pools_down = {n: (p.get("desiredSize", 0), head.pools[n].get("desiredSize", 0)) for n, p in base.pools.items()
                  if n in head.pools and p.get("provisioner") != "karpenter"
                  and p.get("desiredSize", 0) > head.pools[n].get("desiredSize", 0)}
    limits = {n: (int(base.node_limits.get(n) or 0), int(v or 0)) for n, v in head.node_limits.items()}
    limits_up = {n: c for n, c in limits.items() if c[1] > c[0]}
    limits_down = {n: c for n, c in limits.items() if c[1] < c[0]}
    if not (grown or shrunk or more or fewer or dropped or raised or lowered or pools_up or pools_down or limits_up
            or limits_down):
        return []

    out = ["### Scale sequence", "",
           "What `pulumi up` does, in order (node pools before the Milvus release, the topology Job after it):", ""]
    if grown or more or raised or pools_up or limits_up:
        steps = []
        for name, (old, new) in sorted(pools_up.items()):
            steps.append(f"node group `{name}`: desired {old} → {new}; EKS adds the nodes before the release.")
        for name, (old, new) in sorted(limits_up.items()):
            steps.append(f"Karpenter NodePool `{name}`: node limit {old or 'none'} → {new}.")
        helm: list[str] = []
        for old, g in grown:
            added = g.pods - (old.pods if old else 0)
            launch = (f"Pending until Karpenter launches {added} × {instance}{_where(g)} (NodePool `{pool_name}`)"
                      if karpenter else f"scheduled on the nodes node group `{pool_name}` added")
            helm.append(f"`{g.deployment}` {old.pods if old else 0} → {g.pods} pods; the new "
                        f"{'pod is' if added == 1 else 'pods are'} {launch}, then "
                        f"{'joins' if added == 1 else 'join'} {_group_text(g)} by label and QueryCoord balances "
                        f"segments onto {'it' if added == 1 else 'them'}")
        if helm:
            steps.append(_helm(helm))
        job = [f"resource group {g}: declared {old} → {new} query nodes" for g, (old, new) in sorted(raised.items())]
        for name, (old, new) in sorted(more.items()):
            where = f"[{', '.join(new[1])}]" if new[1] else "the default group"
            job.append(f"{name}: created, indexed and loaded with {new[0]} replica(s) in {where}" if old is None
                       else f"{name}: {old[0]} → {new[0]} replicas in place in {where} (the loaded replicas keep "
                            f"serving while the new ones load)")
        if job:
            steps.append("topology Job: " + "; ".join(job) + ".")
        out += ["**Scale-out**", ""] + [f"{k}. {s}" for k, s in enumerate(steps, 1)] + [""]

    if shrunk or fewer or lowered or pools_down or dropped or limits_down:
        steps = []
        for name, (old, new) in sorted(limits_down.items()):
            steps.append(f"Karpenter NodePool `{name}`: node limit {old} → {new} (a lower limit removes no node; "
                         f"it only stops launches).")
        for name, (old, new) in sorted(pools_down.items()):
            query = " It holds query nodes: EKS drains nodes of its choosing while all query nodes still run, " \
                    "one at a time (PodDisruptionBudget); a Karpenter pool shrinks only after the pods are gone." \
                if name == pool_name else ""
            steps.append(f"node group `{name}`: desired {old} → {new}, before the release.{query}")
        helm = []
        for g, new in shrunk:
            left = new.pods if new else 0
            if left:
                helm.append(f"`{g.deployment}` {g.pods} → {left} pods; each removed query node stops gracefully: "
                            f"QueryCoord moves its segments to the {left} remaining node(s) of {_group_text(g)} "
                            f"({stop}) and it exits once empty")
            else:
                helm.append(f"`{g.deployment}` removed ({g.pods} pods{_where(g)}); its query nodes stop gracefully "
                            f"and keep serving their replica until the topology Job releases it ({stop})")
        if helm:
            steps.append(_helm(helm))
        job = [f"{name}: {old[0]} → {new[0]} replicas in place (the surplus replica is released, the others keep "
               f"serving)" for name, (old, new) in sorted(fewer.items())]
        job += [f"resource group {g}: declared {old} → {new} query nodes" for g, (old, new) in sorted(lowered.items())]
        if job:
            steps.append("topology Job: " + "; ".join(job) + ".")
        if karpenter and shrunk:
            removed = sum(g.pods - (n.pods if n else 0) for g, n in shrunk)
            steps.append(f"Karpenter removes the {removed} emptied {instance} node(s) once each has been empty for "
                         f"{head.empty_after.get(pool_name, '?')}, one at a time (disruption budget).")
        for name in dropped:
            steps.append(f"{name} is no longer declared: the reconciler leaves it loaded (it never releases or "
                         f"drops a collection). Its replicas still need memory the new plan does not count; release "
                         f"or drop it before this change.")
        out += ["**Scale-in**", ""] + [f"{k}. {s}" for k, s in enumerate(steps, 1)] + [""]

    if base.cost is not None and head.cost is not None and base.cost != head.cost:
        out += [f"Monthly estimate ${base.cost:,.2f} → ${head.cost:,.2f}.", ""]
    return out
